"""The parent process: forks the VRRP and checker children, restarts them, owns signals and reload.

Signals follow keepalived: HUP reloads, TERM/INT stop, USR1 writes the data dump, USR2 the
stats, keepalived's JSON signal the JSON dump. A reload parses and validates the whole new
config; a broken one is reported (log and systemd STATUS) and the running config stays in
force. The checker child reads the files itself and applies its reading when it is valid while
the parent reads them too (see Supervisor.reload); other children receive the parent's
validated model itself, never a path to re-read.
"""
from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from lvsfast import heap
from lvsfast.daemon import backoff
from lvsfast.daemon.channel import Channel, ChannelClosed
from lvsfast.daemon.child import NOT_READ_HERE, fork_child
from lvsfast.daemon.fifos import Fifos, run_start_stop
from lvsfast.daemon.sdnotify import Notifier
from lvsfast.daemon.subsystem import READS_ITS_OWN, config_view

log = logging.getLogger("lvsfast.parent")

# keepalived's --signum values on Linux: DATA=USR1, STATS=USR2, STATS_CLEAR=SIGRTMIN+29, JSON=SIGRTMIN+2.
SIG_JSON = signal.SIGRTMIN + 2
SIG_STATS_CLEAR = signal.SIGRTMIN + 29
# How long the parent lets a stopping VRRP child hold its VIPs before it stops the checker anyway
# (the hold itself ends by a successor's advert, or about two advert intervals).
VRRP_STOP_WAIT = 5.0


@dataclass
class ChildState:
    name: str
    factory: str
    pid_path: str | None
    pid: int = 0
    channel: Channel | None = None
    started: float = 0.0
    failures: int = 0
    restarts: int = 0
    last_exit: str = ""
    restart_handle: asyncio.TimerHandle | None = None
    pidfd: int = -1
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    sock: socket.socket | None = None  # forked before the supervisor ran (daemon.main): its channel's end


