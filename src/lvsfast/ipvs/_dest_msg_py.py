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

    def encode_run(self, family_id: int, ops: list, start: int, msgs: list, size: int, limit: int) -> tuple[int, int]:
        """Encode ``ops[start:end]``, a run of add_dest/edit_dest operations, appending their
        messages to ``msgs``; returns (end, size with theirs). The run ends before the first
        operation of another kind or one whose encoding raises (the caller encodes that one
        itself, and sees the error), or after the message that brings size to ``limit``."""
        for i in range(start, len(ops)):
            if size >= limit:
                return i, size
            op = ops[i]
            cmd = _COMMANDS.get(op.kind)
            if cmd is None:
                return i, size
            try:
                m = self(family_id, cmd, op.service, op.dest)
            except Exception:
                return i, size
            msgs.append(m)
            size += len(m)
        return len(ops), size


_COMMANDS = {"add_dest": 5, "edit_dest": 6}  # IPVS_CMD_NEW_DEST, IPVS_CMD_SET_DEST


def track_run(ops: list, start: int, dests: dict) -> int:
    """Record ``ops[start:end]``, a run of add_dest/edit_dest operations the kernel took, in
    ``dests`` (service key -> {DestKey: Dest}); returns end, the first operation of another
    kind (or len(ops))."""
    for i in range(start, len(ops)):
        op = ops[i]
        if op.kind not in _COMMANDS:
            return i
        dests.setdefault(op.service, {})[op.dest.key] = op.dest
    return len(ops)


def all_canonical(dests: Any, canonical_dest: Callable) -> bool:
    """True when ``canonical_dest(d) is d`` for every one of ``dests``."""
    return all(canonical_dest(d) is d for d in dests)
