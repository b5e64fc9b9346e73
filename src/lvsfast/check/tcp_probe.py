"""Selector for TCP_CHECK's batched connects: compiled ``lvsfast._core.tcp_probe`` or its twin."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lvsfast.check._tcp_probe_py import CONNECTED, TcpProber, quiet_first_read
else:
    from lvsfast._native import load as _load

    _impl = _load("tcp_probe")
    TcpProber = _impl.TcpProber
    CONNECTED = _impl.CONNECTED
    quiet_first_read = _impl.quiet_first_read

__all__ = ["CONNECTED", "TcpProber", "quiet_first_read"]
