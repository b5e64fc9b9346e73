"""vrrp_sync_group: the members of a group move together (sans-IO).

When one member enters MASTER, BACKUP or FAULT, every other member is forced to the same
state, so a router never owns half of a group's addresses (keepalived's semantics). Leaving
INIT (stop) is not propagated: a stopping instance hands over by itself with priority 0.
"""
from __future__ import annotations

from collections.abc import Iterable

from lvsfast.vrrp.machine import ForceState, State

FOLLOWED = (State.MASTER, State.BACKUP, State.FAULT)


def propagate(group: str, members: Iterable[str], who: str, new: State, now: float,
              faulted: Iterable[str] = ()) -> list[tuple[str, ForceState]]:
    """The events that move the members of ``group`` after ``who`` entered ``new``.

    ``faulted`` names the members whose own tracking holds them in FAULT: while one is, the
    group stays in FAULT, so ``who`` is sent back there instead of pulling the others along."""
    if new not in FOLLOWED:
        return []
    if new is not State.FAULT:
        held = [m for m in faulted if m != who]
        if held:
            return [(who, ForceState(now, State.FAULT, f"sync group {group}: {held[0]} is in FAULT"))]
    reason = f"sync group {group}: {who} is {new.value}"
    return [(m, ForceState(now, new, reason)) for m in members if m != who]
