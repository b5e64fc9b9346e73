"""Which SNMP parts run, from keepalived's keywords and flags (keepalived 2.2.7's rules).

``enable_snmp_vrrp`` (its old name ``enable_snmp_keepalived``) serves KEEPALIVED-MIB's global
and VRRP parts, ``enable_snmp_checker`` its global and checker parts, ``enable_snmp_rfc`` both
RFC MIBs, ``enable_snmp_rfcv2``/``enable_snmp_rfcv3`` one each; ``-x`` turns all four on.
``enable_traps`` sends the notifications. ``-A`` names the master agent's socket and wins over
``snmp_socket``; the default is net-snmp's ``/var/agentx/master``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_SOCKET = "unix:/var/agentx/master"


@dataclass(frozen=True, slots=True)
class Settings:
    vrrp: bool = False
    checker: bool = False
    rfcv2: bool = False
    rfcv3: bool = False
    traps: bool = False
    socket: str = DEFAULT_SOCKET

    @property
    def enabled(self) -> bool:
        return self.vrrp or self.checker or self.rfcv2 or self.rfcv3


def from_config(config: Any, options: Any = None) -> Settings:
    """The settings of a configuration model and the command line's options."""
    g = getattr(config, "global_defs", None)
    words: dict[str, tuple[str, ...]] = {}
    for key, args in getattr(g, "extra", ()) or ():
        if key.startswith(("enable_snmp", "enable_traps", "snmp_socket")) and key not in words:
            words[key] = tuple(args)  # keepalived keeps the first snmp_socket
    flag = bool(getattr(options, "snmp", False))
    rfc = "enable_snmp_rfc" in words
    socket = getattr(options, "snmp_agent_socket", None) or (words.get("snmp_socket") or (None,))[0] or DEFAULT_SOCKET
    return Settings(
        vrrp=flag or "enable_snmp_vrrp" in words or "enable_snmp_keepalived" in words,
        checker=flag or "enable_snmp_checker" in words,
        rfcv2=flag or rfc or "enable_snmp_rfcv2" in words,
        rfcv3=flag or rfc or "enable_snmp_rfcv3" in words,
        traps="enable_traps" in words,
        socket=socket,
    )


def address(spec: str) -> tuple[str, Any]:
    """net-snmp's agent address forms: ``unix:PATH``, a bare path, ``tcp:HOST:PORT``, ``HOST:PORT``.
    Returns ``("unix", path)`` or ``("tcp", (host, port))``."""
    if spec.startswith("unix:"):
        return "unix", spec[5:]
    if spec.startswith("/"):
        return "unix", spec
    rest = spec[4:] if spec.startswith("tcp:") else spec
    host, _, port = rest.rpartition(":")
    if not port.isdigit():
        return "tcp", (rest or "localhost", 705)
    return "tcp", ((host or "localhost").strip("[]"), int(port))
