"""Routers' state machines exchanging adverts in memory under a simulated clock (no sockets)."""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from lvsfast.vrrp.machine import (Advert, Machine, Params, ReleaseAddresses, SendAdvert, Start, Stop, TakeAddresses,
                                  Tick, Transition)


@dataclass
class SimNet:
    """A shared segment; ``links[i]`` False cuts router i off (both directions)."""

    machines: list[Machine]
    latency: float = 0.0005
    now: float = 0.0
    links: list[bool] = field(default_factory=list)
    log: list[tuple[float, str, Transition]] = field(default_factory=list)
    addresses: list[tuple[float, str, str]] = field(default_factory=list)  # (time, router, "take"|"release")
    _q: list = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.links = [True] * len(self.machines)

    @classmethod
    def of(cls, *params: Params, **kw) -> "SimNet":
        return cls([Machine(p) for p in params], **kw)

    def _apply(self, i: int, actions: list) -> None:
        m = self.machines[i]
        for a in actions:
            if isinstance(a, SendAdvert) and self.links[i]:
                for j, other in enumerate(self.machines):
                    if j != i and self.links[j]:
                        ev = Advert(self.now + self.latency, a.priority, m.params.primary, m.params.adver_int_cs)
                        heapq.heappush(self._q, (ev.now, next(self._seq), j, ev))
            elif isinstance(a, Transition):
                self.log.append((self.now, m.params.name, a))
            elif isinstance(a, (TakeAddresses, ReleaseAddresses)):
                self.addresses.append((self.now, m.params.name, "take" if isinstance(a, TakeAddresses) else "release"))

    def send(self, i: int, ev) -> None:
        self._apply(i, self.machines[i].handle(ev))

    def start(self, *which: int, at: float | None = None) -> None:
        if at is not None:
            self.run_until(at)
        for i in which or range(len(self.machines)):
            self.send(i, Start(self.now))

    def stop(self, i: int, hold: bool = False) -> None:
        self.send(i, Stop(self.now, hold))

    def run_until(self, t: float) -> None:
        while True:
            deadlines = [(m.next_deadline(), i) for i, m in enumerate(self.machines) if m.next_deadline() is not None]
            next_timer = min(deadlines) if deadlines else (None, None)
            next_msg = self._q[0][0] if self._q else None
            cands = [x for x in (next_timer[0], next_msg) if x is not None]
            if not cands or min(cands) > t:
                break
            if next_msg is not None and (next_timer[0] is None or next_msg <= next_timer[0]):
                when, _, j, ev = heapq.heappop(self._q)
                self.now = max(self.now, when)
                self.send(j, ev)
            else:
                self.now = max(self.now, next_timer[0])
                self.send(next_timer[1], Tick(self.now))
        self.now = t

    def states(self) -> list[str]:
        return [m.state.value for m in self.machines]

    def masters(self) -> list[int]:
        return [i for i, m in enumerate(self.machines) if m.state.value == "MASTER"]
