"""The parent's notify FIFOs, their reader scripts, and the startup/shutdown scripts.

keepalived 2.2.7's behaviour, kept here:
- each FIFO (``notify_fifo``, ``vrrp_notify_fifo``, ``lvs_notify_fifo``) is created (mode 0644)
  when missing, and removed at stop only when it was created; its ``*_fifo_script`` runs for
  the daemon's whole life with the FIFO's path as its last argument, and reads the lines;
- the FIFO is held open read-write and non-blocking, so lines queue in the pipe until a reader
  comes, a writer never waits, and a full pipe drops the line (logged here: keepalived is silent);
- ``lvs_notify_fifo`` equal to ``notify_fifo`` is ignored (the lines would come twice); when
  ``lvs_notify_fifo`` and ``vrrp_notify_fifo`` are one FIFO with two scripts, the VRRP one runs;
- ``startup_script`` runs before the children start, ``shutdown_script`` after they stopped,
  each killed at its timeout (default 10 s), under the same script security as other scripts.

The parent owns the FIFOs (so their scripts run once, whatever children run): the VRRP child
writes its lines into the same FIFO (``vrrp/notify.py``), the parent writes the checker's lines
from the checker's events (``daemon/lvs_notify.py`` formats them), never in the checker's way.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import stat
from dataclasses import dataclass
from typing import Any

from lvsfast.daemon.lvs_notify import rs_line, split_real_name, vs_line
from lvsfast.scripts import ScriptError, check_script, run_script

log = logging.getLogger("lvsfast.parent")

SCRIPT_STOP_GRACE = 1.0  # a reader gets this long to leave on end of file before SIGTERM


@dataclass(frozen=True, slots=True)
class FifoPlan:
    path: str
    script: Any  # config Script or None
    lvs: bool  # gets the checker's RS/VS lines


def plan_fifos(g: Any) -> list[FifoPlan]:
    """Which FIFOs the parent opens, with which reader script, from ``global_defs``."""
    out: dict[str, FifoPlan] = {}

    def add(fifo: Any, script: Any, lvs: bool) -> None:
        if fifo is None:
            return
        path = fifo.command
        old = out.get(path)
        if old is None:
            out[path] = FifoPlan(path, script, lvs)
        else:
            out[path] = FifoPlan(path, old.script or script, old.lvs or lvs)

    add(g.notify_fifo, g.notify_fifo_script, True)
    if g.vrrp_notify_fifo is not None and g.notify_fifo is not None and g.vrrp_notify_fifo.command == g.notify_fifo.command:
        log.info("notify FIFO %s has been specified for global and vrrp FIFO - ignoring vrrp FIFO",
                 g.vrrp_notify_fifo.command)
    else:
        add(g.vrrp_notify_fifo, g.vrrp_notify_fifo_script, False)
    if g.lvs_notify_fifo is not None and g.notify_fifo is not None and g.lvs_notify_fifo.command == g.notify_fifo.command:
        log.info("notify FIFO %s has been specified for global and LVS FIFO - ignoring LVS FIFO",
                 g.lvs_notify_fifo.command)
    else:
        add(g.lvs_notify_fifo, g.lvs_notify_fifo_script, True)
    return list(out.values())


class NotifyFifo:
    """One FIFO held open by the parent, and its reader script."""

    def __init__(self, plan: FifoPlan, *, user: str | None, security: bool) -> None:
        self.plan = plan
        self.path = plan.path
        self._user = user
        self._security = security
        self._fd: int | None = None
        self._created = False
        self._script: asyncio.subprocess.Process | None = None
        self.dropped = 0

    async def open(self) -> None:
        try:
            os.mkfifo(self.path, 0o644)
            self._created = True
        except FileExistsError:
            if not stat.S_ISFIFO(os.stat(self.path).st_mode):
                log.error("notify FIFO %s exists and is not a FIFO", self.path)
                return
        except OSError as exc:
            log.error("unable to create notify FIFO %s: %s", self.path, exc.strerror)
            return
        try:
            # Read-write: never ENXIO for want of a reader, and no EPIPE when the reader leaves.
            self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            log.error("unable to open notify FIFO %s: %s", self.path, exc.strerror)
            self._unlink()
            return
        if self.plan.script is not None:
            await self._start_script(self.plan.script)

    async def _start_script(self, script: Any) -> None:
        try:
            argv, run_as = check_script(script.command, user=script.user or self._user, group=script.group,
                                        security=self._security)
        except ScriptError as exc:
            log.error("notify FIFO %s script refused: %s", self.path, exc)
            return
        kwargs: dict = {}
        if os.geteuid() == 0 and run_as.uid != 0:
            kwargs.update(user=run_as.uid, group=run_as.gid, extra_groups=[])
        try:
            self._script = await asyncio.create_subprocess_exec(
                *argv, self.path, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, start_new_session=True, close_fds=True, **kwargs)
        except OSError as exc:
            log.error("notify FIFO %s script %s: %s", self.path, argv[0], exc.strerror)
            return
        log.info("notify FIFO %s: reader %s started (pid %d)", self.path, argv[0], self._script.pid)
        asyncio.ensure_future(self._watch_script(self._script))

    async def _watch_script(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if self._fd is not None:  # not our stop
            log.info("notify FIFO %s script terminated (%s)", self.path, code)

    async def update(self, plan: FifoPlan) -> None:
        """A reload changed this FIFO's script or lines: the FIFO itself stays (the VRRP child
        holds it open), the reader script is replaced when it changed."""
        old, self.plan = self.plan, plan
        if plan.script != old.script and self._fd is not None:
            await self._stop_script()
            if plan.script is not None:
                await self._start_script(plan.script)

    def write(self, line: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line.encode())
        except OSError as exc:
            # EAGAIN: the pipe is full (a slow or absent reader): the line is dropped, never waited for.
            self.dropped += 1
            log.warning("notify FIFO %s: line dropped (%s): %s", self.path,
                        "full" if exc.errno == errno.EAGAIN else exc.strerror, line.rstrip())

    async def close(self) -> None:
        # Unlink first, so a reader that loops reopening the FIFO cannot open it again.
        self._unlink()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        await self._stop_script()

    async def _stop_script(self) -> None:
        """Once the FIFO is closed the reader has end of file and a moment to end by itself;
        then (at once while the FIFO stays open) SIGTERM to its process group, then SIGKILL."""
        proc, self._script = self._script, None
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), SCRIPT_STOP_GRACE if self._fd is None else 0)
            except asyncio.TimeoutError:
                _killpg(proc.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), SCRIPT_STOP_GRACE)
                except asyncio.TimeoutError:
                    _killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()

    def _unlink(self) -> None:
        if self._created:
            self._created = False
            try:
                os.unlink(self.path)
            except OSError:
                pass


class Fifos:
    """The parent's FIFOs; ``lvs_event`` turns a checker event into keepalived's line."""

    def __init__(self, g: Any) -> None:
        self._fifos = [NotifyFifo(p, user=g.script_user, security=g.enable_script_security) for p in plan_fifos(g)]
        self._index: tuple[int, dict[str, Any]] = (0, {})

    def __bool__(self) -> bool:
        return bool(self._fifos)

    async def open(self) -> None:
        for f in self._fifos:
            await f.open()

    async def close(self) -> None:
        await asyncio.gather(*(f.close() for f in self._fifos))

    def forget_in_child(self) -> None:
        """In a freshly forked child: drop the inherited descriptors (a reader must see end of
        file when the parent closes a FIFO), touching neither the FIFOs nor their scripts."""
        for f in self._fifos:
            if f._fd is not None:
                os.close(f._fd)
                f._fd = None

    async def reload(self, g: Any) -> None:
        """A reload's FIFO settings: a FIFO no longer configured is closed (and removed when
        created here), a new one opened, one kept keeps its pipe and gets the new script."""
        plans = {p.path: p for p in plan_fifos(g)}
        keep: list[NotifyFifo] = []
        for f in self._fifos:
            p = plans.pop(f.path, None)
            if p is None:
                await f.close()
            else:
                await f.update(p)
                keep.append(f)
        for p in plans.values():
            f = NotifyFifo(p, user=g.script_user, security=g.enable_script_security)
            await f.open()
            keep.append(f)
        self._fifos = keep

    def lvs_event(self, config: Any, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind not in ("real_server", "quorum") or not any(f.plan.lvs for f in self._fifos):
            return
        vs = self._virtual(config, event.get("virtual"))
        if vs is None:
            log.debug("notify FIFO: no virtual server %r in the running config", event.get("virtual"))
            return
        if kind == "quorum":
            line = vs_line(vs, bool(event.get("up")))
        else:
            try:
                address, port = split_real_name(str(event.get("real")))
            except ValueError:
                return
            line = rs_line(vs, address, port, bool(event.get("up")))
        for f in self._fifos:
            if f.plan.lvs:
                f.write(line)

    def _virtual(self, config: Any, name: Any) -> Any:
        # Indexed once per configuration: events name virtual servers as the checker's logs do.
        if self._index[0] != id(config):
            self._index = (id(config), {vs.name: vs for vs in getattr(config, "virtual_servers", ())})
        return self._index[1].get(name)


async def run_start_stop(g: Any, which: str) -> bool | None:
    """Run ``startup_script`` or ``shutdown_script`` (``which``) to its end or its timeout.
    None when there is none (or it was refused), else whether it succeeded."""
    script = getattr(g, f"{which}_script")
    if script is None:
        return None
    timeout = getattr(g, f"{which}_script_timeout")
    try:
        argv, run_as = check_script(script.command, user=script.user or g.script_user, group=script.group,
                                    security=g.enable_script_security)
    except ScriptError as exc:
        log.error("%s script refused: %s", which, exc)
        return None
    log.info("running %s script %s", which, argv[0])
    res = await run_script(argv, run_as=run_as, timeout=timeout)
    if res.timed_out:
        log.error("%s script %s timed out after %g s; killed", which, argv[0], timeout)
    elif not res.ok:
        log.warning("%s script failed, status %s", which, res.returncode)
    return res.ok


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
