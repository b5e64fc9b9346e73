"""Pure-Python twin of ``lvsfast._core.ipvs_dest``: wire's own struct encoder is the pure form
of a NEW_DEST/SET_DEST message, so this hands every message to it."""
from __future__ import annotations

from typing import Any, Callable


class DestMessages:
    """``dest_msg(family_id, cmd, key, dest, seq=0)``, as ``wire.dest_msg``. ``key_attrs`` and
    ``packed_addr`` are wire's (cached) service-key and address encoders, ``forwarding`` its
    method numbers, ``fallback`` its own dest_msg."""

    def __init__(self, key_attrs: Callable, packed_addr: Callable, forwarding: dict, fallback: Callable) -> None:
        self._fallback = fallback

    def __call__(self, family_id: int, cmd: int, key: Any, dest: Any, seq: int = 0) -> bytes:
        return self._fallback(family_id, cmd, key, dest, seq)
