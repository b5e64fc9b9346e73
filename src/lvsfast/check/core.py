"""The checker's core: which real servers get traffic, decided from check results. Sans-IO.

This file owns the checker's decisions: when each check runs, what its results mean (retry,
delay_before_retry, alpha, warmup: :mod:`lvsfast.check.state`), which checks ha_suspend
pauses, and the table of real servers with quorum, sorry server and the operator's overrides
(:mod:`lvsfast.check.table`). :meth:`CheckerCore.handle` takes an event, which carries the time,
and returns actions; it never touches a socket, a clock or a process. The driver
(:mod:`lvsfast.check.service`) runs the probes, the scripts and the backend, and calls back
with the results. Tests drive it with a hand-moved clock (tests/check/test_check_core.py).

Per real server, every checker must pass for it to be up (keepalived's rule). A check is timed
here (its :class:`CheckState`) unless the driver hands it to the compiled prober, which then
times it itself and reports back only what the verdict needs.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from lvsfast.check.events import (APPLY, FLUSH_LATER, INFO, MORE_DUE, WARNING, Action, Cancel, DrainTick, Due,
                                  Emit, Event, Flush, Load, Log, Mastership, NOTHING, Pause, Reply, Restore, Result,
                                  Resume, RunScript, SaveOverrides, Schedule, ServerCommand, Shutdown, StartProbe)
from lvsfast.check.reals import place_reals, real_name, wanted_reals
from lvsfast.check.state import CheckState, Timing
from lvsfast.check.table import CheckTable
from lvsfast.check.timer_queue import TimerQueue
from lvsfast.config.model import (BfdCheck, Config, DnsCheck, FileCheck, HttpCheck, MiscCheck, PingCheck, RealServer, SmtpCheck,
                                  TcpCheck, UdpCheck, Url, VirtualServer)
from lvsfast.dataplane import from_config
from lvsfast.dataplane.model import DestKey, ServiceKey, canonical_address
from lvsfast.dataplane.pool import Override, Pool
from lvsfast.frozen import plain_plan

# A check starting this late means the checker cannot keep its schedule (its starts are a tick,
# 20 ms, early or on time while it can).
BEHIND_AFTER = 0.1

SUPPORTED = (TcpCheck, HttpCheck, MiscCheck, DnsCheck, SmtpCheck, UdpCheck, PingCheck, FileCheck, BfdCheck)


def host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


@dataclass(eq=False, slots=True)
class Check:
    """One checker of one real server; hashed by identity, as the timer queue's item. Slotted
    (as its CheckState): a large table has one per real server, and without the per-instance
    dicts the two cost ~100 bytes less (measured with tracemalloc)."""

    config: Any
    state: CheckState
    label: str
    real: "Real | None" = None
    dynamic_weight: int | None = None
    seq: int = 0
    url_index: int = 0
    running: bool = False
    cancelled: bool = False
    # The driver's, for how it runs the check: the asyncio task of an attempt; for a check the
    # compiled prober runs (``target`` set), its resolved target (family, packed address, port,
    # packed bind address, bind port), its token there, and the HTTP_GET url it fetches (None:
    # a connect). The core only asks whether ``target`` is set.
    task: Any = None
    target: tuple | None = None
    token: int = 0
    exchange: Url | None = None
    tls: Any = None  # SSL_GET's session memory (probes.TlsMemo), made on its first attempt


@dataclass(slots=True)
class Real:
    vs: VirtualServer
    rs: RealServer
    keys: list[ServiceKey]
    checks: list[Check] = field(default_factory=list)

    @property
    def name(self) -> str:
        return real_name(self.rs.address, self.rs.port)

    @property
    def up(self) -> bool:
        return all(c.state.up for c in self.checks)

    def reason(self) -> str:
        return next((c.state.last_reason for c in self.checks if not c.state.up), "")


_REAL_PLAN = plain_plan(Real)


class CheckerCore:
    """The checker's state and decisions. Events and actions are in :mod:`lvsfast.check.events`;
    the two the driver meets most often have method twins that make no event object:
    :meth:`result` (a probe ended) and :meth:`update_table` (the flush), and :meth:`stale`
    marks the table out of date for a change the driver made itself."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.config: Config | None = None
        self.reals: dict[tuple[str, str], Real] = {}  # (vs name, rs name) -> Real
        self.table = CheckTable()
        self.due: TimerQueue[Check] = TimerQueue()
        self.dirty = False
        self.vips_mastered: set[str] = set()
        # Overload: the shortest delay_loop (how often the log may say so), whether the log said
        # the checker is behind, when, the latest start since, and when a start was last late.
        self.period = 1.0
        self.behind = False
        self._behind_logged = float("-inf")
        self._behind_worst = 0.0
        self._late_at = float("-inf")
        self._handlers: dict[type, Callable[[Any], Sequence[Action]]] = {
            Load: self._load, Due: self._due, Result: self._result, Mastership: self._mastership,
            Flush: self._flush, Restore: self._restore, ServerCommand: self._command,
            DrainTick: self._drain_tick, Shutdown: self._shutdown}

    def handle(self, ev: Event) -> Sequence[Action]:
        return self._handlers[type(ev)](ev)

    def keep(self, c: Check) -> None:
        """The core times ``c`` (the driver does not hand it to the prober)."""
        self.due.push(c.state.next_at, c)

    def next_deadline(self) -> float | None:
        return self.due.next_at()

    @property
    def pool(self) -> Pool:
        """The table's pool: what the backend is given (drain and overrides included)."""
        return self.table.pool

    # ---- configuration ----------------------------------------------------------------------

    def _load(self, ev: Load) -> list[Action]:
        config, now = ev.config, ev.now
        out: list[Action] = []
        self.config = config
        self.table.stale_vs = None
        wanted: dict[tuple[str, str], tuple[VirtualServer, RealServer, list[ServiceKey]]] = {}
        # Service keys once per virtual server (its real servers share them), by identity:
        # hashing a VirtualServer hashes every real server in it.
        keys_of = {id(vs): from_config.service_keys(vs, config) for vs in config.virtual_servers}
        wanted_reals(config.virtual_servers, keys_of, wanted)
        self.table.keys_of = keys_of
        for key in list(self.reals):
            old = self.reals[key]
            new = wanted.get(key)
            if new is None or new[:2] != (old.vs, old.rs) and old.rs.checkers != new[1].checkers:
                for c in old.checks:
                    c.cancelled = True
                    self.due.remove(c)
                    out.append(Cancel(c))
                del self.reals[key]
        # Reals kept (unchanged checkers keep their state across a reload: keepalived #373,
        # #1720) and new ones are placed in one call, each new Real(vs, rs, keys, []) made by a
        # slot plan without a Python __init__; the new ones with checks get them here, in order.
        self.period = min((c.delay_loop for _, rs, _ in wanted.values() for c in rs.checkers
                           if getattr(c, "delay_loop", None)), default=1.0)
        timings: dict[Timing, Timing] = {}
        for real in place_reals(wanted, self.reals, _REAL_PLAN.new):
            vs, rs = real.vs, real.rs
            for chk in rs.checkers:
                if not isinstance(chk, SUPPORTED):
                    out.append(Log(WARNING, f"{vs.name} {real.name}: {chk.kind} is not implemented yet; ignored"))
                    continue
                # BFD_CHECK follows the session's events: one Down is down, no retry.
                t = Timing(chk.delay_loop, chk.connect_timeout, 0 if type(chk) is BfdCheck else chk.retry,
                           chk.delay_before_retry, chk.warmup if chk.warmup is not None else 0.0,
                           chk.alpha or rs.alpha or vs.alpha)
                # Nearly every check of a large table has the same timing: one frozen object
                # for them all, not one per real server.
                t = timings.setdefault(t, t)
                st = CheckState(t)
                st.schedule_first(now, self.rng.random())
                c = Check(chk, st, f"{chk.kind} {host(chk.connect_ip or rs.address)}:{chk.connect_port or rs.port}")
                real.checks.append(c)
            for c in real.checks:
                c.real = real
                out.append(Schedule(c))
        return out

    def suspension(self) -> list[Action]:
        """ha_suspend for the prober's checks: paused while this router does not hold the
        virtual server's address, resumed when it does."""
        out: list[Action] = []
        for real in self.reals.values():
            if not real.vs.ha_suspend:
                continue
            suspended = self.suspended(real)
            for c in real.checks:
                if c.target is not None:
                    out.append(Pause(c) if suspended else Resume(c))
        return out

    def suspended(self, real: Real) -> bool:
        if not real.vs.ha_suspend:
            return False
        # ha_suspend: check only while this router holds the virtual server's address.
        return real.vs.address is not None and real.vs.address not in self.vips_mastered

    def _mastership(self, ev: Mastership) -> list[Action]:
        if ev.master:
            self.vips_mastered |= ev.vips
        else:
            self.vips_mastered -= ev.vips
        return self.suspension()

    # ---- checks -----------------------------------------------------------------------------

    def lateness(self, now: float, late: float) -> list[Action]:
        """``late``: the latest a check started since the last call (the driver's prober tells
        its own). Under overload every check is delayed alike, as the queues start the oldest
        due first; the log says so once per period, not per check, and once when it is over."""
        if late >= BEHIND_AFTER:
            self._late_at = now
            self._behind_worst = max(self._behind_worst, late)
            if not self.behind or now >= self._behind_logged + self.period:
                worst, self._behind_worst = self._behind_worst, 0.0
                self.behind, self._behind_logged = True, now
                return [Log(WARNING, f"checker behind its schedule: checks start up to {worst * 1000:.0f} ms late "
                                     "(more checks than it can start each delay_loop)")]
        elif self.behind and now >= self._late_at + self.period:
            self.behind, self._behind_worst = False, 0.0
            return [Log(INFO, "checker back on its schedule")]
        return []

    def _due(self, ev: Due) -> list[Action]:
        now = ev.now
        due = self.due.pop_due(ev.until, ev.limit)
        out: list[Action] = []
        if due:
            out += self.lateness(now, now - due[0][0])  # popped earliest first: the first is the latest
        for at, c in due:
            if c.real.vs.ha_suspend and self.suspended(c.real):
                c.state.next_at = now + c.state.timing.delay_loop
                self.due.push(c.state.next_at, c)
                continue
            c.running = True
            out.append(StartProbe(c, now - at))
        if len(due) == ev.limit:
            out.append(MORE_DUE)
        return out

    @staticmethod
    def reported(c: Check) -> bool:
        """Whether the prober should hand over every result of ``c``, not only failures: while
        its verdict is not a steady up, or its weight follows the check."""
        return not c.state.up or c.state.failures > 0 or c.dynamic_weight is not None

    def _result(self, ev: Result) -> Sequence[Action]:
        return self.result(ev.now, ev.check, ev.ok, ev.reason)

    def result(self, now: float, c: Check, ok: bool, reason: str) -> Sequence[Action]:
        """``handle(Result(now, c, ok, reason))`` without making the event: the path every
        reported probe result takes. A check the prober runs is timed there: the driver hands it
        ``c.state.next_at`` and :meth:`reported` after this."""
        c.running = False
        if c.cancelled:
            return NOTHING
        change = c.state.result(now, ok, reason)
        if c.target is None:
            self.due.push(c.state.next_at, c)
        if change is None:
            return NOTHING if c.dynamic_weight is None else self.stale(c.real)
        real, up = c.real, change.up
        out: list[Action] = [Log(INFO, f"{c.label} on {real.vs.name}: {'UP' if up else 'DOWN'} {change.reason}")]
        script = real.rs.notify_up if up else real.rs.notify_down
        if script is not None:
            out.append(RunScript(script))
        out.append(Emit("real_server", {"virtual": real.vs.name, "real": real.name, "up": up}))
        self._stale(real, out)
        return out

    def stale(self, real: Real | None = None) -> list[Action]:
        """The table must be rebuilt: for ``real``'s virtual server, or (None) all of them."""
        out: list[Action] = []
        self._stale(real, out)
        return out

    def _stale(self, real: Real | None, out: list[Action]) -> None:
        stale = self.table.stale_vs
        if stale is not None:
            if real is None:
                self.table.stale_vs = None
            else:
                stale.add(real.vs.name)
        if not self.dirty:
            self.dirty = True
            out.append(FLUSH_LATER)

    # ---- the table --------------------------------------------------------------------------

    def update_table(self, now: float) -> list[Action]:
        """The healthy table into the pool (drain and overrides on top); what that says."""
        self.dirty = False
        out = self.table.update(self.config, self.reals, now)
        pool_log = self.table.pool.log
        if pool_log:
            out += [Log(INFO, line) for line in pool_log]
            pool_log.clear()
        return out

    def _flush(self, ev: Flush) -> list[Action]:
        out = self.update_table(ev.now)
        out.append(APPLY)
        return out

    def healthy_table(self):
        """The table as the checks leave it (:meth:`CheckTable.healthy`); quorum changes it
        finds are dropped, so this is for a look, not for the flush."""
        table, _ = self.table.healthy(self.config, self.reals)
        return table

    def _restore(self, ev: Restore) -> list[Action]:
        out: list[Action] = []
        for pair, ov in ev.saved.items():
            try:
                self.table.pool.set_override(pair, ov, ev.now)
            except KeyError:
                out.append(Log(INFO, f"runtime state for {pair[0]} -> {pair[1]} dropped: no longer configured"))
        return out

    def _drain_tick(self, ev: DrainTick) -> list[Action]:
        pool = self.table.pool
        if not pool.tick(ev.now, ev.active):
            return []
        out: list[Action] = [Log(INFO, line) for line in pool.log]
        pool.log.clear()
        out.append(APPLY)
        return out

    def _command(self, ev: ServerCommand) -> list[Action]:
        vip, rsv = ev.virtual, ev.real
        matches = [(k, d) for real in self.reals.values() for k in real.keys
                   if f"{host(k.address or '')}:{k.port}" == vip
                   for d in [DestKey(canonical_address(real.rs.address), real.rs.port or k.port)]
                   if f"{host(d.address)}:{d.port}" == rsv]
        if not matches:
            raise ValueError(f"no real server {rsv} in virtual server {vip}")
        ov = {"drain": Override("drain"), "disable": Override("disable"), "enable": Override(),
              "weight": Override(weight=ev.weight)}[ev.action]
        pool = self.table.pool
        msgs = [pool.set_override(pair, ov, ev.now) for pair in matches]
        return [Reply("; ".join(msgs)), SaveOverrides(dict(pool.overrides)), APPLY]

    def _shutdown(self, ev: Shutdown) -> list[Action]:
        """Every check stops; with ``omega``, the real servers still up and a held quorum go
        down, so their notify_down and quorum_down scripts run."""
        out: list[Action] = []
        for real in self.reals.values():
            for c in real.checks:
                c.cancelled = True
                self.due.remove(c)
                out.append(Cancel(c))
        for real in self.reals.values():
            if real.vs.omega and real.up:  # keepalived's FIFO lines come with the scripts
                out.append(Emit("real_server", {"virtual": real.vs.name, "real": real.name, "up": False}))
            if real.vs.omega and real.up and real.rs.notify_down is not None:
                out.append(Log(INFO, f"{real.vs.name} {real.name}: DOWN (shutdown, omega)"))
                out.append(RunScript(real.rs.notify_down))
        for vs in self.config.virtual_servers if self.config else ():
            if vs.omega:
                out.append(Emit("quorum", {"virtual": vs.name, "up": False}))
            q = self.table.quorum.get(vs.name)
            if vs.omega and q is not None and q.up and vs.quorum_down is not None:
                out.append(Log(INFO, f"{vs.name}: quorum lost (shutdown, omega)"))
                out.append(RunScript(vs.quorum_down))
        return out

    # ---- control ----------------------------------------------------------------------------

    def status(self, runs: Callable[[Check], int]) -> dict[str, Any]:
        """Each virtual server's real servers: verdict, weight in the table, override, checkers
        (``runs``: how many times a check ran, which the prober counts for its own)."""
        table = self.table.pool.table()
        out: dict[str, Any] = {}
        for real in self.reals.values():
            vs = out.setdefault(real.vs.name, {"real_servers": {}})
            weight = None
            for key in real.keys:
                d = table.dests.get(key, {}).get(DestKey(canonical_address(real.rs.address),
                                                         real.rs.port or key.port))
                weight = d.weight if d else None
            ov = next((o for (k, d), o in self.table.pool.overrides.items() if k in real.keys
                       and d.address == canonical_address(real.rs.address)), None)
            vs["real_servers"][real.name] = {
                "up": real.up, "weight": weight, "configured_weight": real.rs.weight, "reason": real.reason(),
                "override": None if ov is None else {"state": ov.state, "weight": ov.weight},
                "checkers": [{"check": c.label, "up": c.state.up, "runs": runs(c)} for c in real.checks],
            }
        return out