@dataclass
class Supervisor:
    """Runs in the parent on its own event loop. ``load_config`` raises on a broken config."""

    options: Any
    load_config: Callable[[], Any]
    children: dict[str, ChildState]
    notifier: Notifier = field(default_factory=Notifier)
    dump_dir: str = "/tmp"
    config: Any = None
    _stopping: bool = False
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    reloads: int = 0
    failed_reloads: int = 0
    own_readings: int = 0  # reloads a child took from its own reading of the files
    last_reload_error: str = ""
    alerts: Any = None  # daemon/alerts.AlertPolicy, when the config sends mail
    mailer: Any = None  # daemon/smtp.Mailer
    fifos: Fifos | None = None
    snmp: Any = None  # daemon/snmp_agent.Agent, when an SNMP keyword or -x asks for it

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self, config: Any) -> int:
        self.config = config
        self._setup_alerts(config)
        self._setup_snmp(config)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(self.stop()))
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(self.stop()))
        loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(self.write_dump("data")))
        loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(self.write_dump("stats")))
        loop.add_signal_handler(SIG_STATS_CLEAR, lambda: asyncio.ensure_future(self.write_dump("stats", clear=True)))
        loop.add_signal_handler(SIG_JSON, lambda: asyncio.ensure_future(self.write_dump("json")))
        g = getattr(config, "global_defs", None)
        if g is not None:
            # keepalived's order: the FIFOs and the startup script before any child starts.
            self.fifos = Fifos(g)
            await self.fifos.open()
            await run_start_stop(g, "startup")
        for child in self.children.values():
            if child.sock is not None:
                self._adopt(child, child.pid, child.sock)
            elif not self._stopping:  # a TERM during the startup script: no child starts
                self._spawn(child)
        watchdog = asyncio.create_task(self._watchdog()) if self.notifier.watchdog_interval else None
        heap.trim()
        self.notifier.ready("running")
        log.info("lvsfast started, children: %s", ", ".join(f"{c.name}={c.pid}" for c in self.children.values()))
        await self._done.wait()
        if self.mailer is not None:
            self.mailer.close()
        if self.snmp is not None:
            self.snmp.close()
        if watchdog:
            watchdog.cancel()
        # After every child has gone, as keepalived: the FIFOs close, then the shutdown script.
        if self.fifos is not None:
            await self.fifos.close()
        if g is not None:
            await run_start_stop(getattr(self.config, "global_defs", g), "shutdown")
        return 0

    def _spawn(self, child: ChildState) -> None:
        def in_child() -> None:  # never return into the parent's loop; hold none of its ends
            for other in self.children.values():
                if other.channel is not None:
                    other.channel._sock.close()
            if self.fifos is not None:
                self.fifos.forget_in_child()
            asyncio.set_event_loop(None)

        pid, sock = fork_child(child.name, child.factory, config_view(child.name, self.config), self.options,
                               child.pid_path, self.load_config, in_child)
        child.started = time.monotonic()
        self._adopt(child, pid, sock)

    def _adopt(self, child: ChildState, pid: int, sock: socket.socket) -> None:
        """Supervise ``child``, running as ``pid`` at the other end of ``sock``."""
        child.sock = None
        child.pid = pid
        child.exited.clear()
        child.channel = Channel(sock)
        self._watch_exit(child)
        asyncio.ensure_future(child.channel.start(self._on_child_request(child), self._on_child_event(child)))

    def _on_child_request(self, child: ChildState):
        async def handler(msg: dict[str, Any]) -> Any:
            raise ValueError(f"the parent serves no requests ({msg.get('op')!r} from {child.name})")
        return handler

    def _on_child_event(self, source: ChildState):
        def handler(event: dict[str, Any]) -> None:
            if self.alerts is not None:
                self._alert(event)
            if self.snmp is not None:
                self.snmp.event(event)
            if self.fifos:
                self.fifos.lvs_event(self.config, event)
            # Relay to the other children: e.g. VRRP mastership for the checker's ha_suspend.
            for other in self.children.values():
                if other is not source and other.channel is not None:
                    other.channel.event(event.get("event", "event"), **{k: v for k, v in event.items() if k != "event"})
        return handler

    def _setup_alerts(self, config: Any) -> None:
        """SMTP alerts: imported only when the config names recipients and a server."""
        g = getattr(config, "global_defs", None)  # the daemon tests' stand-in configs have none
        if g is None or not (g.notification_email and g.smtp_server):
            if self.mailer is not None:
                self.mailer.close()
            self.alerts = self.mailer = None
            return
        from lvsfast.daemon.alerts import AlertPolicy
        from lvsfast.daemon.smtp import Mailer

        old = self.alerts
        self.alerts = AlertPolicy(config, host_name=old.host_name or None if old is not None else None)
        if old is not None:
            self.alerts.carry(old)
        if self.mailer is None:
            self.mailer = Mailer(self.alerts.settings)
        else:
            self.mailer.settings = self.alerts.settings

    def _setup_snmp(self, config: Any) -> None:
        """The AgentX subagent: imported only when a keyword or -x enables SNMP."""
        g = getattr(config, "global_defs", None)
        extra = getattr(g, "extra", ()) or ()
        if not getattr(self.options, "snmp", False) and not any(
                k.startswith(("enable_snmp", "enable_traps")) for k, _ in extra):
            if self.snmp is not None:
                self.snmp.close()
                self.snmp = None
            return
        from lvsfast.daemon.snmp_agent import Agent
        from lvsfast.snmp.settings import from_config

        settings = from_config(config, self.options)
        router_id = getattr(g, "router_id", None) or socket.gethostname()
        if not settings.enabled:  # enable_traps alone serves nothing, as keepalived
            if self.snmp is not None:
                self.snmp.close()
            self.snmp = None
            return
        if self.snmp is None:
            self.snmp = Agent(settings, config, lambda child: self.ask(child, "status", timeout=3), router_id)
            self.snmp.start()
        else:
            self.snmp.update(settings, config, router_id)

    def _alert(self, event: dict[str, Any]) -> None:
        try:
            alert = self.alerts.decide(event)
        except Exception:  # an alert bug must not stop the relay to the other child
            log.exception("SMTP alert for %r", event)
            return
        if alert is not None:
            self.mailer.submit(alert)

    def _watch_exit(self, child: ChildState) -> None:
        # uvloop reserves SIGCHLD, so each child is watched through a pidfd instead.
        child.pidfd = os.pidfd_open(child.pid)
        asyncio.get_running_loop().add_reader(child.pidfd, self._reap, child)

    def _reap(self, child: ChildState) -> None:
        try:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = child.pid, 0
        if pid == 0:
            return
        asyncio.get_running_loop().remove_reader(child.pidfd)
        os.close(child.pidfd)
        child.pidfd = -1
        self._child_exited(child, status)

    def _child_exited(self, child: ChildState, status: int) -> None:
        child.last_exit = backoff.describe_exit(status)
        child.pid = 0
        child.exited.set()
        if child.channel is not None:
            child.channel.close()
            child.channel = None
        if self._stopping:
            log.info("%s child %s", child.name, child.last_exit)
            if all(c.pid == 0 for c in self.children.values()):
                self._done.set()
            return
        if getattr(self.options, "dont_respawn", False):  # -R: keepalived stops as a whole
            log.error("%s child %s: not restarting (-R), exiting", child.name, child.last_exit)
            asyncio.ensure_future(self.stop())
            return
        plan = backoff.next_restart(child.failures, time.monotonic() - child.started)
        child.failures = plan.failures
        log.error("%s child %s; restarting in %.1fs", child.name, child.last_exit, plan.delay)
        self.notifier.status(f"{child.name} child {child.last_exit}, restarting")

        def restart() -> None:
            child.restart_handle = None
            if not self._stopping:
                child.restarts += 1
                self._spawn(child)

        child.restart_handle = asyncio.get_running_loop().call_later(plan.delay, restart)

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval or 1.0
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    # ---- operations ------------------------------------------------------------------------

    async def reload(self) -> dict[str, Any]:
        """Validate the new config; on success hand it to the children, else keep the old one.

        The checker (the child whose view is the whole table) reads the files first and, when
        its reading is valid, applies it at once; this process reads and checks them meanwhile.
        Its reading of the same bytes reaches the same verdict, so usually it only confirms.
        Two readings of a large file at once slow each other (memory, and an emulated machine's
        host cores) and the checker no longer waits for ours; when no other child waits for
        our reading either (``-C``), it starts once the checker has applied. When the files
        changed between the two readings the checker takes our reading instead, or, when ours
        fails, goes back to the running config: a broken config still never stays in force.
        """
        self.notifier.reloading()
        t0 = time.perf_counter()
        readers = [c for c in self.children.values() if c.channel is not None and c.name in READS_ITS_OWN]
        parses = await asyncio.gather(*(c.channel.request("parse", timeout=300) for c in readers),  # type: ignore[union-attr]
                                      return_exceptions=True)
        applying: dict[str, tuple[str, "asyncio.Future[Any]"]] = {}
        for c, digest in zip(readers, parses):
            if isinstance(digest, BaseException) or not digest or c.channel is None:
                # Its reading failed (ours will say why) or cannot be matched (${_RANDOM}).
                log.debug("%s child's own reading not used: %s", c.name, digest)
                continue
            applying[c.name] = (digest, asyncio.ensure_future(
                c.channel.request("reload", parsed=digest, timeout=300)))
        if applying and all(c.name in applying for c in self.children.values() if c.channel is not None):
            # No child waits for our reading (checker only, -C): it comes after their applying,
            # which it would only slow down.
            await asyncio.gather(*(fut for _, fut in applying.values()), return_exceptions=True)
        await asyncio.sleep(0)  # the requests leave before our own reading holds the loop
        try:
            new = self.load_config()
        except Exception as exc:
            self.failed_reloads += 1
            self.last_reload_error = str(exc)
            if applying:
                await self._back_to_running(applying)
            log.error("reload failed, keeping the running configuration:\n%s", exc)
            self.notifier.send(ready=1, status=f"reload failed, running previous config: {str(exc).splitlines()[0]}")
            return {"ok": False, "error": str(exc)}
        self.config = new
        self._setup_alerts(new)
        self._setup_snmp(new)
        if self.fifos is not None and getattr(new, "global_defs", None) is not None:
            await self.fifos.reload(new.global_defs)
        for w in getattr(new, "warnings", ()):  # as at start: every reload says them again
            log.warning("%s", w)
        log.info("reload: the new config read and checked in %.2f s", time.perf_counter() - t0)
        live = [c for c in self.children.values() if c.channel is not None]  # a restarting child
        # picks the new config up when it forks. Each child's view is pickled once (unless it
        # read the files itself), and all children take theirs in at the same time.
        digest = getattr(new, "source_digest", "")
        own = {name for name, (d, _) in applying.items() if digest and d == digest}
        self.own_readings += len(own)
        answers = await asyncio.gather(*(self._take(c, new, applying.get(c.name), c.name in own) for c in live),
                                       return_exceptions=True)
        errors = []
        for c, a in zip(live, answers):
            if isinstance(a, (ChannelClosed, RuntimeError, asyncio.TimeoutError)):
                errors.append(f"{c.name}: {a}")
            elif isinstance(a, BaseException):
                raise a
        self.reloads += 1
        heap.trim()  # the old config and the parse's garbage
        if errors:
            log.error("reload applied with errors: %s", "; ".join(errors))
        else:
            log.info("reload complete in %.2f s", time.perf_counter() - t0)
        self.notifier.ready("running")
        return {"ok": not errors, "error": "; ".join(errors)}

    async def _take(self, child: ChildState, new: Any, applying: tuple[str, "asyncio.Future[Any]"] | None,
                    own: bool) -> Any:
        """``child`` ends up running ``new``: it already applies its own reading of the same
        files (``own``), or, after what it applied of another reading, takes our copy."""
        if applying is not None:
            try:
                done = await applying[1]
            except RuntimeError as exc:
                if NOT_READ_HERE not in str(exc):
                    raise
                done = None  # it lost its reading (restarted in between)
            if own and done is not None:
                return done
            log.info("%s child read other files than ours (changed during the reload): it takes our reading",
                     child.name)
        return await self._hand_over(child, new)

    async def _back_to_running(self, applying: dict[str, tuple[str, "asyncio.Future[Any]"]]) -> None:
        """Our reading failed after a child applied its own (the files changed in between):
        the child goes back to the running config."""
        for name, (_, fut) in applying.items():
            try:
                await fut
            except Exception:
                pass
            child = self.children.get(name)
            if child is None or child.channel is None:
                continue
            log.error("%s child had applied a reading of the files from before they changed; "
                      "it goes back to the running configuration", name)
            try:
                await self._hand_over(child, self.config)
            except (ChannelClosed, RuntimeError, asyncio.TimeoutError) as exc:
                log.error("%s child: going back to the running configuration failed: %s", name, exc)

    async def _hand_over(self, child: ChildState, config: Any) -> Any:
        """The child takes our reading of ``config``, pickled (its own view of it)."""
        assert child.channel is not None
        blob = pickle.dumps(config_view(child.name, config), protocol=pickle.HIGHEST_PROTOCOL)
        return await child.channel.request("reload", config_pickle=blob, timeout=300)

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.notifier.stopping()
        log.info("stopping")
        # VRRP first, and the others once it has gone: a stopping master holds its VIPs until a
        # successor speaks, and its virtual servers must keep serving them until then.
        for child in sorted(self.children.values(), key=lambda c: c.name != "vrrp"):
            if child.restart_handle is not None:
                child.restart_handle.cancel()
            if child.channel is not None:
                try:
                    # A checker announcing VIPs waits announce_withdraw_delay after withdrawing them.
                    g = getattr(self.config, "global_defs", None)
                    await child.channel.request("stop", timeout=5 + (g.announce_withdraw_delay if g else 0))
                except (ChannelClosed, RuntimeError, asyncio.TimeoutError):
                    if child.pid:
                        os.kill(child.pid, signal.SIGTERM)
            if child.name == "vrrp" and child.pid and len(self.children) > 1:
                try:
                    await asyncio.wait_for(child.exited.wait(), VRRP_STOP_WAIT)
                except asyncio.TimeoutError:
                    log.warning("vrrp child still stopping after %.0f s; stopping the others", VRRP_STOP_WAIT)
        if all(c.pid == 0 for c in self.children.values()):
            self._done.set()
        # A child that ignores the stop is killed after a grace period.
        try:
            await asyncio.wait_for(self._done.wait(), 30)
        except asyncio.TimeoutError:
            for child in self.children.values():
                if child.pid:
                    log.error("%s child did not stop; killing it", child.name)
                    os.kill(child.pid, signal.SIGKILL)

    async def ask(self, child_name: str, op: str, **args: Any) -> Any:
        child = self.children.get(child_name)
        if child is None or child.channel is None:
            raise RuntimeError(f"the {child_name} child is not running")
        return await child.channel.request(op, **args)

    async def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pid": os.getpid(),
            "reloads": self.reloads,
            "own_readings": self.own_readings,
            "failed_reloads": self.failed_reloads,
            "last_reload_error": self.last_reload_error,
            "children": {},
        }
        if self.mailer is not None:
            out["smtp_alerts"] = self.mailer.status()
        if self.snmp is not None:
            out["snmp"] = self.snmp.status()
        for child in self.children.values():
            entry: dict[str, Any] = {
                "pid": child.pid,
                "restarts": child.restarts,
                "last_exit": child.last_exit,
            }
            if child.channel is not None:
                try:
                    entry["status"] = await child.channel.request("status", timeout=5)
                except (ChannelClosed, RuntimeError, asyncio.TimeoutError) as exc:
                    entry["error"] = str(exc)
            out["children"][child.name] = entry
        return out

    async def write_dump(self, kind: str, clear: bool = False) -> None:
        """keepalived's dump file for ``kind`` (data, stats, json), in keepalived 2.2.7's format,
        from the VRRP child's status answer (lvsfast's richer status stays in lvsfastctl); on
        USR1 the checker child's keepalived_check.data too, as keepalived's checker writes it
        (it answers no other dump signal). Each file only when its child runs, as keepalived's."""
        from lvsfast.daemon.keepalived_dump import RENDERERS, dump_path  # only when a dump signal arrives

        checker = self.children.get("checker")
        if kind == "data" and checker is not None and checker.channel is not None:
            # Both children's files at once: a large checker table must not hold the VRRP one back.
            asyncio.ensure_future(self._write_check_data(checker.channel, dump_path(
                self.options, self.config, self.dump_dir, "check_data")))
        child = self.children.get("vrrp")
        if child is None:
            return
        status: dict[str, Any] = {}
        if child.channel is not None:
            try:
                status = await child.channel.request("status", timeout=5)
            except (ChannelClosed, RuntimeError, asyncio.TimeoutError) as exc:
                log.warning("%s dump: the VRRP child did not answer: %s", kind, exc)
        if clear and status and child.channel is not None:  # written as they were, then cleared, as keepalived's STATS_CLEAR
            try:
                await child.channel.request("stats", clear=True, timeout=5)
            except (ChannelClosed, RuntimeError, asyncio.TimeoutError) as exc:
                log.warning("stats not cleared: %s", exc)
        text = RENDERERS[kind](status)
        if kind == "json" and not text:
            return
        self._write_dump_file(dump_path(self.options, self.config, self.dump_dir, kind), text)

    @staticmethod
    async def _write_check_data(channel: Channel, path: str) -> None:
        try:  # the checker writes it: a large table's text is not sent over the channel
            await channel.request("command", name="keepalived_data", args={"path": path}, timeout=60)
            log.info("wrote %s", path)
        except (ChannelClosed, RuntimeError, asyncio.TimeoutError) as exc:
            log.warning("check data dump: the checker child did not answer: %s", exc)

    @staticmethod
    def _write_dump_file(path: str, text: str) -> None:
        tmp = f"{path}.{os.getpid()}.tmp"
        # Owner-only, as keepalived's (its umask 0177): the file names the addresses and state.
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(text)
        os.replace(tmp, path)
        log.info("wrote %s", path)
