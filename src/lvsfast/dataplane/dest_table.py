"""Selector for the full table's Dest loop: compiled ``lvsfast._core.dest_table`` or its twin
``lvsfast.dataplane._dest_table_py``."""
from __future__ import annotations

from lvsfast._native import load as _load

DestMaker = _load("dest_table").DestMaker

__all__ = ["DestMaker"]
