"""Sync groups, sans-IO: members of one router move together, and come back together."""
from __future__ import annotations

from lvsfast.vrrp.machine import Fault, Machine, Params, Recover, Start, State, Transition
from lvsfast.vrrp.sync_group import propagate


class Router:
    """Two instances of one router in one sync group, wired as the runner wires them."""

    def __init__(self) -> None:
        self.m = {n: Machine(Params(n, vrid, priority=150, primary=b"\x0a\x00\x00\x01"))
                  for n, vrid in (("VI_1", 51), ("VI_2", 52))}
        self.lines: list[str] = []

    def feed(self, name: str, ev, forced: bool = False) -> None:
        for a in self.m[name].handle(ev):
            if isinstance(a, Transition):
                self.lines.append(a.log_line(name))
                if not forced:
                    faulted = [n for n, m in self.m.items() if m.faulted]
                    for other, fev in propagate("G", self.m, name, a.new, ev.now, faulted):
                        self.feed(other, fev, forced=True)

    def states(self) -> dict[str, str]:
        return {n: m.state.value for n, m in self.m.items()}


def test_fault_of_one_member_moves_the_group_and_recovery_brings_it_back():
    r = Router()
    for n in r.m:
        r.feed(n, Start(0.0))
    assert r.states() == {"VI_1": "BACKUP", "VI_2": "BACKUP"}
    r.feed("VI_1", Fault(1.0, "interface trk0 down"))
    assert r.states() == {"VI_1": "FAULT", "VI_2": "FAULT"}
    assert "(VI_2) Entering FAULT STATE (sync group G: VI_1 is FAULT)" in r.lines
    r.feed("VI_1", Recover(2.0, "interface trk0 up"))
    assert r.states() == {"VI_1": "BACKUP", "VI_2": "BACKUP"}


def test_a_member_with_its_own_fault_stays_in_fault():
    r = Router()
    for n in r.m:
        r.feed(n, Start(0.0))
    r.feed("VI_2", Fault(1.0, "script down"))
    r.feed("VI_1", Fault(1.1, "link down"))
    r.feed("VI_1", Recover(2.0))
    # VI_2's own fault holds the whole group in FAULT.
    assert r.states() == {"VI_1": "FAULT", "VI_2": "FAULT"}
    assert "(VI_1) Entering FAULT STATE (sync group G: VI_2 is in FAULT)" in r.lines
    r.feed("VI_2", Recover(3.0))
    assert r.states() == {"VI_1": "BACKUP", "VI_2": "BACKUP"}


def test_stop_is_not_propagated():
    assert propagate("G", ["VI_1", "VI_2"], "VI_1", State.INIT, 0.0) == []
