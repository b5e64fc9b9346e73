"""Selector for TCP_CHECK's batched connects: compiled ``lvsfast._core.tcp_probe`` or its twin."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lvsfast.check._tcp_probe_py import CONNECTED, TcpProber, quiet_first_read

    COMPILED: bool
else:
    from lvsfast._native import load as _load

    _impl = _load("tcp_probe")
    TcpProber = _impl.TcpProber
    CONNECTED = _impl.CONNECTED
    quiet_first_read = _impl.quiet_first_read
    # Whether serve() releases the GIL, so that probers on threads of their own run in parallel.
    COMPILED = _impl.__name__ == "lvsfast._core.tcp_probe"

__all__ = ["COMPILED", "CONNECTED", "TcpProber", "quiet_first_read"]
