"""The checker's sans-IO core under a hand-moved clock: no sockets, no sleeps. Each test plays
the driver: it times every check in the core, answers each started probe from a table of
verdicts, and reads the table the core would hand the backend."""
from __future__ import annotations

import random

import pytest

from lvsfast.check.core import CheckerCore
from lvsfast.check.events import (Apply, Cancel, Due, Emit, Flush, FlushLater, Load, Log, Mastership, Result,
                                  RunScript, Schedule, ServerCommand, Shutdown, StartProbe)
from lvsfast.config import loads

VS = "192.0.2.100"
NAME = f"{VS}:TCP:80"  # how the virtual server is named


def conf(reals: dict[str, int], check: str = "", vs_extra: str = "", rs_extra: str = "") -> str:
    body = "".join(f"""    real_server {addr} 80 {{
        weight {weight}
{rs_extra}        TCP_CHECK {{
            connect_timeout 1
            retry 2
            delay_before_retry 0.5
            warmup 0
{check}        }}
    }}
""" for addr, weight in reals.items())
    return f"""virtual_server {VS} 80 {{
    delay_loop 10
    lb_algo rr
    lb_kind NAT
    protocol TCP
{vs_extra}{body}}}
"""


class Driver:
    """The I/O side, in memory: ``verdict[address]`` says whether that server answers."""

    def __init__(self, text: str, seed: int = 1) -> None:
        self.core = CheckerCore(random.Random(seed))
        self.now = 1000.0
        self.verdict: dict[str, bool] = {}
        self.scripts: list[str] = []
        self.emitted: list[tuple[str, dict]] = []
        self.started: list[tuple[float, str]] = []
        self.load(text)

    def do(self, actions: list) -> list:
        for a in actions:
            if isinstance(a, Schedule):
                self.core.keep(a.check)
            elif isinstance(a, RunScript):
                self.scripts.append(a.script.command)
            elif isinstance(a, Emit):
                self.emitted.append((a.kind, a.fields))
        return actions

    def load(self, text: str) -> list:
        out = self.do(self.core.handle(Load(self.now, loads(text))))
        self.do(self.core.update_table(self.now))
        return out

    def run_until(self, t: float) -> None:
        """Every check due by ``t`` runs; each attempt takes 0.1 s."""
        while (at := self.core.next_deadline()) is not None and at <= t + 1e-6:  # float sums
            self.now = max(self.now, at)
            for a in self.do(self.core.handle(Due(self.now, self.now, 1000))):
                if isinstance(a, StartProbe):
                    addr = a.check.real.rs.address
                    self.started.append((self.now, addr))
                    ok = self.verdict.get(addr, True)
                    self.do(self.core.handle(Result(self.now + 0.1, a.check, ok, "ok" if ok else "refused")))
        self.now = t
        if self.core.dirty:
            assert any(isinstance(a, Apply) for a in self.do(self.core.handle(Flush(self.now))))

    def weights(self) -> dict[str, int]:
        t = self.core.pool.table()
        return {d.address: dest.weight for ds in t.dests.values() for d, dest in ds.items()}


def test_a_server_failing_retry_plus_one_times_leaves_the_table():
    d = Driver(conf({"10.0.0.1": 2, "10.0.0.2": 3}))
    d.run_until(1000.0)
    assert d.weights() == {"10.0.0.1": 2, "10.0.0.2": 3}
    d.verdict["10.0.0.2"] = False
    d.run_until(1010.1)  # the first failure (a delay_loop after the last result): retry 2 left, still in
    assert d.weights() == {"10.0.0.1": 2, "10.0.0.2": 3}
    d.run_until(1010.7)  # second failure, delay_before_retry after the first one's end
    assert "10.0.0.2" in d.weights()
    d.run_until(1011.3)  # third = retry + 1: out
    assert d.weights() == {"10.0.0.1": 2}
    tries = [t for t, a in d.started if a == "10.0.0.2" and t >= 1010]
    assert tries[:3] == pytest.approx([1010.1, 1010.7, 1011.3])
    assert ("real_server", {"virtual": NAME, "real": "10.0.0.2:80", "up": False}) in d.emitted


def test_a_recovered_server_returns_after_one_success():
    d = Driver(conf({"10.0.0.1": 2}))
    d.verdict["10.0.0.1"] = False
    d.run_until(1012)
    assert d.weights() == {}
    d.verdict["10.0.0.1"] = True
    d.run_until(1021.3)  # down at 1001.3; one more failed run at 1011.3; this one passes
    assert d.weights() == {}
    d.run_until(1021.4)
    assert d.weights() == {"10.0.0.1": 2}
    st = d.core.status(lambda c: c.state.runs)[NAME]["real_servers"]["10.0.0.1:80"]
    assert st["up"] and st["weight"] == 2


def test_alpha_starts_down_until_the_first_success():
    d = Driver(conf({"10.0.0.1": 2}, check="            alpha\n"))
    assert d.weights() == {}  # before any check ran
    d.run_until(1000.0)
    assert d.weights() == {"10.0.0.1": 2}


def test_inhibit_on_failure_keeps_the_server_at_weight_0():
    d = Driver(conf({"10.0.0.1": 2, "10.0.0.2": 1}, rs_extra="        inhibit_on_failure\n"))
    d.verdict["10.0.0.1"] = False
    d.run_until(1012)
    assert d.weights() == {"10.0.0.1": 0, "10.0.0.2": 1}


