"""Pure-Python twin of ``lvsfast._core.tcp_probe``: the same prober on socket objects and
:class:`select.epoll`. Results, errors and deadlines behave identically; only the cost differs.

One-shot: :meth:`TcpProber.start` a connect, :meth:`~TcpProber.harvest` / :meth:`~TcpProber.expire`
its result. Periodic: :meth:`~TcpProber.schedule` a check once; :meth:`~TcpProber.tick` starts
the due ones, and a quiet success is re-armed on its next slot (one period after it was due) by
the prober itself, so the caller hears only of failures and of the results it asked for (report
mode). A periodic check given
a request is an exchange (HTTP_GET): once connected the request is sent and the answer read until
it is complete or the server closes; every run is handed over, its answer in ``response()``.
"""
from __future__ import annotations

import errno
import heapq
import math
import os
import select
import socket
import struct
import time
from dataclasses import dataclass

from lvsfast.check.http_answer import Answer, steady
from lvsfast.check.lateness import LATE_EARLY_MS
from lvsfast.check.lateness import summary as _lateness_summary

__all__ = ["TcpProber", "CONNECTED", "quiet_first_read"]

CONNECTED = -1
_BATCH = 1024
_EVENTS = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP
_READ = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLERR | select.EPOLLHUP
_READ_CHUNK = 65536
_CONNECTING, _SENDING, _READING = 0, 1, 2
# Start lateness bins, as the compiled twin's includes/probe_consts.pxi has them.
LATE_BINS = 2100


_NO_LINGER = struct.pack("ii", 1, 0)


def quiet_first_read(data: bytes, statuses: bytes) -> bool:
    """Whether an exchange whose first read is ``data`` ends there as a quiet success: the
    answer is complete and passes on its status alone. (The compiled prober decides this in C
    for the plain forms and leaves the rest to the Answer path, which this is.)"""
    answer = Answer()
    return answer.feed(data) and steady(answer, statuses)


def _abort(sock: socket.socket) -> None:
    """Close a checked connection with a reset, as HAProxy closes its checks: no FIN exchange and
    no TIME_WAIT left here (at 20,000 checks a second those would fill the kernel's table)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
    except OSError:
        pass
    sock.close()


def _sockaddr(family: int, addr: bytes, port: int) -> tuple:
    if family == socket.AF_INET:
        if len(addr) != 4:
            raise ValueError("an IPv4 address is 4 bytes")
        return socket.inet_ntop(family, addr), port
    if len(addr) != 16:
        raise ValueError("an IPv6 address is 16 bytes")
    return socket.inet_ntop(family, addr), port, 0, 0


@dataclass(eq=False, slots=True)
class _Check:
    family: int
    target: tuple
    local: tuple | None
    timeout: float
    period: float
    report: bool
    active: bool = True
    paused: bool = False
    waiting: bool = False
    fd: int = -1
    serial: int = 0
    runs: int = 0
    due: float = 0.0  # when the current or last run was due
    request: bytes | None = None  # an exchange: sent once connected, then the answer is read
    statuses: bytes | None = None  # an exchange that may be quiet: http_answer.steady()'s table


@dataclass(eq=False, slots=True)
class _Exchange:
    """An exchange's descriptor past its connect: how much of the request went, the answer."""

    phase: int = _CONNECTING
    sent: int = 0
    answer: Answer | None = None


