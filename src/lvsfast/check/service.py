"""The checker child's subsystem: health checks decide which real servers get traffic, and the
data-plane backend (IPVS or nftables) is made to match.

Per real server, every checker must pass for it to be up (keepalived's rule). A server that
fails leaves at once (or goes to weight 0 with inhibit_on_failure); one removed from the
config by a reload drains first (:mod:`lvsfast.dataplane.pool`). One timer queue
(:mod:`lvsfast.check.timer_queue`) says which check is due; a due check starts and the queue
moves on, so one slow server never delays another's checks. TCP checks, the ones run by the
thousand, go to one batched prober (:mod:`lvsfast.check.tcp_probe`, compiled) that schedules
them itself: an up server that stays up costs no Python at all, and the service hears only of
failures and of the checks it is watching (retrying, down, or with a dynamic weight);
the other kinds run as a task per attempt. Table updates are coalesced: many changes in one
loop turn become one backend transaction.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import random
import socket
import ssl
import time
from dataclasses import dataclass, field, replace
from typing import Any

from lvsfast import heap
from lvsfast.check import probes, protocols
from lvsfast.check.http_answer import status_map
from lvsfast.check.quorum import Quorum, QuorumChange
from lvsfast.check.reals import group_by_vs, place_reals, real_name, split_checked, wanted_reals
from lvsfast.check.state import CheckState, Timing
from lvsfast.check.tcp_probe import TcpProber
from lvsfast.check.timer_queue import TimerQueue
from lvsfast.config.model import (Config, DnsCheck, FileCheck, HttpCheck, MiscCheck, PingCheck, RealServer, SmtpCheck,
                                  TcpCheck, UdpCheck, Url, VirtualServer)
from lvsfast.dataplane import from_config
from lvsfast.dataplane.model import Delta, Dest, DestKey, ServiceKey, Table, canonical_address
from lvsfast.dataplane.pool import Override, Pool
from lvsfast.frozen import plain_plan
from lvsfast.paths import DEFAULT_CONTROL_SOCKET
from lvsfast.scripts import ScriptError, check_script, run_script

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
# Drift repair: the periodic comparison (the "within 2 s"), and the pause after an
# outside change is notified, so the rest of a script of `nft` commands lands first.
DRIFT_INTERVAL = 2.0
DRIFT_SETTLE = 0.05

SUPPORTED = (TcpCheck, HttpCheck, MiscCheck, DnsCheck, SmtpCheck, UdpCheck, PingCheck, FileCheck)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _real_name(rs: RealServer) -> str:
    """How a real server is named in logs and in the checker's keys."""
    return real_name(rs.address, rs.port)


@dataclass(eq=False)
class Check:
    """One checker of one real server; hashed by identity, as the timer queue's item."""

    config: Any
    state: CheckState
    label: str
    real: "Real | None" = None
    dynamic_weight: int | None = None
    seq: int = 0
    url_index: int = 0
    running: bool = False
    cancelled: bool = False
    task: asyncio.Task | None = None
    # A check the prober runs (TCP_CHECK, and HTTP_GET over plain HTTP with one url), its target
    # resolved once: (family, packed address, port, packed bind address, bind port).
    target: tuple | None = None
    token: int = 0
    exchange: Url | None = None  # the HTTP_GET url the prober fetches; None for a connect


@dataclass(slots=True)
class Real:
    vs: VirtualServer
    rs: RealServer
    keys: list[ServiceKey]
    checks: list[Check] = field(default_factory=list)

    @property
    def name(self) -> str:
        return _real_name(self.rs)

    @property
    def up(self) -> bool:
        return all(c.state.up for c in self.checks)

    def reason(self) -> str:
        return next((c.state.last_reason for c in self.checks if not c.state.up), "")


_REAL_PLAN = plain_plan(Real)


