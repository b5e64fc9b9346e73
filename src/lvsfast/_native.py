"""Which implementation of each hot module is in use: the compiled core or its pure twin.

Every compiled module ``lvsfast._core.<name>`` has a pure-Python twin with the same public
API. Selector modules (for example :mod:`lvsfast.vrrp.checksum`) import through
:func:`load` and the rest of the package imports only from the selectors.
``LVSFAST_NO_EXTENSIONS=1`` forces the twins; so does any interpreter but CPython.
"""
from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

#: Compiled module name -> dotted name of its pure-Python twin.
TWINS: dict[str, str] = {
    "checksum": "lvsfast.vrrp._checksum_py",
    "vrrp_wire": "lvsfast.vrrp._wire_py",
    "vrrp_socket": "lvsfast.vrrp._socket_py",
    "tcp_probe": "lvsfast.check._tcp_probe_py",
    "conf_scan": "lvsfast.config._scan_py",
    "slots": "lvsfast._slots_py",
    "real_servers": "lvsfast.config._real_servers_py",
    "ipvs_dest": "lvsfast.ipvs._dest_msg_py",
    "bfd_wire": "lvsfast.bfd._wire_py",
}


def extensions_wanted() -> bool:
    """True unless the environment or the interpreter rules the compiled core out."""
    if sys.implementation.name != "cpython":
        return False
    return os.environ.get("LVSFAST_NO_EXTENSIONS", "") in ("", "0")


def load(name: str) -> ModuleType:
    """The compiled ``lvsfast._core.<name>`` when wanted and importable, else its twin."""
    if extensions_wanted():
        try:
            return importlib.import_module(f"lvsfast._core.{name}")
        except ImportError:
            pass
    return importlib.import_module(TWINS[name])


def compiled_module(name: str) -> ModuleType | None:
    """The compiled module itself, or None when it was not built (for tests and benches)."""
    try:
        return importlib.import_module(f"lvsfast._core.{name}")
    except ImportError:
        return None


def twin_module(name: str) -> ModuleType:
    return importlib.import_module(TWINS[name])


def compiled_core() -> bool:
    """True exactly when every selector hands out the compiled module."""
    return extensions_wanted() and all(compiled_module(n) is not None for n in TWINS)
