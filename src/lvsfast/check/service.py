"""The checker child's subsystem: the I/O driver around the sans-IO core
(:mod:`lvsfast.check.core`), as :mod:`lvsfast.vrrp.runner` is around the VRRP machine.

The core decides; this runs. One loop timer wakes at the core's earliest due check or the
prober's deadline; a due check starts and the queue moves on, so one slow server never delays
another's checks. TCP checks (and plain one-url HTTP_GETs), the ones run by the thousand, go to
one batched prober (:mod:`lvsfast.check.tcp_probe`, compiled) that schedules them itself: an up
server that stays up costs no Python at all, and the core hears only of failures and of the
checks it is watching; the other kinds run as a task per attempt (:mod:`lvsfast.check.attempt`).
With global_defs ``checker_probers`` above 1 those checks are spread over that many probers,
each on a thread of its own (:mod:`lvsfast.check.shards`), their results brought back here.
Table updates are coalesced into one backend transaction, through the data-plane port
(:class:`lvsfast.dataplane.backend.Backend`); drift repair, draining and IPVS's extras are
:mod:`lvsfast.check.upkeep`'s.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

from lvsfast import heap
from lvsfast.check import attempt, probes, upkeep
from lvsfast.check.core import Check, CheckerCore, Real
from lvsfast.check.events import (Action, Apply, Cancel, Due, Emit, Event, FlushLater, Load, Log, Mastership,
                                  MoreDue, Pause, Reply, Restore, Resume, RunScript, SaveOverrides, Schedule,
                                  ServerCommand, Shutdown)
from lvsfast.check.http_answer import status_map
from lvsfast.check.tcp_probe import COMPILED, TcpProber
from lvsfast.config.model import BfdCheck, Config, HttpCheck, Script, TcpCheck, Url
from lvsfast.scripts import ScriptError, check_script, run_script

if TYPE_CHECKING:
    from lvsfast.check.shards import Shards

log = logging.getLogger("lvsfast.check")

FLUSH_DELAY = 0.05
# Due checks started per loop turn: a crowd due at once (no warmup) must not hold the loop for
# long, or replies already in would wait behind the starts.
START_BATCH = 256
# What is due within this much of the real clock starts at once, a little early. The loop's
# clock and timers count milliseconds, so waiting for the exact time is a spin; and with every
# check on its own phase, one wake-up per check costs more than the check where wake-ups are
# dear (a VM: 408 us per TCP check at 20 ms, 487 at 5, 543 at 1). Each check still runs once
# per delay_loop, on its own slot: only its start moves, by less than 20 ms.
TICK_AHEAD = 0.02
# A backend transaction this large (a first load, a big reload) leaves megabytes of freed heap.
TRIM_AFTER_OPS = 100
# With sharded probers the loop has no prober tick of its own: this often it asks them how late
# their checks started, for the "checker behind its schedule" log.
LATENESS_EVERY = 0.25
# checker_probers auto: one prober per CPU the checker may use, up to this many (each prober's
# system calls fill about a core at 20,000 TCP checks a second; the kernel's softirq work and the
# VRRP child want CPUs too).
AUTO_PROBERS = 8


class CheckerService:
    name = "checker"

    def __init__(self, options: Any = None, emit: Callable[..., None] | None = None, backend: Any = None) -> None:
        self.options = options
        self.emit = emit or (lambda *a, **k: None)
        self.backend = backend
        self.backend_name = "none"
        self.core = CheckerCore()
        self._result = self.core.result  # bound once: it runs per probe result
        self.ssl_ctx = None
        self.upkeep = upkeep.Upkeep(self)
        # Set to a list to record how late each check started (bench/checker_scale.py).
        self.lateness: list[float] | None = None
        self._backend_lock = asyncio.Lock()
        self.bfd_states: dict[str, bool] = {}  # bfd_instance -> Up, from the VRRP child's events
        self.applied = 0
        self.last_error = ""
        self._wake: asyncio.TimerHandle | None = None
        self._wake_at = 0.0
        self._prober: TcpProber | Shards | None = None
        self._shards: Shards | None = None  # the same object as _prober when checker_probers > 1
        self._late_timer: asyncio.TimerHandle | None = None
        self.probers = 1  # how many the first load asked for (a reload does not change it)
        self._probers_asked: int | None = None  # global_defs checker_probers at the first load
        self._hinted = False  # the checker_probers hint was logged
        self._tokens: dict[int, Check] = {}
        self._free_tokens: list[int] = []  # reused, so the prober's tables stay as small as the pool
        self._next_token = 0
        self._omega: list[Script] | None = None  # while stopping: the scripts to wait for
        self.announcer: Any = None  # dataplane.announce.Announcer once a virtual server announces

    @property
    def config(self) -> Config | None:
        return self.core.config

    @property
    def reals(self) -> dict[tuple[str, str], Real]:
        return self.core.reals

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, config: Config) -> None:
        if self.backend is None:
            from lvsfast.dataplane.select import make_backend

            requested = getattr(self.options, "lvs_backend", None) or config.global_defs.lvs_backend
            self.backend = make_backend(requested, keep_on_close=bool(getattr(self.options, "dont_release_ipvs", False)))
            self.backend_name = self.backend.name
        await self._withdraw_first(config)
        self._load(config)
        self._do(self.core.update_table(self._now()))
        self._restore_overrides()
        await self._apply()
        await self.upkeep.start()

    async def _withdraw_first(self, config: Config | None) -> None:
        """Scale-out: the VIPs ``config`` no longer announces (None: all) are withdrawn, and the
        services stay until the upstream routers have moved their flows elsewhere."""
        from lvsfast.dataplane import announce

        if self.announcer is None:
            if announce.configured(config):
                self.announcer = announce.Announcer.starting(config, ipvs=self.backend_name == "ipvs")
            return
        if self.announcer.withdraw_for(config) and self.announcer.withdraw_delay:
            await asyncio.sleep(self.announcer.withdraw_delay)

    def _restore_overrides(self) -> None:
        """Runtime state survives restarts: it wins over the config until ``enable`` clears it."""
        from lvsfast.dataplane import runtime_state

        try:
            saved = runtime_state.load(self.upkeep.state_path)
        except ValueError as exc:
            log.error("%s", exc)
            return
        self._handle(Restore(self._now(), saved))

    async def reload(self, config: Config) -> None:
        await self._withdraw_first(config)
        self._load(config)
        self._do(self.core.update_table(self._now()))
        await self._apply()

    def _load(self, config: Config) -> None:
        self._probers_for(config)
        self.ssl_ctx = attempt.ssl_context(config)
        self._handle(Load(self._now(), config))
        self._do(self.core.suspension())
        self._rearm()

    def _probers_for(self, config: Config) -> None:
        """How many probers run TCP checks (global_defs checker_probers; 0: auto, one per CPU
        this process may use, at most AUTO_PROBERS), decided at the first load: a reload that
        changes it is logged, and takes effect at the next start."""
        asked = config.global_defs.checker_probers
        if self._probers_asked is not None:
            if asked != self._probers_asked:
                log.warning("checker_probers changed: it takes effect at the next start; %d run until then",
                            self.probers)
            return
        self._probers_asked = asked
        want = asked or min(AUTO_PROBERS, len(os.sched_getaffinity(0)))
        if want > 1 and not COMPILED:
            log.warning("checker_probers %d: the pure-Python prober (LVSFAST_NO_EXTENSIONS or no compiled "
                        "core) runs as one, on the event loop", want)
            want = 1
        self.probers = want

    async def stop(self) -> None:
        await self._withdraw_first(None)
        self._omega = []
        self._handle(Shutdown())
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self._late_timer is not None:
            self._late_timer.cancel()
            self._late_timer = None
        if self._shards is not None:
            self._shards.close()
            self._shards = self._prober = None
        elif self._prober is not None:
            asyncio.get_running_loop().remove_reader(self._prober.fileno())
            self._prober.close()
            self._prober = None
        self.upkeep.cancel()
        scripts, self._omega = self._omega, None
        if scripts:
            await asyncio.wait([asyncio.ensure_future(self._notify(sc)) for sc in scripts], timeout=10)
        await self.upkeep.stop()
        if self.backend is not None:
            try:
                await self.backend.close(None)
            except Exception as exc:
                log.error("data plane close failed: %s", exc)

    # ---- the core's actions ----------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _handle(self, ev: Event) -> list[Apply | Reply]:
        """Give ``ev`` to the core and carry out what it says, but for what only the caller can
        do: :class:`Apply` (awaited) and :class:`Reply` (an operator's answer), handed back."""
        return self._do(self.core.handle(ev))

    def _do(self, actions: Sequence[Action]) -> list[Apply | Reply]:
        back: list[Apply | Reply] = []
        for a in actions:
            kind = type(a)
            if kind is Log:
                log.log(a.level, "%s", a.message)
            elif kind is Emit:
                self.emit(a.kind, **a.fields)
            elif kind is RunScript:
                if self._omega is not None:
                    self._omega.append(a.script)
                else:
                    asyncio.ensure_future(self._notify(a.script))
            elif kind is FlushLater:
                # Gathered for FLUSH_DELAY: with thousands of servers each flush costs O(servers),
                # so a burst of changes must become one backend transaction, not one per change.
                asyncio.get_running_loop().call_later(FLUSH_DELAY, lambda: asyncio.ensure_future(self._flush()))
            elif kind is Schedule:
                self._schedule(a.check)
            elif kind is Cancel:
                self._cancel(a.check)
            elif kind is Pause:
                if self._prober is not None:
                    self._prober.pause(a.check.token)
            elif kind is Resume:
                if self._prober is not None:
                    self._prober.resume(a.check.token, self._now())
            elif kind is Apply or kind is Reply:
                back.append(a)
            elif kind is SaveOverrides:
                self.upkeep.save_overrides(a.overrides)
            else:
                raise AssertionError(f"checker core action not handled: {a!r}")
        return back

    async def _notify(self, script: Script) -> None:
        g = self.config.global_defs if self.config else None
        try:
            argv, run_as = check_script(script.command, user=script.user or (g.script_user if g else None),
                                        group=script.group, security=bool(g and g.enable_script_security))
        except ScriptError as exc:
            log.error("notify script refused: %s", exc)
            return
        await run_script(argv, run_as=run_as, timeout=30)

    async def _flush(self) -> None:
        # handle(Flush(now)) without making the event, as a check flip costs little else here.
        self._do(self.core.update_table(asyncio.get_running_loop().time()))
        await self._apply()

    def _mark_dirty(self, real: Real | None = None) -> None:
        self._do(self.core.stale(real))

    async def _apply(self) -> None:
        if self.backend is None:
            return
        async with self._backend_lock:  # one backend transaction at a time (its view of the kernel)
            try:
                ops = await self.backend.apply(self.core.table.pool.table())
                self.applied += len(ops)
                self.last_error = ""
                if len(ops) >= TRIM_AFTER_OPS:
                    heap.trim()  # a big transaction's garbage goes back to the kernel, not to our RSS
            except Exception as exc:
                self.last_error = str(exc)
                log.error("data plane update failed: %s", exc)
                return
            if self.announcer is not None and self.config is not None:
                # After the data plane holds the services: announced only once they are served.
                self.announcer.refresh(self.config, self.core.table.quorum, self._check_runs)

    # ---- running checks --------------------------------------------------------------------

    @staticmethod
    def _exchange_url(chk: Any) -> Url | None:
        """The url of an HTTP_GET the prober can run itself: plain HTTP and one url (TLS, and
        keepalived's url-by-url recovery over several, stay on the asyncio path)."""
        if isinstance(chk, HttpCheck) and not chk.tls and len(chk.urls) <= 1:
            return chk.urls[0] if chk.urls else Url()
        return None

    def _schedule(self, c: Check) -> None:
        """A new check goes to the prober if it can run it, else the core times it."""
        if type(c.config) is BfdCheck:
            self.core.keep(c)
            known = self.bfd_states.get(c.config.name)
            if known is not None:  # a session that changed before this check existed (reload)
                asyncio.get_running_loop().call_soon(self._finish, c, known, f"BFD {c.config.name}")
        elif c.config.bind_if:
            # The prober binds to an address, not a device: bind_if's checks run as tasks.
            self.core.keep(c)
        elif isinstance(c.config, TcpCheck):
            self._prober_schedule(c)
        elif (url := self._exchange_url(c.config)) is not None:
            self._prober_schedule(c, url)
        else:
            self.core.keep(c)

    def _prober_ready(self) -> TcpProber | Shards:
        if self._prober is None:
            if self.probers > 1:
                from lvsfast.check.shards import Shards  # threads only where asked for

                self._prober = self._shards = Shards(self.probers, self._shard_results, START_BATCH, TICK_AHEAD)
                log.info("checker: %d probers, each on a thread of its own", self.probers)
                self._late_timer = asyncio.get_running_loop().call_later(LATENESS_EVERY, self._shards_lateness)
            else:
                self._prober = TcpProber()
                asyncio.get_running_loop().add_reader(self._prober.fileno(), self._tcp_ready)
            if self.lateness is not None:
                self._prober.record_lateness(True)
        return self._prober

    def _hint_probers(self) -> None:
        """Behind with one prober where more CPUs are free to it: say once how to use them."""
        if self._hinted or not self.core.behind or not COMPILED:
            return
        self._hinted = True
        cpus = len(os.sched_getaffinity(0))
        if cpus > 1:
            log.warning("checker: one prober runs TCP_CHECK and HTTP_GET on one CPU of %d; global_defs "
                        "checker_probers %d (or auto) spreads them over more", cpus, min(cpus, AUTO_PROBERS))

    def _shards_lateness(self) -> None:
        loop = asyncio.get_running_loop()
        if self._shards is None:
            return
        behind = self.core.lateness(loop.time(), self._shards.worst_lateness())
        if behind:
            self._do(behind)
        self._late_timer = loop.call_later(LATENESS_EVERY, self._shards_lateness)

    def _prober_schedule(self, c: Check, exchange: Url | None = None) -> None:
        chk, rs = c.config, c.real.rs
        ip = chk.connect_ip or rs.address
        c.exchange = exchange
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        bind = socket.inet_pton(family, chk.bindto) if chk.bindto else None
        c.target = (family, socket.inet_pton(family, ip), chk.connect_port or rs.port or 0, bind, chk.bind_port or 0)
        if self._free_tokens:
            c.token = self._free_tokens.pop()
        else:
            c.token = self._next_token
            self._next_token += 1
        self._tokens[c.token] = c
        family, addr, port, bind, bind_port = c.target
        request = probes.http_request(chk, exchange, ip) if exchange is not None else None
        # A url judged by its status alone may pass quietly in the prober, as a connect does;
        # a digest or a regex needs the body here.
        statuses = (status_map(exchange.status_code)
                    if exchange is not None and exchange.digest is None and exchange.regex is None else None)
        self._prober_ready().schedule(c.token, family, addr, port, chk.connect_timeout, chk.delay_loop,
                                      c.state.next_at, bind, bind_port, not c.state.up, request, statuses)

    def _cancel(self, c: Check) -> None:
        if c.target is not None and self._tokens.pop(c.token, None) is c:
            if self._prober is not None:
                self._prober.unschedule(c.token)
            self._free_tokens.append(c.token)
        if c.task is not None:
            c.task.cancel()

    def _rearm(self) -> None:
        """Keep the one loop timer at the earliest due check or TCP deadline."""
        at = self.core.next_deadline()
        if self._prober is not None and self._shards is None:
            wake = self._prober.next_wake()
            if wake is not None and (at is None or wake < at):
                at = wake
        if at is None:
            return
        if self._wake is not None:
            if self._wake_at <= at:
                return
            self._wake.cancel()
        self._wake_at = at
        self._wake = asyncio.get_running_loop().call_at(at, self._tick)

    def _tick(self) -> None:
        self._wake = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        # The loop's clock lags the real one by up to a millisecond: TICK_AHEAD counts from the real one.
        ahead = time.monotonic() + TICK_AHEAD - now
        more = False
        if self._prober is not None and self._shards is None:
            handed: list[tuple[int, int]] = []
            more = self._prober.tick(now, handed, START_BATCH, ahead) == START_BATCH
            self._tcp_results(handed)
            behind = self.core.lateness(now, self._prober.worst_lateness())
            if behind:
                self._do(behind)
                self._hint_probers()
        lateness = self.lateness
        for a in self.core.handle(Due(now, now + ahead, START_BATCH)):
            if type(a) is MoreDue:
                more = True
                continue
            if type(a) is Log:  # behind its schedule, or back on it: the asyncio path's checks were late
                self._do([a])
                continue
            c = a.check
            if lateness is not None:
                lateness.append(a.late)
            c.task = loop.create_task(self._attempt(c))
        if more:
            # More are due: let replies and timers in first, then go on.
            self._wake_at = now
            self._wake = loop.call_soon(self._tick)  # type: ignore[assignment]
        else:
            self._rearm()

    def _tcp_ready(self) -> None:
        handed: list[tuple[int, int]] = []
        self._prober.harvest(handed, self._now())
        if handed:
            self._tcp_results(handed)
        # Quiet successes were re-armed inside the prober: the loop timer must not stay on a
        # later deadline (a lone check would wait for its connect timeout instead of delay_loop).
        self._rearm()

    def _tcp_results(self, results: list[tuple[int, int]]) -> None:
        tokens = self._tokens
        for token, err in results:
            c = tokens.get(token)
            if c is None:
                continue  # its server left the config while the connect was under way
            if c.exchange is not None:
                self._finish(c, *attempt.http_verdict(c, err, self._prober.response(c.token) if err == 0 else None))
            else:
                self._finish(c, *attempt.tcp_verdict(c, err))

    def _shard_results(self, results: list[tuple[int, int, bytes]]) -> None:
        """A shard's batch (check.shards): as _tcp_results, each exchange's answer with it."""
        tokens = self._tokens
        for token, err, answer in results:
            c = tokens.get(token)
            if c is None:
                continue
            if c.exchange is not None:
                self._finish(c, *attempt.http_verdict(c, err, answer if err == 0 else None))
            else:
                self._finish(c, *attempt.tcp_verdict(c, err))

    async def _attempt(self, c: Check) -> None:
        ok, reason = await attempt.probe(c, self.config, self.ssl_ctx, self.core.rng)
        c.task = None
        self._finish(c, ok, reason)

    def _finish(self, c: Check, ok: bool, reason: str) -> None:
        # The core's result() is handle(Result(...)) without the event: this runs per result.
        actions = self._result(asyncio.get_running_loop().time(), c, ok, reason)
        if c.cancelled:
            return
        if actions:
            self._do(actions)
        if c.target is not None and self._prober is not None:
            self._prober.next(c.token, c.state.next_at, self.core.reported(c))
        if self._wake is None or c.state.next_at < self._wake_at:
            self._rearm()

    def _check_runs(self, vs_name: str) -> list[tuple[int, bool]] | None:
        """How many times each check of the virtual server has run and whether it is up, or None
        while one is between a failure and its verdict (the announcer waits for fresh verdicts
        after a quorum loss)."""
        out = []
        for r in self.reals.values():
            if r.vs.name == vs_name:
                for c in r.checks:
                    if c.state.up and c.state.failures:
                        return None
                    out.append((self._runs(c), c.state.up))
        return out

    def record_lateness(self) -> None:
        """Keep how late each check started (bench/checker_scale.py)."""
        self.lateness = []
        if self._prober is not None:
            self._prober.record_lateness(True)

    def lateness_samples(self) -> list[float]:
        out = list(self.lateness or ())
        if self._prober is not None:
            out += self._prober.lateness_samples()
        if self.lateness is not None:
            self.lateness = []
        return out

    # ---- control ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        out = {"backend": self.backend_name, "last_error": self.last_error,
               "virtual_servers": self.core.status(self._runs)}
        if self.announcer is not None:
            out["announce"] = self.announcer.status()
        return out

    def stats(self, clear: bool = False) -> dict[str, Any]:
        """Counters; for the prober's checks, how late they started since the last ``clear``
        (p50/p99/max in ms, from its histogram) and whether the checker is behind."""
        late = (self._prober.lateness_summary(clear) if self._prober is not None
                else {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None})
        return {"applied_ops": self.applied, "drift_repairs": self.upkeep.repairs,
                "checks": sum(self._runs(c) for r in self.reals.values() for c in r.checks),
                "started": late["count"], "lateness_p50_ms": late["p50_ms"], "lateness_p99_ms": late["p99_ms"],
                "lateness_max_ms": late["max_ms"], "behind": self.core.behind,
                # SSL_GET: completed handshakes and those that resumed the server's last session.
                "tls_handshakes": sum(c.tls.handshakes for r in self.reals.values() for c in r.checks if c.tls),
                "tls_resumed": sum(c.tls.resumed for r in self.reals.values() for c in r.checks if c.tls)}

    def _runs(self, c: Check) -> int:
        # The prober runs TCP checks and counts them; it tells the state only what it must.
        if c.target is not None and self._prober is not None:
            return self._prober.runs(c.token)
        return c.state.runs

    async def command(self, op: str, args: dict[str, Any]) -> Any:
        if op == "keepalived_data":  # SIGUSR1: keepalived_check.data, written here as keepalived's checker does
            from lvsfast.check.dump_fields import write_check_data

            if self.core.dirty:  # verdicts still gathering for the flush: the table first, as keepalived's
                await self._flush()
            return write_check_data(args["path"], self.core, self._runs)
        if op != "server":
            raise ValueError(f"unknown command {op!r}")
        back = self._handle(ServerCommand(self._now(), args.get("action"), args.get("virtual", ""),
                                          args.get("real", ""), args.get("weight")))
        await self._apply()
        return next(a.text for a in back if type(a) is Reply)

    def bfd_event(self, name: str, up: bool) -> None:
        """A bfd_instance's session came Up or went Down (the VRRP child runs BFD): the
        BFD_CHECKs naming it say so at once, as keepalived's do."""
        self.bfd_states[name] = up
        for real in list(self.reals.values()):
            for c in real.checks:
                if type(c.config) is BfdCheck and c.config.name == name and not c.cancelled:
                    self._finish(c, up, f"BFD {name} {'UP' if up else 'DOWN'}")

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "bfd_state":
            self.bfd_event(str(event.get("instance")), event.get("state") == "UP")
        elif event.get("event") == "vrrp_state":
            master = event.get("state") == "MASTER"
            self._handle(Mastership(frozenset(event.get("vips", [])), master))
            self._rearm()
            self.upkeep.vrrp_state(event.get("instance"), master)