class CheckerService:
    name = "checker"

    def __init__(self, options: Any = None, emit=None, backend=None) -> None:
        self.options = options
        self.emit = emit or (lambda *a, **k: None)
        self.backend = backend
        self.backend_name = "none"
        self.config: Config | None = None
        self.reals: dict[tuple[str, str], Real] = {}  # (vs name, rs name) -> Real
        self.pool = Pool()
        self.rng = random.Random()
        self._dirty = False
        # The healthy table is kept per virtual server and rebuilt only for those whose real
        # servers changed (None: all of them, after a load), so a check flap costs its own
        # virtual server, and the unchanged services keep their objects: the backends skip
        # those without a look. What the config alone decides is made once per config.
        self._stale_vs: set[str] | None = None
        self._vs_dests: dict[str, dict[ServiceKey, dict[DestKey, Dest]]] = {}
        self._per_config: tuple[Config, Table, from_config.ConfiguredPairs, dict] | None = None
        self._vs_names: list[tuple[str, VirtualServer]] = []
        self._reals_by_vs: dict[str, list[Real]] = {}
        self._vs_by_name: dict[str, VirtualServer] = {}
        self._keys_of: dict[int, list[ServiceKey]] = {}  # id(virtual server of self.config) -> its keys
        self._healthy_last: Table | None = None  # what healthy_table() returned last
        self._vs_disjoint = False  # no two virtual servers share a service key
        self._master: dict[str, bool] = {}
        self._quorum: dict[str, Quorum] = {}
        # Set to a list to record how late each check started (bench/checker_scale.py).
        self.lateness: list[float] | None = None
        self._vips_mastered: set[str] = set()
        self._sync_state: str | None = None
        self._backend_lock = asyncio.Lock()
        self.repairs = 0
        self.applied = 0
        self.last_error = ""
        self._due: TimerQueue[Check] = TimerQueue()
        self._wake: asyncio.TimerHandle | None = None
        self._wake_at = 0.0
        self._prober: TcpProber | None = None
        self._tokens: dict[int, Check] = {}
        self._free_tokens: list[int] = []  # reused, so the prober's tables stay as small as the pool
        self._next_token = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, config: Config) -> None:
        if self.backend is None:
            self.backend = self._make_backend(config)
        self._load(config)
        self._update_table()
        self._restore_overrides()
        await self._apply()
        await self._ipvs_extras()
        self._tick_task = asyncio.create_task(self._drain_ticker())
        self._drift_task = asyncio.create_task(self._repair_drift())

    def _restore_overrides(self) -> None:
        """Runtime state survives restarts: it wins over the config until ``enable`` clears it."""
        from lvsfast.dataplane import runtime_state

        try:
            saved = runtime_state.load(self.state_path)
        except ValueError as exc:
            log.error("%s", exc)
            return
        now = asyncio.get_running_loop().time()
        for pair, ov in saved.items():
            try:
                self.pool.set_override(pair, ov, now)
            except KeyError:
                log.info("runtime state for %s -> %s dropped: no longer configured", pair[0], pair[1])

    def _make_backend(self, config: Config):
        from lvsfast.dataplane.select import choose

        requested = getattr(self.options, "lvs_backend", None) or config.global_defs.lvs_backend
        self.backend_name = choose(requested)
        if self.backend_name == "ipvs":
            from lvsfast.ipvs.backend import IPVSBackend

            return IPVSBackend(keep_on_close=bool(getattr(self.options, "dont_release_ipvs", False)))
        from lvsfast.nft.backend import NftBackend

        return NftBackend()

    def _ssl(self, config: Config) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        s = config.ssl
        if s is not None and getattr(s, "ca", None):
            ctx.load_verify_locations(s.ca)
            # The chain is verified here; the name (virtualhost) by probes.http, since SNI is optional.
            ctx.check_hostname = False
        else:
            # keepalived's SSL_GET does not verify the server unless a CA is configured.
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if s is not None and getattr(s, "certificate", None):
            ctx.load_cert_chain(s.certificate, getattr(s, "key", None), getattr(s, "password", None))
        return ctx

    def _load(self, config: Config) -> None:
        self.config = config
        self._stale_vs = None
        self.ssl_ctx = self._ssl(config)
        wanted: dict[tuple[str, str], tuple[VirtualServer, RealServer, list[ServiceKey]]] = {}
        # Service keys once per virtual server (its real servers share them), by identity:
        # hashing a VirtualServer hashes every real server in it.
        keys_of = {id(vs): from_config.service_keys(vs, config) for vs in config.virtual_servers}
        wanted_reals(config.virtual_servers, keys_of, wanted)
        self._keys_of = keys_of
        for key in list(self.reals):
            old = self.reals[key]
            new = wanted.get(key)
            if new is None or new[:2] != (old.vs, old.rs) and not self._same_checks(old, new):
                self._cancel(old)
                del self.reals[key]
        now = asyncio.get_running_loop().time()
        # Reals kept (unchanged checkers keep their state across a reload: keepalived #373,
        # #1720) and new ones are placed in one call, each new Real(vs, rs, keys, []) made by a
        # slot plan without a Python __init__; the new ones with checks get them here, in order.
        for real in place_reals(wanted, self.reals, _REAL_PLAN.new):
            vs, rs = real.vs, real.rs
            for chk in rs.checkers:
                if not isinstance(chk, SUPPORTED):
                    log.warning("%s %s: %s is not implemented yet; ignored", vs.name, real.name, chk.kind)
                    continue
                t = Timing(chk.delay_loop, chk.connect_timeout, chk.retry, chk.delay_before_retry,
                           chk.warmup if chk.warmup is not None else 0.0, chk.alpha or rs.alpha or vs.alpha)
                st = CheckState(t)
                st.schedule_first(now, self.rng.random())
                c = Check(chk, st, f"{chk.kind} {_host(chk.connect_ip or rs.address)}:{chk.connect_port or rs.port}")
                real.checks.append(c)
            for c in real.checks:
                c.real = real
                if isinstance(c.config, TcpCheck):
                    self._prober_schedule(c)
                elif (url := self._exchange_url(c.config)) is not None:
                    self._prober_schedule(c, url)
                else:
                    self._due.push(c.state.next_at, c)
        self._apply_suspension()
        self._rearm()

    @staticmethod
    def _same_checks(old: Real, new: tuple[VirtualServer, RealServer, list[ServiceKey]]) -> bool:
        return old.rs.checkers == new[1].checkers

    def _prober_ready(self) -> TcpProber:
        if self._prober is None:
            self._prober = TcpProber()
            if self.lateness is not None:
                self._prober.record_lateness(True)
            asyncio.get_running_loop().add_reader(self._prober.fileno(), self._tcp_ready)
        return self._prober

    @staticmethod
    def _exchange_url(chk: Any) -> Url | None:
        """The url of an HTTP_GET the prober can run itself: plain HTTP and one url (TLS, and
        keepalived's url-by-url recovery over several, stay on the asyncio path)."""
        if isinstance(chk, HttpCheck) and not chk.tls and len(chk.urls) <= 1:
            return chk.urls[0] if chk.urls else Url()
        return None

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

    @staticmethod
    def _reported(c: Check) -> bool:
        """Whether the prober should hand over every result of ``c``, not only failures: while
        its verdict is not a steady up, or its weight follows the check."""
        return not c.state.up or c.state.failures > 0 or c.dynamic_weight is not None

    def _apply_suspension(self) -> None:
        """ha_suspend for TCP checks: the prober runs them, so they are paused and resumed as
        this router's mastership of the virtual server's address changes."""
        if self._prober is None:
            return
        now = asyncio.get_running_loop().time()
        for real in self.reals.values():
            if not real.vs.ha_suspend:
                continue
            suspended = self._suspended(real)
            for c in real.checks:
                if c.target is None:
                    continue
                if suspended:
                    self._prober.pause(c.token)
                else:
                    self._prober.resume(c.token, now)

    def _cancel(self, real: Real) -> None:
        for c in real.checks:
            c.cancelled = True
            self._due.remove(c)
            if c.target is not None and self._tokens.pop(c.token, None) is c:
                if self._prober is not None:
                    self._prober.unschedule(c.token)
                self._free_tokens.append(c.token)
            if c.task is not None:
                c.task.cancel()

    async def reload(self, config: Config) -> None:
        self._load(config)
        self._update_table()
        await self._apply()

    async def stop(self) -> None:
        for real in self.reals.values():
            self._cancel(real)
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self._prober is not None:
            asyncio.get_running_loop().remove_reader(self._prober.fileno())
            self._prober.close()
            self._prober = None
        for task in (getattr(self, "_tick_task", None), getattr(self, "_drift_task", None)):
            if task is not None:
                task.cancel()
        await self._omega()
        if self._sync_state is not None and hasattr(self.backend, "stop_sync_daemon"):
            from lvsfast.ipvs import wire

            sd = self.config.global_defs.lvs_sync_daemon if self.config else None
            if sd is not None:
                try:
                    await self.backend.stop_sync_daemon(wire.SyncDaemon(self._sync_state, sd.interface, sd.sync_id or 0))
                except Exception as exc:
                    log.error("lvs_sync_daemon stop: %s", exc)
            self._sync_state = None
        if self.backend is not None:
            try:
                await self.backend.close(None)
            except Exception as exc:
                log.error("data plane close failed: %s", exc)

    async def _omega(self) -> None:
        """``omega``: on shutdown, the real servers still up and a held quorum go down, so their
        notify_down and quorum_down scripts run (bounded, as a stop must end)."""
        scripts = []
        for real in self.reals.values():
            if real.vs.omega and real.up:  # keepalived's FIFO lines come with the scripts
                self.emit("real_server", virtual=real.vs.name, real=real.name, up=False)
            if real.vs.omega and real.up and real.rs.notify_down is not None:
                log.info("%s %s: DOWN (shutdown, omega)", real.vs.name, real.name)
                scripts.append(real.rs.notify_down)
        for vs in self.config.virtual_servers if self.config else ():
            if vs.omega:
                self.emit("quorum", virtual=vs.name, up=False)
            q = self._quorum.get(vs.name)
            if vs.omega and q is not None and q.up and vs.quorum_down is not None:
                log.info("%s: quorum lost (shutdown, omega)", vs.name)
                scripts.append(vs.quorum_down)
        if scripts:
            await asyncio.wait([asyncio.ensure_future(self._notify(sc.command, sc.user, sc.group)) for sc in scripts],
                               timeout=10)

    # ---- checks ----------------------------------------------------------------------------

    def _suspended(self, real: Real) -> bool:
        if not real.vs.ha_suspend:
            return False
        # ha_suspend: check only while this router holds the virtual server's address.
        return real.vs.address is not None and real.vs.address not in self._vips_mastered

    def _rearm(self) -> None:
        """Keep the one loop timer at the earliest due check or TCP deadline."""
        at = self._due.next_at()
        if self._prober is not None:
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
        if self._prober is not None:
            handed: list[tuple[int, int]] = []
            more = self._prober.tick(now, handed, START_BATCH, ahead) == START_BATCH
            self._tcp_results(handed)
        due = self._due.pop_due(now + ahead, START_BATCH)
        lateness = self.lateness
        for at, c in due:
            if lateness is not None:
                lateness.append(now - at)
            if c.real.vs.ha_suspend and self._suspended(c.real):
                c.state.next_at = now + c.state.timing.delay_loop
                self._due.push(c.state.next_at, c)
                continue
            c.running = True
            c.task = loop.create_task(self._attempt(c))
        if more or len(due) == START_BATCH:
            # More are due: let replies and timers in first, then go on.
            self._wake_at = now
            self._wake = loop.call_soon(self._tick)  # type: ignore[assignment]
        else:
            self._rearm()

    def _tcp_ready(self) -> None:
        handed: list[tuple[int, int]] = []
        self._prober.harvest(handed, asyncio.get_running_loop().time())
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
                self._finish(c, *self._http_verdict(c, err))
                continue
            if err == 0:
                self._finish(c, True, c.label + ": connected")
                continue
            chk = c.config
            why = (f"connect timed out after {chk.connect_timeout:g}s" if err == errno.ETIMEDOUT
                   else f"connect failed: {os.strerror(err)}")
            self._finish(c, False, f"TCP_CHECK {_host(chk.connect_ip or c.real.rs.address)}:"
                                   f"{chk.connect_port or c.real.rs.port or 0}: {why}")

    def _http_verdict(self, c: Check, err: int) -> tuple[bool, str]:
        """An exchange's run as the asyncio path words it: the answer judged, or what failed."""
        chk, url = c.config, c.exchange
        ip = chk.connect_ip or c.real.rs.address
        what = probes.http_what(chk, url, ip, chk.connect_port or c.real.rs.port or 0)
        if err == 0:
            return probes.judge(url, what, self._prober.response(c.token))
        if err == errno.ETIMEDOUT:
            return False, f"{what}: connect timed out after {chk.connect_timeout:g}s"
        if err == errno.ETIME:
            return False, f"{what}: no complete answer within {chk.connect_timeout:g}s"
        exc = OSError(err, os.strerror(err))
        if err in (errno.ECONNRESET, errno.EPIPE):
            return False, f"{what}: {exc.__class__.__name__}: {exc}"
        return False, f"{what}: connect failed: {exc.strerror}"

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

    async def _attempt(self, c: Check) -> None:
        ok, reason = await self._probe(c.real, c)
        c.task = None
        self._finish(c, ok, reason)

    def _finish(self, c: Check, ok: bool, reason: str) -> None:
        c.running = False
        if c.cancelled:
            return
        real = c.real
        change = c.state.result(asyncio.get_running_loop().time(), ok, reason)
        if change is not None:
            log.info("%s on %s: %s %s", c.label, real.vs.name, "UP" if change.up else "DOWN", change.reason)
            self._changed(real, change.up)
        elif c.dynamic_weight is not None:
            self._mark_dirty(real)
        if c.target is not None:
            if self._prober is not None:
                self._prober.next(c.token, c.state.next_at, self._reported(c))
        else:
            self._due.push(c.state.next_at, c)
        if self._wake is None or c.state.next_at < self._wake_at:
            self._rearm()

    async def _probe(self, real: Real, c: Check) -> tuple[bool, str]:
        chk = c.config
        ip = chk.connect_ip or real.rs.address
        port = chk.connect_port or real.rs.port or 0
        try:
            if isinstance(chk, TcpCheck):
                bind = (chk.bindto, chk.bind_port or 0) if chk.bindto else None
                ok, why = await probes.tcp(ip, port, chk.connect_timeout, bind)
                return ok, f"TCP_CHECK {_host(ip)}:{port}: {why}"
            if isinstance(chk, HttpCheck):
                ctx = self.ssl_ctx if chk.tls else None
                urls = chk.urls or (Url(),)
                if not c.state.up and not chk.fast_recovery and len(urls) > 1:
                    # keepalived recovers one url per delay_loop; fast_recovery checks them all at once.
                    ok, why = await probes.http(chk, urls[c.url_index], ip, port, ctx)
                    if not ok:
                        c.url_index = 0
                        return ok, why
                    c.url_index += 1
                    if c.url_index < len(urls):
                        return False, f"{why} (recovering: url {c.url_index} of {len(urls)} passed)"
                    c.url_index = 0
                    return ok, why
                for url in urls:
                    ok, why = await probes.http(chk, url, ip, port, ctx)
                    if not ok:
                        return ok, why
                return True, why
            if isinstance(chk, MiscCheck):
                g = self.config.global_defs if self.config else None
                ok, why, weight = await probes.misc(chk, bool(g and g.enable_script_security), g.script_user if g else None)
                if weight is not None:  # exit 0 leaves the weight as it was (keepalived: "unchanged")
                    c.dynamic_weight = weight
                return ok, why
            bind = (chk.bindto, chk.bind_port or 0) if chk.bindto else None
            if isinstance(chk, DnsCheck):
                return await protocols.dns(chk, ip, port, self.rng.randrange(1 << 16), bind)
            if isinstance(chk, UdpCheck):
                return await protocols.udp(chk, ip, port, self.rng.randbytes(16), bind)
            if isinstance(chk, SmtpCheck):
                helo = chk.helo_name or socket.gethostname()
                for host in chk.hosts or (None,):
                    h_ip = (host.connect_ip if host and host.connect_ip else ip)
                    h_port = (host.connect_port if host and host.connect_port else port)
                    h_bind = (host.bindto, host.bind_port or 0) if host and host.bindto else bind
                    ok, why = await protocols.smtp(chk, h_ip, h_port, helo, h_bind)
                    if not ok:
                        return ok, why
                return True, why
            if isinstance(chk, PingCheck):
                c.seq = (c.seq + 1) & 0xFFFF
                return await protocols.ping(ip, chk.connect_timeout, self.rng.randrange(1 << 16), c.seq)
            if isinstance(chk, FileCheck):
                files = self.config.vrrp_track_files if self.config else ()
                track = protocols.find_track_file(files, chk.track_file)
                ok, why, offset = protocols.file_verdict(chk, track, protocols.read_track_file(track.path if track else None))
                c.dynamic_weight = None if offset is None else max(0, real.rs.weight + offset)
                return ok, why
        except Exception as exc:  # a checker bug must not kill the loop; it is a failed check
            log.exception("%s: checker error", c.label)
            return False, f"{c.label}: internal error {exc!r}"
        return False, "unsupported checker"

    def _changed(self, real: Real, up: bool) -> None:
        for script in (real.rs.notify_up if up else real.rs.notify_down,):
            if script is not None:
                asyncio.ensure_future(self._notify(script.command, script.user, script.group))
        self.emit("real_server", virtual=real.vs.name, real=real.name, up=up)
        self._mark_dirty(real)

    async def _notify(self, command: str, user: str | None, group: str | None) -> None:
        g = self.config.global_defs if self.config else None
        try:
            argv, run_as = check_script(command, user=user or (g.script_user if g else None), group=group,
                                        security=bool(g and g.enable_script_security))
        except ScriptError as exc:
            log.error("notify script refused: %s", exc)
            return
        await run_script(argv, run_as=run_as, timeout=30)

    # ---- the table -------------------------------------------------------------------------

    def _mark_dirty(self, real: Real | None = None) -> None:
        if self._stale_vs is not None:
            if real is None:
                self._stale_vs = None
            else:
                self._stale_vs.add(real.vs.name)
        if not self._dirty:
            self._dirty = True
            # Gathered for FLUSH_DELAY: with thousands of servers each flush costs O(servers),
            # so a burst of changes must become one backend transaction, not one per change.
            asyncio.get_running_loop().call_later(FLUSH_DELAY, lambda: asyncio.ensure_future(self._flush()))

    async def _flush(self) -> None:
        self._dirty = False
        self._update_table()
        await self._apply()

    def _config_parts(self) -> tuple[Table, from_config.ConfiguredPairs, dict]:
        """What the config alone decides, made once per config: every real server at its
        configured weight, every configured (service, real server), and the drain_timeout of
        those whose timeout is not the default."""
        assert self.config is not None
        if self._per_config is None or self._per_config[0] is not self.config:
            full = from_config.full_table(self.config, self._keys_of)
            pairs, timeouts = from_config.configured(self.config, full, self._keys_of)
            self._per_config = (self.config, full, pairs, timeouts)
            self._vs_names = [(vs.name, vs) for vs in self.config.virtual_servers]
            self._vs_by_name = {name: vs for name, vs in self._vs_names}  # a name is formatted per call
        return self._per_config[1:]

    def healthy_table(self) -> Table:
        """The table as the checks leave it. After a check result only the virtual servers it
        touched are rebuilt, and the table says so (a Delta from the last one), so a backend
        that applied the last one diffs only them: one flip costs its virtual server, not the
        table."""
        assert self.config is not None
        full = self._config_parts()[0]
        stale = self._stale_vs
        self._stale_vs = set()
        last = self._healthy_last
        if stale is not None and last is not None and last.services is full.services and self._vs_disjoint:
            dests = dict(last.dests)
            changed: set[ServiceKey] = set()
            for name in stale:
                vs = self._vs_by_name.get(name)
                old = self._vs_dests.get(name, {})
                mine = {} if vs is None else self._healthy_dests(vs, full, self._reals_by_vs.get(name, []), name)
                self._vs_dests[name] = mine
                for key in old.keys() - mine.keys():
                    dests.pop(key, None)
                    changed.add(key)
                dests.update(mine)
                changed.update(mine)
            table = Table(full.services, dests, Delta(last, frozenset(changed)))
        else:
            # Everything again (a load): the real servers by virtual server, too.
            self._vs_dests.clear()
            # By the virtual server's identity: its name is a property, formatted on each call.
            self._reals_by_vs = group_by_vs(self.reals.values(), {id(vs): name for name, vs in self._vs_names})
            dests = {}
            per_vs = 0
            for name, vs in self._vs_names:
                mine = self._vs_dests[name] = self._healthy_dests(vs, full, self._reals_by_vs.get(name, []), name)
                dests.update(mine)
                per_vs += len(mine)
            # Two virtual servers on one service key (the later wins): rebuild in full each time.
            self._vs_disjoint = per_vs == len(dests)
            table = Table(full.services, dests)
        self._healthy_last = table
        return table

    def _healthy_dests(self, vs: VirtualServer, full: Table, reals: list[Real],
                       name: str | None = None) -> dict[ServiceKey, dict[DestKey, Dest]]:
        """One virtual server's real servers as its checks, quorum and sorry server leave them
        (``name``: the virtual server's, when the caller has it)."""
        assert self.config is not None
        keys = self._keys_of[id(vs)]
        # The full table's own mappings, copied only where a server differs from it: a virtual
        # server whose servers are all up at their weights costs no copy, and keeps objects
        # the backend applied last time (it skips those without a look).
        shared = full.dests
        if len(keys) == 1:
            inner = shared.get(keys[0])
            dests: dict[ServiceKey, dict[DestKey, Dest]] = {keys[0]: {} if inner is None else inner}
        else:
            dests = {k: shared[k] if k in shared else {} for k in keys}
        # Those without checks are up at their weight, in the full table already.
        alive_weight, checked = split_checked(reals)
        if checked or vs.sorry_server is not None:
            def own(k: ServiceKey) -> dict[DestKey, Dest]:
                if dests[k] is shared.get(k):
                    dests[k] = dict(dests[k])
                return dests[k]

        for real in checked:
            dyn = next((c.dynamic_weight for c in real.checks if c.dynamic_weight is not None), None)
            if dyn is None and real.up:
                alive_weight += real.rs.weight
                continue  # the full table has it already, at its configured weight
            for key in real.keys:
                d = from_config.dest(vs, real.rs, key)
                if dyn is not None:
                    d = replace(d, weight=dyn)
                if real.up:
                    own(key)[d.key] = d
                elif real.rs.inhibit_on_failure or vs.inhibit_on_failure:
                    own(key)[d.key] = replace(d, weight=0)
                else:
                    own(key).pop(d.key, None)
            if real.up:
                alive_weight += dyn if dyn is not None else real.rs.weight
        if name is None:
            name = vs.name
        q = self._quorum.get(name)
        if q is None or q.quorum != vs.quorum or q.hysteresis != vs.hysteresis:
            q = self._quorum[name] = Quorum(vs.quorum, vs.hysteresis, q.up if q else None)
        change = q.update(alive_weight)
        if change is not None:
            self._quorum_changed(vs, change)
        if vs.sorry_server is None:
            return dests
        for key in keys:
            d = from_config.dest(vs, vs.sorry_server, key, weight=1)
            if not q.up:
                # Quorum lost: the sorry server takes over from the alive real servers.
                for real in reals:
                    for k in real.keys if real.up else ():
                        if k in dests:
                            own(k).pop(from_config.dest(vs, real.rs, k).key, None)
                own(key)[d.key] = d
            elif vs.sorry_server.inhibit:
                # sorry_server_inhibit: the idle sorry server stays in at weight 0.
                own(key)[d.key] = replace(d, weight=0)
        return dests

    def _quorum_changed(self, vs: VirtualServer, change: QuorumChange) -> None:
        log.info("%s: quorum %s (%s)%s", vs.name, "gained" if change.up else "lost", change.reason,
                 "; sorry server " + ("out" if change.up else "in") if vs.sorry_server is not None else "")
        script = vs.quorum_up if change.up else vs.quorum_down
        if script is not None:
            asyncio.ensure_future(self._notify(script.command, script.user, script.group))
        self.emit("quorum", virtual=vs.name, up=change.up)

    def _update_table(self) -> None:
        _, configured, timeouts = self._config_parts()
        self.pool.update(self.healthy_table(), configured, timeouts, asyncio.get_running_loop().time())
        for line in self.pool.log:
            log.info(line)
        self.pool.log.clear()

    async def _apply(self) -> None:
        if self.backend is None:
            return
        async with self._backend_lock:  # one backend transaction at a time (its view of the kernel)
            try:
                ops = await self.backend.apply(self.pool.table())
                self.applied += len(ops)
                self.last_error = ""
                if len(ops) >= TRIM_AFTER_OPS:
                    heap.trim()  # a big transaction's garbage goes back to the kernel, not to our RSS
            except Exception as exc:
                self.last_error = str(exc)
                log.error("data plane update failed: %s", exc)

    async def _repair_drift(self) -> None:
        """Put back what something outside lvsfast changed in our kernel entries (``drift_repair``).

        On nftables the kernel tells us: another process's transaction touching our table wakes
        this at once (a short pause lets the rest of an outside script land). IPVS sends no
        change notifications, so there, and as a backstop everywhere, the kernel is compared with
        the desired table every 2 s, stretched to ten times the cost of one comparison so a huge
        table never keeps a core busy. Entries we do not own are never touched: the backends
        only diff what they own.
        """
        loop = asyncio.get_running_loop()
        kicked = asyncio.Event()
        causes: list[object] = []

        def outside(change: object) -> None:
            causes.append(change)
            kicked.set()

        interval = DRIFT_INTERVAL
        while True:
            if self.backend is not None and hasattr(self.backend, "watch") and self._drift_on():
                try:
                    self.backend.watch(outside)
                except OSError as exc:
                    log.warning("nftables change notifications unavailable (%s): periodic comparison only", exc)
            try:
                await asyncio.wait_for(kicked.wait(), interval)
                await asyncio.sleep(DRIFT_SETTLE)
            except TimeoutError:
                pass
            kicked.clear()
            found = ", ".join(dict.fromkeys(str(c) for c in causes)) or "periodic comparison"
            causes.clear()
            if self.backend is None or not self._drift_on():
                continue
            t0 = loop.time()
            async with self._backend_lock:
                try:
                    if hasattr(self.backend, "refresh"):
                        await self.backend.refresh()
                        ops = await self.backend.apply(self.pool.table())
                    else:
                        ops = await self.backend.apply(self.pool.table(), reread=True)
                except Exception as exc:
                    log.error("drift check failed: %s", exc)
                    ops = []
            if ops:
                self.repairs += 1
                shown = "; ".join(str(op) for op in ops[:5]) + (f"; and {len(ops) - 5} more" if len(ops) > 5 else "")
                log.warning("kernel entries changed outside lvsfast (found by %s); restored %d: %s",
                            found, len(ops), shown)
            interval = max(DRIFT_INTERVAL, 10 * (loop.time() - t0))

    def _drift_on(self) -> bool:
        return self.config is not None and self.config.global_defs.drift_repair

    async def _drain_ticker(self) -> None:
        while True:
            await asyncio.sleep(1)
            if not self.pool.draining:
                continue
            try:
                active = await self._connections(list(self.pool.draining))
            except Exception as exc:
                log.debug("connection counts unavailable: %s", exc)
                active = {pair: 1 for pair in self.pool.draining}  # unknown: wait for drain_timeout
            if self.pool.tick(asyncio.get_running_loop().time(), active):
                for line in self.pool.log:
                    log.info(line)
                self.pool.log.clear()
                await self._apply()

    async def _connections(self, pairs: list) -> dict:
        """Connections still using each draining real server: IPVS's counters, or conntrack's
        entries DNATed to it (nftables)."""
        out: dict = {}
        if hasattr(self.backend, "dest_states"):
            for skey in {s for s, _ in pairs}:
                for st in await self.backend.dest_states(skey):
                    out[(skey, st.dest.key)] = st.active_conns + st.inactive_conns
            return {p: out.get(p, 0) for p in pairs}
        from lvsfast.nft.conntrack import connections

        counts = await connections()
        return {pair: counts.get(pair, 0) for pair in pairs}

    def _save_overrides(self) -> None:
        from lvsfast.dataplane import runtime_state

        try:
            runtime_state.save(self.state_path, self.pool.overrides)
        except OSError as exc:
            log.error("runtime state not saved to %s: %s", self.state_path, exc)

    @property
    def state_path(self) -> str:
        sock = getattr(self.options, "control_socket", None)
        if sock and sock != DEFAULT_CONTROL_SOCKET:
            return f"{sock}.state.json"  # two daemons on one host keep separate state
        return "/var/lib/lvsfast/runtime-state.json"

    # ---- control ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        table = self.pool.table()
        out: dict[str, Any] = {"backend": self.backend_name, "last_error": self.last_error, "virtual_servers": {}}
        for real in self.reals.values():
            vs = out["virtual_servers"].setdefault(real.vs.name, {"real_servers": {}})
            weight = None
            for key in real.keys:
                d = table.dests.get(key, {}).get(DestKey(canonical_address(real.rs.address),
                                                         real.rs.port or key.port))
                weight = d.weight if d else None
            ov = next((o for (k, d), o in self.pool.overrides.items() if k in real.keys
                       and d.address == canonical_address(real.rs.address)), None)
            vs["real_servers"][real.name] = {
                "up": real.up, "weight": weight, "configured_weight": real.rs.weight, "reason": real.reason(),
                "override": None if ov is None else {"state": ov.state, "weight": ov.weight},
                "checkers": [{"check": c.label, "up": c.state.up, "runs": self._runs(c)} for c in real.checks],
            }
        return out

    def stats(self, clear: bool = False) -> dict[str, Any]:
        return {"applied_ops": self.applied, "drift_repairs": self.repairs,
                "checks": sum(self._runs(c) for r in self.reals.values() for c in r.checks)}

    def _runs(self, c: Check) -> int:
        # The prober runs TCP checks and counts them; it tells the state only what it must.
        if c.target is not None and self._prober is not None:
            return self._prober.runs(c.token)
        return c.state.runs

    async def command(self, op: str, args: dict[str, Any]) -> Any:
        if op != "server":
            raise ValueError(f"unknown command {op!r}")
        action, vip, rsv = args.get("action"), args.get("virtual", ""), args.get("real", "")
        matches = [(k, d) for real in self.reals.values() for k in real.keys
                   if f"{_host(k.address or '')}:{k.port}" == vip
                   for d in [DestKey(canonical_address(real.rs.address), real.rs.port or k.port)]
                   if f"{_host(d.address)}:{d.port}" == rsv]
        if not matches:
            raise ValueError(f"no real server {rsv} in virtual server {vip}")
        ov = {"drain": Override("drain"), "disable": Override("disable"), "enable": Override(),
              "weight": Override(weight=args.get("weight"))}[action]
        now = asyncio.get_running_loop().time()
        msgs = [self.pool.set_override(pair, ov, now) for pair in matches]
        self._save_overrides()
        await self._apply()
        return "; ".join(msgs)

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "vrrp_state":
            vips = set(event.get("vips", []))
            if event.get("state") == "MASTER":
                self._vips_mastered |= vips
            else:
                self._vips_mastered -= vips
            self._apply_suspension()
            self._rearm()
            sd = self.config.global_defs.lvs_sync_daemon if self.config else None
            if sd is not None and event.get("instance") == sd.vrrp_instance:
                asyncio.ensure_future(self._sync_daemon("master" if event.get("state") == "MASTER" else "backup"))

    # ---- IPVS extras: connection timeouts and the sync daemon (keepalived's global_defs) -------

    async def _ipvs_extras(self) -> None:
        if not hasattr(self.backend, "set_timeouts") or self.config is None:
            return
        from lvsfast.ipvs import wire

        g = self.config.global_defs
        t = g.lvs_timeouts
        if t is not None and (t.tcp or t.tcpfin or t.udp):
            try:
                await self.backend.set_timeouts(wire.Timeouts(t.tcp or 0, t.tcpfin or 0, t.udp or 0))
            except Exception as exc:
                log.error("lvs_timeouts: %s", exc)
        if g.lvs_sync_daemon is not None:
            # keepalived starts as a sync backup; the VRRP instance's mastership switches it.
            await self._sync_daemon("backup")

    async def _sync_daemon(self, state: str) -> None:
        sd = self.config.global_defs.lvs_sync_daemon if self.config else None
        if sd is None or not hasattr(self.backend, "start_sync_daemon") or state == self._sync_state:
            return
        from lvsfast.ipvs import wire

        def daemon(st: str) -> "wire.SyncDaemon":
            return wire.SyncDaemon(st, sd.interface, sd.sync_id or 0, sd.maxlen or 0, sd.group or "", sd.port or 0,
                                   sd.ttl or 0)
        try:
            if self._sync_state is not None:
                await self.backend.stop_sync_daemon(daemon(self._sync_state))
            await self.backend.start_sync_daemon(daemon(state))
            self._sync_state = state
            log.info("lvs_sync_daemon on %s: %s (instance %s)", sd.interface, state, sd.vrrp_instance)
        except Exception as exc:
            log.error("lvs_sync_daemon %s: %s", state, exc)
