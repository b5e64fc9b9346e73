"""The checker under overload, in the sans-IO core with a hand-moved clock: when fewer checks can
start than the schedule asks for, every server's check is delayed about alike (the queue starts
the oldest due first, so none starves), and the log says the checker is behind once per period,
not once per check, and once more when it is back on its schedule."""
from __future__ import annotations

import random
import socket
import time
from collections import Counter
from logging import INFO, WARNING

import pytest

from lvsfast.check.core import BEHIND_AFTER, CheckerCore
from lvsfast.check.events import Due, Load, Log, Schedule, StartProbe
from lvsfast.config import loads
from support.impls import implementations, resolve_impl

N = 100
TICK = 0.01


def config(n: int = N) -> str:
    reals = "".join(f"  real_server 10.0.{i // 250}.{i % 250 + 1} 80 {{\n   TCP_CHECK {{\n    connect_timeout 1\n"
                    f"    retry 0\n   }}\n  }}\n" for i in range(n))
    return (f"virtual_server 192.0.2.1 80 {{\n delay_loop 1\n warmup 1\n lb_algo rr\n lb_kind NAT\n protocol TCP\n"
            f"{reals}}}\n")


class Overloaded:
    """A driver that starts at most so many checks a tick (:meth:`run`); every probe passes at once."""

    def __init__(self) -> None:
        self.core = CheckerCore(random.Random(7))
        self.now = 100.0
        self.logs: list[tuple[float, int, str]] = []
        self.runs: Counter[str] = Counter()
        self.late: dict[str, list[float]] = {}
        for a in self.core.handle(Load(self.now, loads(config()))):
            if isinstance(a, Schedule):
                self.core.keep(a.check)

    def run(self, seconds: float, per_tick: int, every: int = 1) -> None:
        """``per_tick`` starts on every ``every``-th tick."""
        end = self.now + seconds
        tick = 0
        while self.now < end:
            tick += 1
            for a in (self.core.handle(Due(self.now, self.now, per_tick)) if tick % every == 0 else ()):
                if isinstance(a, Log):
                    self.logs.append((self.now, a.level, a.message))
                elif isinstance(a, StartProbe):
                    c = a.check
                    self.runs[c.label] += 1
                    self.late.setdefault(c.label, []).append(a.late)
                    self.core.result(self.now, c, True, "")
            self.now = round(self.now + TICK, 6)


def test_every_check_is_delayed_alike_when_the_schedule_cannot_be_met():
    d = Overloaded()
    d.run(3, 100)  # on schedule: 100 checks a second, room for 10,000
    assert not [m for _, lvl, m in d.logs if lvl == WARNING]
    d.runs.clear()
    d.late.clear()
    d.run(20, 1, 4)  # room for 25 starts a second where 100 servers want one a second each
    # A quarter of a check a second each, every one waiting its turn: none starves.
    assert len(d.runs) == N
    assert max(d.runs.values()) - min(d.runs.values()) <= 1, d.runs
    worst = {label: max(v) for label, v in d.late.items()}
    assert max(worst.values()) - min(worst.values()) < 0.1, "one server waits much longer than another"
    assert min(worst.values()) >= BEHIND_AFTER


def test_the_log_says_the_checker_is_behind_once_per_period_and_when_it_caught_up():
    d = Overloaded()
    d.run(2, 100)
    d.run(10, 1, 4)
    behind = [t for t, lvl, m in d.logs if lvl == WARNING and "behind" in m]
    # Once per delay_loop (1 s), not per check (there were a thousand late starts).
    assert 8 <= len(behind) <= 11, behind
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(behind, behind[1:]))
    assert d.core.behind
    d.run(5, 100)
    back = [m for _, lvl, m in d.logs if lvl == INFO and "back on its schedule" in m]
    assert back == ["checker back on its schedule"]
    assert not d.core.behind
    assert len([t for t, lvl, m in d.logs if lvl == WARNING]) == len(behind)



@pytest.fixture(params=implementations("tcp_probe"), scope="module")
def tp(request):
    return resolve_impl(request.param)


def test_the_prober_tells_how_late_its_checks_started(tp):
    """The driver's view of the prober's overload: the latest start since it last asked (for the
    log) and a histogram of every start (for stats)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    p = tp.TcpProber()
    try:
        now = time.monotonic()
        addr = socket.inet_aton("127.0.0.1")
        for token, late in enumerate((0.5, 0.0025, 0.0025, 0.0025)):
            p.schedule(token, socket.AF_INET, addr, srv.getsockname()[1], 1.0, 1.0, now - late)
        assert p.tick(now, [], 256) == 4
        assert p.worst_lateness() == pytest.approx(0.5)
        assert p.worst_lateness() == 0.0  # read once
        assert p.lateness_summary(clear=True) == {"count": 4, "p50_ms": 3, "p99_ms": 501, "max_ms": 501}
        assert p.lateness_summary()["count"] == 0
    finally:
        p.close()
        srv.close()