class TcpProber:
    """Non-blocking connects to many servers, watched by one epoll descriptor (:meth:`fileno`).

    :meth:`start` begins one connect; :meth:`harvest` collects the finished ones as
    ``(token, errno)`` (0 for connected); :meth:`expire` fails those past their deadline with
    ETIMEDOUT. A connect that ends at once is reported by :meth:`start`'s return value.
    Each socket is closed (reset) as soon as its result is known.
    """

    def __init__(self) -> None:
        self._epoll: select.epoll | None = select.epoll()
        self._slots: dict[int, tuple[int, socket.socket, int, bool]] = {}  # fd -> (token, socket, serial, periodic)
        self._heap: list[tuple[float, int, int]] = []  # (deadline, serial, fd)
        self._serial = 0
        self._checks: dict[int, _Check] = {}
        self._due: list[tuple[float, int, int]] = []  # (at, serial, token)
        self._due_serial = 0
        self._lateness: list[float] | None = None
        self._max_late = 0
        self._late_hist = [0] * LATE_BINS  # every start's lateness in 1 ms bins (see lateness_summary)
        self._worst_late = 0.0
        self._exchanges: dict[int, _Exchange] = {}  # fd -> an exchange's progress
        self._responses: dict[int, bytes] = {}  # token -> its last run's complete answer
        self._wakefd = -1  # watch(): its readiness ends serve()
        self._woken = False

    def fileno(self) -> int:
        if self._epoll is None:
            return -1
        return self._epoll.fileno()

    def __len__(self) -> int:
        return len(self._slots)

    def _connect(self, token: int, family: int, target: tuple, local: tuple | None, deadline: float,
                 periodic: bool, keep: bool = False) -> tuple[int, int]:
        """(0, fd) when under way, (CONNECTED, -1) at once, else (errno, -1). With ``keep`` a
        connect that succeeds at once stays open and under way (an exchange goes on from it)."""
        try:
            sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        except OSError as exc:
            return exc.errno or errno.EINVAL, -1
        try:
            if local is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(local)
            err = sock.connect_ex(target)
        except OSError as exc:
            sock.close()
            return exc.errno or errno.EINVAL, -1
        if err == 0 and not keep:
            _abort(sock)
            return CONNECTED, -1
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            return err, -1
        fd = sock.fileno()
        try:
            self._epoll.register(fd, _EVENTS)  # type: ignore[union-attr]
        except OSError as exc:
            sock.close()
            return exc.errno or errno.EINVAL, -1
        self._serial += 1
        self._slots[fd] = (token, sock, self._serial, periodic)
        heapq.heappush(self._heap, (deadline, self._serial, fd))
        return 0, fd

    def start(self, token: int, family: int, addr: bytes, port: int, timeout: float, now: float,
              bind_addr: bytes | None = None, bind_port: int = 0) -> int:
        """0 when the connect is under way; CONNECTED (-1) when it succeeded at once; else errno."""
        target = _sockaddr(family, addr, port)
        local = _sockaddr(family, bind_addr, bind_port) if bind_addr is not None else None
        if self._epoll is None:
            raise ValueError("prober is closed")
        return self._connect(token, family, target, local, now + timeout, False)[0]

    # ---- periodic checks ---------------------------------------------------------------

    def _push_due(self, token: int, c: _Check, at: float) -> None:
        self._due_serial += 1
        c.serial = self._due_serial
        c.due = at
        heapq.heappush(self._due, (at, self._due_serial, token))

    def _due_live(self, serial: int, token: int) -> bool:
        c = self._checks.get(token)
        return (c is not None and c.active and not c.paused and not c.waiting and c.fd < 0
                and c.serial == serial)

    def schedule(self, token: int, family: int, addr: bytes, port: int, timeout: float, period: float,
                 first_at: float, bind_addr: bytes | None = None, bind_port: int = 0, report: bool = False,
                 request: bytes | None = None, statuses: bytes | None = None) -> None:
        """Run a connect to ``addr:port`` at ``first_at`` and then every ``period`` after each
        quiet success. ``token`` (a small number, >= 0) names the check from now on. With a
        ``request``, each run sends it and reads the answer (``timeout`` for the connect, and
        again for the answer); every run is handed over, its answer in :meth:`response`, unless
        ``statuses`` is given: then an answer that passes on its status alone
        (http_answer.steady) is a quiet success, re-armed here like a connect."""
        if token < 0:
            raise ValueError("a check token is >= 0")
        if self._epoll is None:
            raise ValueError("prober is closed")
        target = _sockaddr(family, addr, port)
        local = _sockaddr(family, bind_addr, bind_port) if bind_addr is not None else None
        self._drop(token)
        c = self._checks[token] = _Check(family, target, local, timeout, period, bool(report), request=request,
                                         statuses=statuses if request is not None else None)
        self._push_due(token, c, first_at)

    def _drop(self, token: int) -> None:
        c = self._checks.pop(token, None)
        if c is None:
            return
        c.active = False
        if c.fd >= 0:
            slot = self._slots.get(c.fd)
            if slot is not None and slot[3] and slot[0] == token:
                del self._slots[c.fd]
                self._exchanges.pop(c.fd, None)
                _abort(slot[1])
            c.fd = -1
        self._responses.pop(token, None)

    def unschedule(self, token: int) -> None:
        """Forget the check (a connect in flight is abandoned)."""
        self._drop(token)

    def next(self, token: int, at: float, report: bool) -> None:
        """After a handed-over result: run again at ``at``; ``report`` says whether quiet
        successes are handed over too (while the caller's verdict is not a steady up)."""
        c = self._checks.get(token)
        if c is None:
            return
        c.report = bool(report)
        c.waiting = False
        if c.fd < 0:
            self._push_due(token, c, at)

    def pause(self, token: int) -> None:
        c = self._checks.get(token)
        if c is not None:
            c.paused = True

    def resume(self, token: int, at: float) -> None:
        c = self._checks.get(token)
        if c is None or not c.paused:
            return
        c.paused = False
        if c.fd < 0 and not c.waiting:
            self._push_due(token, c, at)

    def response(self, token: int) -> bytes:
        """The answer of the exchange's last handed-over run (b"" if none), taken."""
        return self._responses.pop(token, b"")

    def runs(self, token: int) -> int:
        c = self._checks.get(token)
        return c.runs if c is not None else 0

    def record_lateness(self, on: bool, max_samples: int = 1_000_000) -> None:
        self._lateness = [] if on else None
        self._max_late = max_samples

    def lateness_samples(self) -> list[float]:
        out = self._lateness if self._lateness is not None else []
        if self._lateness is not None:
            self._lateness = []
        return out

    def _note_late(self, late: float) -> None:
        self._late_hist[min(LATE_BINS - 1, max(0, int(late * 1000.0 + LATE_EARLY_MS)))] += 1
        if late > self._worst_late:
            self._worst_late = late

    def worst_lateness(self) -> float:
        """The latest any check started (seconds) since the last call; 0 if none was late."""
        w, self._worst_late = self._worst_late, 0.0
        return w

    def lateness_hist(self, clear: bool = False) -> list[int]:
        out = list(self._late_hist)
        if clear:
            self._late_hist = [0] * LATE_BINS
        return out

    def lateness_summary(self, clear: bool = False) -> dict[str, int | None]:
        """Every start's lateness since the last clear, from 1 ms bins (see the compiled twin)."""
        hist = self._late_hist
        if clear:
            self._late_hist = [0] * LATE_BINS
        return _lateness_summary(hist)

    def _result(self, token: int, err: int, now: float, out: list, passed: bool = False) -> None:
        """A finished run of a periodic check: quiet success re-armed here, else handed over."""
        c = self._checks.get(token)
        if c is None:
            return
        c.runs += 1
        c.fd = -1
        if err == 0 and not c.report and (passed or c.request is None):
            # On its own slot, not one period after it ended (see the compiled twin).
            self._push_due(token, c, now + c.period - math.fmod(now - c.due, c.period) if now > c.due
                           else c.due + c.period)
            return
        c.waiting = True
        out.append((token, err))

    def tick(self, now: float, out: list, limit: int = 256, ahead: float = 0.0) -> int:
        """Start the checks due by ``now`` + ``ahead`` (at most ``limit``; returns how many) and
        fail the connects past their deadline (by ``now``). Results to hand over are appended to
        ``out`` (see the compiled twin)."""
        self.expire(now, out)
        started = 0
        due = self._due
        while due and started < limit:
            at, serial, token = due[0]
            if not self._due_live(serial, token):
                heapq.heappop(due)
                continue
            if at > now + ahead:
                break
            self._note_late(now - at)
            if self._lateness is not None and len(self._lateness) < self._max_late:
                self._lateness.append(now - at)
            heapq.heappop(due)
            c = self._checks[token]
            rc, fd = self._connect(token, c.family, c.target, c.local, now + c.timeout, True, c.request is not None)
            started += 1
            if rc == 0:
                c.fd = fd
            else:
                self._result(token, 0 if rc == CONNECTED else rc, now, out)
        return started

    def next_wake(self) -> float | None:
        """The earliest time tick() has work: a due check or a connect deadline; None if none."""
        at = self._next_due()
        d = self.next_deadline()
        if d is not None and (at is None or d < at):
            return d
        return at

    def _next_due(self) -> float | None:
        due = self._due
        while due:
            a, serial, token = due[0]
            if self._due_live(serial, token):
                return a
            heapq.heappop(due)
        return None

    def _send_request(self, fd: int, sock: socket.socket, token: int, ex: _Exchange, now: float) -> int:
        """Send (the rest of) an exchange's request: -1 while it goes on, else errno."""
        c = self._checks[token]
        req = c.request or b""
        while ex.sent < len(req):
            try:
                ex.sent += sock.send(req[ex.sent:], socket.MSG_NOSIGNAL)
            except InterruptedError:
                continue
            except BlockingIOError:
                ex.phase = _SENDING
                return -1
            except OSError as exc:
                return exc.errno or errno.EIO
        try:
            self._epoll.modify(fd, _READ)  # type: ignore[union-attr]
        except OSError as exc:
            return exc.errno or errno.EIO
        ex.phase = _READING
        ex.answer = Answer()
        # The answer has a deadline of its own, as the asyncio path gives it.
        self._serial += 1
        self._slots[fd] = (token, sock, self._serial, True)
        heapq.heappush(self._heap, (now + c.timeout, self._serial, fd))
        return -1

    @staticmethod
    def _read_answer(sock: socket.socket, answer: Answer) -> int:
        """-1 while more is to come; 0 when the answer is complete (or the server closed);
        errno when the connection failed before any byte of it came."""
        while True:
            try:
                data = sock.recv(_READ_CHUNK)
            except InterruptedError:
                continue
            except BlockingIOError:
                return -1
            except OSError as exc:
                # A reset after part of the answer: what came is judged (as the asyncio path does).
                return 0 if answer.buf else (exc.errno or errno.EIO)
            if not data or answer.feed(data):
                return 0

    def watch(self, fd: int) -> None:
        """serve() ends when ``fd`` (an eventfd: it is read here) becomes readable; -1: none."""
        if self._epoll is None:
            raise ValueError("prober is closed")
        if fd >= 0:
            self._epoll.register(fd, select.EPOLLIN)
        self._wakefd = fd

    def serve(self, out: list, max_wait: float, limit: int = 256, ahead: float = 0.0) -> bool:
        """tick() and harvest() in turn on the monotonic clock until a result is to be handed
        over, the watched descriptor is written, or ``max_wait`` is up (see the compiled twin,
        which releases the GIL meanwhile; this one holds it). Returns whether it was written."""
        now = time.monotonic()
        end = now + max_wait
        while self._epoll is not None:
            started = self.tick(now, out, limit, ahead)
            if out or self._woken:
                break
            wait = end - now
            if started == limit:
                wait = 0.0
            else:
                due = self._next_due()
                if due is not None:
                    wait = min(wait, due - now)
                deadline = self.next_deadline()
                if deadline is not None:
                    wait = min(wait, deadline - now)
            self._harvest(out, now, math.ceil(wait * 1000) / 1000 if wait > 0 else 0)
            now = time.monotonic()
            if out or self._woken or now >= end:
                break
        woken, self._woken = self._woken, False
        return woken

    def harvest(self, out: list, now: float = 0.0) -> int:
        """Append ``(token, errno)`` for every finished connect (for periodic checks, only those
        to hand over: a quiet success is re-armed for ``now`` + period); returns how many ended.
        An exchange finishes when its answer is complete, not when it connects."""
        return self._harvest(out, now, 0)

    def _harvest(self, out: list, now: float, timeout: float) -> int:
        total = 0
        slots = self._slots
        while self._epoll is not None:
            events = self._epoll.poll(timeout, _BATCH)
            if timeout:
                timeout, now = 0, time.monotonic()
            for fd, _ in events:
                if fd == self._wakefd:
                    os.read(fd, 8)
                    self._woken = True
                    continue
                slot = slots.get(fd)
                if slot is None:
                    continue
                token, sock, _, periodic = slot
                ex = self._exchanges.get(fd)
                if ex is not None and ex.phase == _READING:
                    err = self._read_answer(sock, ex.answer)  # type: ignore[arg-type]
                else:
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if ex is None or ex.phase == _CONNECTING else 0
                    c = self._checks.get(token) if periodic else None
                    if err == 0 and c is not None and c.request is not None:
                        if ex is None:
                            ex = self._exchanges[fd] = _Exchange()
                        err = self._send_request(fd, sock, token, ex, now)
                if err == -1:
                    continue  # the exchange goes on
                del slots[fd]
                ex = self._exchanges.pop(fd, None)
                _abort(sock)  # also leaves the epoll set
                if periodic:
                    quiet = False
                    if err == 0 and ex is not None and ex.answer is not None:
                        c = self._checks.get(token)
                        if c is not None and c.statuses is not None and not c.report and steady(ex.answer, c.statuses):
                            quiet = True
                        else:
                            self._responses[token] = bytes(ex.answer.buf)
                    self._result(token, err, now, out, quiet)
                else:
                    out.append((token, err))
                total += 1
            if len(events) < _BATCH:
                break
        return total

    def _live(self, serial: int, fd: int) -> bool:
        slot = self._slots.get(fd)
        return slot is not None and slot[2] == serial

    def expire(self, now: float, out: list) -> None:
        """Fail every connect whose deadline is <= ``now`` with ETIMEDOUT (appended to ``out``);
        an exchange whose answer is late, with ETIME."""
        heap = self._heap
        while heap:
            at, serial, fd = heap[0]
            if not self._live(serial, fd):
                heapq.heappop(heap)
                continue
            if at > now:
                break
            heapq.heappop(heap)
            token, sock, _, periodic = self._slots.pop(fd)
            _abort(sock)
            # ETIME: connected, but the answer did not come in time; ETIMEDOUT: no connection.
            ex = self._exchanges.pop(fd, None)
            err = errno.ETIME if ex is not None and ex.answer is not None else errno.ETIMEDOUT
            if periodic:
                self._result(token, err, now, out)
            else:
                out.append((token, err))

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or None."""
        heap = self._heap
        while heap:
            at, serial, fd = heap[0]
            if self._live(serial, fd):
                return at
            heapq.heappop(heap)
        return None

    def close(self) -> None:
        """Abandon every pending connect and release the epoll descriptor."""
        for _, sock, _, _ in self._slots.values():
            _abort(sock)
        self._slots.clear()
        self._exchanges.clear()
        self._heap.clear()
        self._checks.clear()
        self._due.clear()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
