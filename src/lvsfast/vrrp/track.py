"""Tracking, sans-IO: what tracked objects say about an instance's priority or FAULT.

The runner observes the world (link carrier, script exit codes, file contents, the process
table) and feeds observations here; these functions and small state holders decide. Nothing
here reads a file, runs a process or looks at a clock.

keepalived's rules, kept as they are:
- a tracked object with weight 0 puts the instance in FAULT while it is down;
- a positive weight is added while the object is up, a negative one while it is down;
- ``reverse`` swaps up and down (for weights, keepalived's "weight N reverse");
- a track_file's value is multiplied by its weight; with weight 0 any non-zero value is FAULT;
- the address owner (priority 255) is never moved, and the result stays within 1..254.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lvsfast.vrrp.track_spec import ProcessSpec, TrackSpec

Key = tuple[str, str]  # (kind, name)


def effective_priority(base: int, tracks: Sequence[TrackSpec], up: Mapping[Key, bool],
                       values: Mapping[Key, int] | None = None) -> tuple[int, str]:
    """(priority, fault reason or "") for the observations so far; unobserved objects count as up."""
    values = values or {}
    prio, fault = base, ""
    for t in tracks:
        key = (t.kind, t.name)
        if t.kind == "file":
            value = values.get(key, 0)
            if t.weight == 0:
                if value != 0:
                    fault = fault or f"track_file {t.name} is {value}"
            else:
                prio += value * t.weight * (-1 if t.reverse else 1)
            continue
        ok = up.get(key, True)
        if t.reverse:
            ok = not ok
        if t.weight == 0:
            if not ok:
                fault = fault or f"{t.kind} {t.name} down"
        elif t.weight > 0 and ok:
            prio += t.weight
        elif t.weight < 0 and not ok:
            prio += t.weight
    if base == 255:
        return 255, fault
    return max(1, min(254, prio)), fault


@dataclass
class ScriptTracker:
    """vrrp_script's rise/fall: the state changes after ``rise`` successes or ``fall`` failures in a row."""

    rise: int = 1
    fall: int = 1
    ok: bool = True
    good: int = 0
    bad: int = 0

    @classmethod
    def initial(cls, rise: int, fall: int, init_fail: bool) -> "ScriptTracker":
        return cls(max(1, rise), max(1, fall), not init_fail)

    def result(self, success: bool) -> bool | None:
        """Feed one run's outcome; returns the new state when it changed, else None."""
        if success:
            self.good, self.bad = self.good + 1, 0
            if not self.ok and self.good >= self.rise:
                self.ok = True
                return True
        else:
            self.bad, self.good = self.bad + 1, 0
            if self.ok and self.bad >= self.fall:
                self.ok = False
                return False
        return None


def file_value(text: str) -> int:
    """A track_file's value: the first integer in the file; anything else reads as 0 (keepalived)."""
    words = text.split()
    if not words:
        return 0
    try:
        return int(words[0])
    except ValueError:
        return 0


def process_matches(p: ProcessSpec, comm: str, argv: Sequence[str]) -> bool:
    """Does one process (its comm and argv) count for ``p``?"""
    name = argv[0] if (p.full_command and argv) else comm
    if not p.full_command:
        name = name[:15]  # the kernel truncates comm to 15 characters
        if name != p.process[:15]:
            return False
    elif name != p.process:
        return False
    if not p.args:
        return True
    rest = tuple(argv[1:])
    if p.param_match is None:
        return rest == p.args
    if p.param_match == "initial":
        return rest[:len(p.args)] == p.args
    if p.param_match == "partial":
        n = len(p.args)
        return any(rest[i:i + n] == p.args for i in range(len(rest) - n + 1))
    return False


def process_up(p: ProcessSpec, table: Iterable[tuple[str, Sequence[str]]]) -> bool:
    """Is the quorum of matching processes met in ``table`` ((comm, argv) per process)?"""
    n = sum(1 for comm, argv in table if process_matches(p, comm, argv))
    return n >= p.quorum and (p.quorum_max is None or n <= p.quorum_max)
