"""Two BFD sessions back to back under a simulated clock: packets go through the real codec, with a
link delay, and each direction can be cut or made to drop chosen packets."""
from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import Callable

from lvsfast.bfd import wire
from lvsfast.bfd.events import Dropped, SessionParams, StateChange, Transmit
from lvsfast.bfd.session import Session


@dataclass
class Sent:
    at: float
    by: str
    pkt: wire.ControlPacket


@dataclass
class SimPair:
    a: Session
    b: Session
    now: float = 0.0
    delay: float = 0.0002
    #: Per direction ("a" = what a sends), a filter: False drops the packet on the link.
    links: dict = field(default_factory=lambda: {"a": lambda pkt: True, "b": lambda pkt: True})
    sent: list = field(default_factory=list)
    changes: list = field(default_factory=list)  # (time, who, StateChange)
    drops: list = field(default_factory=list)  # (time, who, reason)
    _queue: list = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)

    @classmethod
    def of(cls, pa: SessionParams, pb: SessionParams | None = None, seed: int = 1, **kw) -> "SimPair":
        rng = random.Random(seed)
        return cls(Session(pa, 0x1111, 0.0, random.Random(rng.random())),
                   Session(pb or pa, 0x2222, 0.0, random.Random(rng.random())), **kw)

    def session(self, who: str) -> Session:
        return self.a if who == "a" else self.b

    def cut(self, who: str | None = None) -> None:
        for w in ([who] if who else ["a", "b"]):
            self.links[w] = lambda pkt: False

    def restore(self) -> None:
        self.links = {"a": lambda pkt: True, "b": lambda pkt: True}

    def handle(self, who: str, actions: list) -> None:
        for act in actions:
            if isinstance(act, Transmit):
                pkt = wire.decode(act.packet)
                self.sent.append(Sent(self.now, who, pkt))
                if self.links[who](pkt):
                    heapq.heappush(self._queue, (self.now + self.delay, next(self._seq), "b" if who == "a" else "a",
                                                 act.packet))
            elif isinstance(act, StateChange):
                self.changes.append((self.now, who, act))
            elif isinstance(act, Dropped):
                self.drops.append((self.now, who, act.reason))

    def step(self, until: float) -> bool:
        """Run the next event (a delivery or a session's deadline) if it is before ``until``."""
        when = min(self.a.next_deadline(), self.b.next_deadline(), self._queue[0][0] if self._queue else float("inf"))
        if when > until:
            self.now = until
            return False
        self.now = max(self.now, when)
        if self._queue and self._queue[0][0] <= self.now:
            _, _, to, data = heapq.heappop(self._queue)
            self.handle(to, self.session(to).receive(wire.decode(data), self.now))
        for who in ("a", "b"):
            s = self.session(who)
            if s.next_deadline() <= self.now:
                self.handle(who, s.tick(self.now))
        return True

    def run_until(self, t: float) -> None:
        last, same = self.now, 0
        while self.step(t):
            same = same + 1 if self.now == last else 0
            last = self.now
            assert same < 1000, f"no progress at t={self.now}: a deadline that tick() does not clear"
        self.now = t

    def run_for(self, dt: float) -> None:
        self.run_until(self.now + dt)

    def states(self) -> tuple[int, int]:
        return self.a.state, self.b.state

    def gaps(self, who: str, since: float, periodic_only: Callable[[Sent], bool] = lambda s: not s.pkt.final) -> list:
        times = [s.at for s in self.sent if s.by == who and s.at >= since and periodic_only(s)]
        return [b - a for a, b in zip(times, times[1:])]
