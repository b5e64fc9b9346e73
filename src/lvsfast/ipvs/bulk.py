"""Selector for the bulk paths of a large IPVS load: compiled ``lvsfast._core.ipvs_dest`` or its
twin ``lvsfast.ipvs._dest_msg_py``. ``wire.dest_msg`` is its DestMessages; the backend takes
``track_run`` and ``all_canonical`` from here."""
from __future__ import annotations

from lvsfast._native import load as _load

_impl = _load("ipvs_dest")
DestMessages = _impl.DestMessages
track_run = _impl.track_run
all_canonical = _impl.all_canonical

__all__ = ["DestMessages", "all_canonical", "track_run"]
