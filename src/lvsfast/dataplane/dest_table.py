"""Selector for the full table's Dest loop and the diff's new real servers: compiled
``lvsfast._core.dest_table`` or its twin ``lvsfast.dataplane._dest_table_py``."""
from __future__ import annotations

from lvsfast._native import load as _load

_impl = _load("dest_table")
DestMaker = _impl.DestMaker
add_dest_ops = _impl.add_dest_ops

__all__ = ["DestMaker", "add_dest_ops"]