def test_warmup_spreads_first_runs_and_delay_loop_times_the_next():
    d = Driver(conf({f"10.0.0.{i}": 1 for i in range(1, 21)}).replace("warmup 0", "warmup 5"))
    d.run_until(1005)
    firsts = sorted(t for t, _ in d.started)
    assert len(firsts) == 20 and firsts[0] >= 1000 and firsts[-1] < 1005 and len(set(firsts)) == 20
    d.run_until(1015.1)
    # Each next run a delay_loop after its attempt ended (0.1 s in): every server keeps its phase.
    assert sorted(t for t, _ in d.started)[20:] == pytest.approx([t + 10.1 for t in firsts])


def test_quorum_with_hysteresis_runs_its_scripts_and_the_sorry_server():
    vs_extra = ("    quorum 4\n    hysteresis 1\n    quorum_up /bin/up\n    quorum_down /bin/down\n"
                "    sorry_server 10.9.9.9 80\n")
    d = Driver(conf({"10.0.0.1": 2, "10.0.0.2": 2, "10.0.0.3": 1}, vs_extra=vs_extra))
    d.run_until(1000)
    assert d.weights() == {"10.0.0.1": 2, "10.0.0.2": 2, "10.0.0.3": 1}  # 5 >= 4: held
    d.verdict["10.0.0.3"] = False
    d.run_until(1012)  # alive 4: not below quorum - hysteresis (3)
    assert d.scripts == [] and "10.9.9.9" not in d.weights()
    d.verdict["10.0.0.2"] = False
    d.run_until(1024)  # alive 2 < 3: lost, the sorry server takes over
    assert d.scripts == ["/bin/down"]
    assert d.weights() == {"10.9.9.9": 1}
    assert ("quorum", {"virtual": NAME, "up": False, "weight": 2}) in d.emitted  # the alive weight left
    d.verdict["10.0.0.3"] = True
    d.run_until(1036)  # alive 3 < quorum + hysteresis (5): still lost
    assert d.scripts == ["/bin/down"]
    d.verdict["10.0.0.2"] = True
    d.run_until(1048)  # alive 5: gained
    assert d.scripts == ["/bin/down", "/bin/up"]
    assert d.weights() == {"10.0.0.1": 2, "10.0.0.2": 2, "10.0.0.3": 1}


def test_omega_runs_notify_down_and_quorum_down_on_shutdown():
    text = conf({"10.0.0.1": 2, "10.0.0.2": 2}, vs_extra="    omega\n    quorum_down /bin/qdown\n",
                rs_extra="        notify_down /bin/rsdown\n")
    d = Driver(text)
    d.verdict["10.0.0.2"] = False
    d.run_until(1012)
    d.scripts.clear()
    out = d.do(d.core.handle(Shutdown()))
    assert d.scripts == ["/bin/rsdown", "/bin/qdown"]  # only the server still up, and the quorum
    assert sum(isinstance(a, Cancel) for a in out) == 2
    assert d.core.next_deadline() is None
    assert any(isinstance(a, Log) and "omega" in a.message for a in out)


def test_a_reload_keeps_unchanged_checks_and_cancels_removed_ones():
    d = Driver(conf({"10.0.0.1": 2, "10.0.0.2": 2}))
    d.verdict["10.0.0.1"] = False
    d.run_until(1012)
    kept = d.core.reals[(NAME, "10.0.0.1:80")].checks[0]
    out = d.load(conf({"10.0.0.1": 5}))
    assert [type(a) for a in out] == [Cancel]
    assert d.core.reals[(NAME, "10.0.0.1:80")].checks[0] is kept and not kept.state.up
    assert d.weights() == {"10.0.0.2": 0}  # still down; the removed one drains
    d.verdict["10.0.0.1"] = True
    d.run_until(1024)
    assert d.weights()["10.0.0.1"] == 5


def test_ha_suspend_skips_checks_until_this_router_holds_the_address():
    d = Driver(conf({"10.0.0.1": 2}, vs_extra="    ha_suspend\n"))
    d.run_until(1025)
    assert d.started == []
    d.do(d.core.handle(Mastership(frozenset({VS}), True)))
    d.run_until(1035)
    assert d.started


def test_operator_commands_override_the_checks():
    d = Driver(conf({"10.0.0.1": 2, "10.0.0.2": 2}))
    out = d.core.handle(ServerCommand(d.now, "disable", f"{VS}:80", "10.0.0.1:80"))
    assert any(isinstance(a, Apply) for a in out)
    assert d.weights() == {"10.0.0.2": 2}
    d.core.handle(ServerCommand(d.now, "enable", f"{VS}:80", "10.0.0.1:80"))
    assert d.weights() == {"10.0.0.1": 2, "10.0.0.2": 2}


def test_a_burst_of_changes_asks_for_one_flush():
    d = Driver(conf({f"10.0.0.{i}": 1 for i in range(1, 6)}).replace("retry 2", "retry 0"))
    for i in range(1, 6):
        d.verdict[f"10.0.0.{i}"] = False
    flushes = []
    while (at := d.core.next_deadline()) is not None and at <= 1000:
        for a in d.core.handle(Due(at, at, 1000)):
            flushes += [r for r in d.core.handle(Result(at, a.check, False, "x")) if isinstance(r, FlushLater)]
    assert len(flushes) == 1
    d.do(d.core.handle(Flush(1000)))
    assert d.weights() == {}
