"""Selector for the checker's real-server bookkeeping: compiled ``lvsfast._core.checker_reals``
or its twin ``lvsfast.check._reals_py``."""
from __future__ import annotations

from lvsfast._native import load as _load

_impl = _load("checker_reals")
real_name = _impl.real_name
wanted_reals = _impl.wanted_reals
place_reals = _impl.place_reals
group_by_vs = _impl.group_by_vs
split_checked = _impl.split_checked

__all__ = ["group_by_vs", "place_reals", "real_name", "split_checked", "wanted_reals"]
