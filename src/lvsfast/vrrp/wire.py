"""Selector for the VRRP wire core: compiled ``lvsfast._core.vrrp_wire`` or its twin."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lvsfast.vrrp._wire_py import Advert, AdvertBuilder, Receiver, build_garp, build_na
else:
    from lvsfast._native import load as _load

    _impl = _load("vrrp_wire")
    Advert = _impl.Advert
    AdvertBuilder = _impl.AdvertBuilder
    Receiver = _impl.Receiver
    build_garp = _impl.build_garp
    build_na = _impl.build_na

__all__ = ["Advert", "AdvertBuilder", "Receiver", "build_garp", "build_na"]
