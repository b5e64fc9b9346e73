"""Selector for the builder's real_server fast path: compiled ``lvsfast._core.real_servers`` or
its twin ``lvsfast.config._real_servers_py``."""
from __future__ import annotations

from lvsfast._native import load as _load

RealServerMaker = _load("real_servers").RealServerMaker

__all__ = ["RealServerMaker"]
