"""Selector for the Internet checksum: compiled ``lvsfast._core.checksum`` or its twin."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lvsfast.vrrp._checksum_py import inet_checksum, ones_sum
else:
    from lvsfast._native import load as _load

    _impl = _load("checksum")
    ones_sum = _impl.ones_sum
    inet_checksum = _impl.inet_checksum

__all__ = ["inet_checksum", "ones_sum"]
