"""Notification of VRRP state changes: notify_* scripts and the notify FIFO, as keepalived does.

The decisions are sans-IO (:func:`plan`, :func:`fifo_line`): which configured scripts run for a
state change and with which extra arguments. :class:`Notifier` is the thin I/O part: it runs
each script as an argv list (split once from the config by ``lvsfast.scripts``, never through a
shell) with a timeout, and writes FIFO lines without ever blocking the event loop.

keepalived's conventions:
- ``notify_master`` / ``notify_backup`` / ``notify_fault`` / ``notify_stop`` run as configured;
- ``notify`` gets ``INSTANCE <name> <STATE> <priority>`` (``GROUP <name> <STATE>`` for a sync group);
- the FIFO gets ``INSTANCE "<name>" <STATE> <priority>`` / ``GROUP "<name>" <STATE>`` lines;
- an instance a reload deletes says FAULT (no notify_fault script), or DELETED with
  ``notify_deleted`` (whose script, if any, runs too); never STOP.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
from collections.abc import Sequence

from lvsfast.frozen import record
from lvsfast.scripts import ScriptError, check_script, run_script
from lvsfast.vrrp.machine import State

log = logging.getLogger("lvsfast.vrrp")

WORD = {State.MASTER: "MASTER", State.BACKUP: "BACKUP", State.FAULT: "FAULT", State.INIT: "STOP"}
SCRIPT_FOR = {State.MASTER: "master", State.BACKUP: "backup", State.FAULT: "fault", State.INIT: "stop"}


@record
class Notification:
    kind: str  # "INSTANCE" or "GROUP"
    name: str
    state: State
    priority: int | None = None  # instances only
    deleted: bool | None = None  # deleted by a reload: None = no, False = FAULT, True = DELETED (notify_deleted)

    @property
    def word(self) -> str:
        if self.deleted is not None:
            return "DELETED" if self.deleted else "FAULT"
        return WORD[self.state]


def plan(notify: Sequence[tuple[str, object]], n: Notification) -> list[tuple[object, tuple[str, ...]]]:
    """The (script, extra arguments) to run for ``n``, from (kind, script) pairs of the config."""
    out = []
    # keepalived runs no notify_fault script for a deleted instance, only the notify_deleted one.
    specific = SCRIPT_FOR.get(n.state) if n.deleted is None else ("deleted" if n.deleted else None)
    for kind, script in notify:
        if kind == specific:
            out.append((script, ()))
        elif kind == "notify":
            args = (n.kind, n.name, n.word)
            if n.priority is not None:
                args += (str(n.priority),)
            out.append((script, args))
    return out


def fifo_line(n: Notification) -> str:
    if n.priority is None:
        return f'{n.kind} "{n.name}" {n.word}\n'
    return f'{n.kind} "{n.name}" {n.word} {n.priority}\n'


class Notifier:
    """Runs the planned scripts and feeds the FIFO; failures are logged, never raised."""

    def __init__(self, *, fifo: str | None = None, security: bool = False, user: str | None = None,
                 timeout: float = 30.0) -> None:
        self.fifo = fifo
        self.security = security
        self.user = user
        self.timeout = timeout
        self._fd: int | None = None

    async def notify(self, notify: Sequence[tuple[str, object]], n: Notification) -> None:
        if self.fifo:
            self.write_fifo(fifo_line(n))
        runs = []
        for script, extra in plan(notify, n):
            try:
                argv, run_as = check_script(script.command, user=script.user or self.user, group=script.group,
                                            security=self.security)
            except ScriptError as exc:
                log.error("(%s) notify script refused: %s", n.name, exc)
                continue
            runs.append(self._run(n.name, argv + extra, run_as))
        await asyncio.gather(*runs)

    async def rx_lower_pri(self, notify: Sequence[tuple[str, object]], name: str, priority: int) -> None:
        """``notify_master_rx_lower_pri``: this master heard a lower priority advert (another
        router thinks it is master). The script runs as configured; the FIFO gets
        ``INSTANCE "name" MASTER_RX_LOWER_PRI priority``, as keepalived writes it."""
        if self.fifo:
            self.write_fifo(f'INSTANCE "{name}" MASTER_RX_LOWER_PRI {priority}\n')
        runs = []
        for kind, script in notify:
            if kind != "rx_lower_pri":
                continue
            try:
                argv, run_as = check_script(script.command, user=script.user or self.user,  # type: ignore[attr-defined]
                                            group=script.group, security=self.security)  # type: ignore[attr-defined]
            except ScriptError as exc:
                log.error("(%s) notify_master_rx_lower_pri refused: %s", name, exc)
                continue
            runs.append(self._run(name, argv, run_as))
        await asyncio.gather(*runs)

    async def _run(self, name: str, argv: tuple[str, ...], run_as) -> None:
        res = await run_script(argv, run_as=run_as, timeout=self.timeout)
        if not res.ok:
            log.warning("(%s) notify %s %s", name, " ".join(argv),
                        "timed out" if res.timed_out else f"exited {res.returncode}")

    def write_fifo(self, line: str) -> None:
        if self._fd is None:
            try:
                if not os.path.exists(self.fifo):
                    os.mkfifo(self.fifo, 0o600)
                elif not stat.S_ISFIFO(os.stat(self.fifo).st_mode):
                    log.error("notify_fifo %s is not a FIFO", self.fifo)
                    return
                # O_NONBLOCK: with no reader yet, open fails (ENXIO) rather than hanging the loop.
                self._fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    log.warning("notify_fifo %s: %s", self.fifo, exc)
                return
        try:
            os.write(self._fd, line.encode())
        except OSError as exc:
            # EPIPE: the reader went away; reopen on the next line. EAGAIN: a full pipe drops the line.
            log.warning("notify_fifo %s: line dropped (%s)", self.fifo, exc.strerror)
            if exc.errno == errno.EPIPE:
                self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
