# TCP_CHECK's connects in C: socket, connect, epoll and close with no Python object per check.
# Twin: lvsfast/check/_tcp_probe_py.py (socket objects and select.epoll). Same results.
#
# Two ways to use it. One-shot: start() a connect, harvest()/expire() its result. Periodic:
# schedule() a check once; tick() starts the due ones and harvest() re-arms a quiet success
# itself (one period on), so the caller hears only of results it asked for (report mode) and
# of failures. A steady pool of thousands of up servers then costs no Python per check.
#
# A periodic check may be an exchange (HTTP_GET): given a request, the prober sends it once
# connected and reads the answer until it is complete (check.http_answer.Answer) or the server
# closes; every run is handed over with the answer in response(), for the caller to judge.
#
# serve() is both in one call for a prober driven by a thread of its own (check/shards.py): it
# loops with the GIL released (starts, epoll_wait, re-arms in C; an HTTP answer's Python parts
# take the GIL) until it has results to hand over, its watch() descriptor is written, or
# ``max_wait`` is up. Only that thread may call the prober's other methods meanwhile, but for
# runs(), worst_lateness() and lateness_summary(), which only read counters.
from libc.math cimport fmod
from libc.errno cimport EAGAIN, EINPROGRESS, EINTR, ETIME, ETIMEDOUT, errno
from libc.stdlib cimport free, realloc
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from posix.unistd cimport read as _read
from libc.string cimport memcmp, memcpy, memset

from includes.connect cimport (
    AF_INET, AF_INET6, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT,
    EPOLLRDHUP, MSG_NOSIGNAL, SO_ERROR, SO_LINGER, SO_REUSEADDR, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET,
    bind, close, connect, epoll_create1, epoll_ctl, epoll_event, epoll_wait, getsockopt, htons, linger, recv, send,
    setsockopt, sockaddr, socket, socklen_t, ssize_t,
)
from includes.probe cimport Check, Deadline, Due, Slot
from includes.socket cimport sockaddr_in, sockaddr_in6

include "includes/probe_consts.pxi"
include "tcp_probe_heap.pxi"
include "tcp_probe_sockets.pxi"
include "tcp_probe_http.pxi"

from lvsfast.check.http_answer import Answer, steady

__all__ = ["TcpProber", "CONNECTED", "quiet_first_read"]

cdef enum:
    _CONNECTED = -1  # CONNECTED, for code without the GIL
CONNECTED = _CONNECTED


def quiet_first_read(bytes data, bytes statuses):
    """Whether an exchange whose first read is ``data`` ends there as a quiet success (the twin
    says it with Answer and steady(); this may say no where they say yes, never the reverse)."""
    return _quiet_answer(data, len(data), <const unsigned char *><const char *>statuses, len(statuses))


cdef inline double _mono() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


include "tcp_probe_records.pxi"


cdef class TcpProber(_Records):
    """Non-blocking connects to many servers, watched by one epoll descriptor (:meth:`fileno`).

    :meth:`start` begins one connect; :meth:`harvest` collects the finished ones as
    ``(token, errno)`` (0 for connected); :meth:`expire` fails those past their deadline with
    ETIMEDOUT. A connect that ends at once is reported by :meth:`start`'s return value.
    Each socket is closed as soon as its result is known.
    """
    def fileno(self):
        return self.epfd

    def __len__(self):
        return self.pending

    def start(self, long long token, int family, bytes addr, int port, double timeout, double now,
              bytes bind_addr=None, int bind_port=0):
        """0 when the connect is under way; CONNECTED (-1) when it succeeded at once; else errno."""
        cdef sockaddr_in6 sa, sb
        cdef int salen = _fill(&sa, family, addr, port)
        cdef int sblen = 0
        cdef int fd = -1
        if self.epfd < 0:
            raise ValueError("prober is closed")
        if bind_addr is not None:
            sblen = _fill(&sb, family, bind_addr, bind_port)
        return self._connect(token, family, &sa, salen, &sb, sblen, now + timeout, 0, &fd)

    # ---- periodic checks ---------------------------------------------------------------

    def schedule(self, long long token, int family, bytes addr, int port, double timeout, double period,
                 double first_at, bytes bind_addr=None, int bind_port=0, bint report=False, bytes request=None,
                 bytes statuses=None):
        """Run a connect to ``addr:port`` at ``first_at`` and then every ``period`` after each
        quiet success. ``token`` (a small number, >= 0) names the check from now on. With a
        ``request``, each run sends it and reads the answer (``timeout`` for the connect, and
        again for the answer); every run is handed over, its answer in :meth:`response`, unless
        ``statuses`` is given: then an answer that passes on its status alone
        (http_answer.steady) is a quiet success, re-armed here like a connect."""
        cdef sockaddr_in6 sa, sb
        cdef Check *c
        if token < 0:
            raise ValueError("a check token is >= 0")
        if self.epfd < 0:
            raise ValueError("prober is closed")
        _fill(&sa, family, addr, port)
        if bind_addr is not None:
            _fill(&sb, family, bind_addr, bind_port)
        self._grow_checks(token)
        self._drop(token)
        c = &self.checks[token]
        c.active = 1
        c.paused = 0
        c.waiting = 0
        c.report = report
        c.family = family
        memcpy(c.addr, <char *>addr, len(addr))
        c.port = port
        c.has_bind = bind_addr is not None
        if c.has_bind:
            memcpy(c.baddr, <char *>bind_addr, len(bind_addr))
        c.bport = bind_port
        c.timeout = timeout
        c.period = period
        c.runs = 0
        c.exchange = request is not None
        c.req = NULL
        c.reqlen = 0
        c.statuses = NULL
        c.nstatuses = 0
        if request is not None:
            self.requests[token] = request
            c.req = request
            c.reqlen = len(request)
        else:
            self.requests.pop(token, None)
        if request is not None and statuses is not None:
            self.statuses[token] = statuses
            c.statuses = <const unsigned char *><const char *>statuses
            c.nstatuses = len(statuses)
        else:
            self.statuses.pop(token, None)
        self._push_due(token, first_at)

    def unschedule(self, long long token):
        """Forget the check (a connect in flight is abandoned)."""
        self._drop(token)

    def next(self, long long token, double at, bint report):
        """After a handed-over result: run again at ``at``; ``report`` says whether quiet
        successes are handed over too (while the caller's verdict is not a steady up)."""
        cdef Check *c
        if token < 0 or token >= self.nchecks or not self.checks[token].active:
            return
        c = &self.checks[token]
        c.report = report
        c.waiting = 0
        if c.fd < 0:
            self._push_due(token, at)

    def pause(self, long long token):
        if 0 <= token < self.nchecks:
            self.checks[token].paused = 1

    def resume(self, long long token, double at):
        cdef Check *c
        if token < 0 or token >= self.nchecks or not self.checks[token].active:
            return
        c = &self.checks[token]
        if c.paused:
            c.paused = 0
            if c.fd < 0 and not c.waiting:
                self._push_due(token, at)

    def response(self, long long token):
        """The answer of the exchange's last handed-over run (b"" if none), taken."""
        return self.responses.pop(token, b"")

    def runs(self, long long token):
        """Runs of a scheduled check so far (0 once it is unscheduled)."""
        if 0 <= token < self.nchecks and self.checks[token].active:
            return self.checks[token].runs
        return 0

    def record_lateness(self, bint on, long long max_samples=1_000_000):
        self.lateness = [] if on else None
        self.recording = on
        self.max_late_samples = max_samples

    def lateness_samples(self):
        out = self.lateness if self.lateness is not None else []
        if self.lateness is not None:
            self.lateness = []
        return out

    def worst_lateness(self):
        """The latest any check started (seconds) since the last call; 0 if none was late."""
        cdef double w = self.worst_late
        self.worst_late = 0.0
        return w

    def lateness_hist(self, bint clear=False):
        """The lateness histogram itself (1 ms bins, as lateness_summary reads it), for summing
        several probers' (check.shards)."""
        cdef int i
        out = [self.late_hist[i] for i in range(LATE_BINS)]
        if clear:
            memset(self.late_hist, 0, sizeof(self.late_hist))
        return out

    def lateness_summary(self, bint clear=False):
        """Every start's lateness since the last clear, from 1 ms bins: ``{"count", "p50_ms",
        "p99_ms", "max_ms"}`` (bin upper edges; None without starts)."""
        cdef long long total = 0, seen = 0
        cdef int i, last = -1
        cdef int p50 = -1, p99 = -1
        for i in range(LATE_BINS):
            total += self.late_hist[i]
            if self.late_hist[i]:
                last = i
        if total:
            for i in range(LATE_BINS):
                seen += self.late_hist[i]
                if p50 < 0 and seen * 100 >= total * 50:
                    p50 = i
                if p99 < 0 and seen * 100 >= total * 99:
                    p99 = i
                    break
        if clear:
            memset(self.late_hist, 0, sizeof(self.late_hist))
        if not total:
            return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
        return {"count": total, "p50_ms": p50 + 1 - LATE_EARLY_MS, "p99_ms": p99 + 1 - LATE_EARLY_MS,
                "max_ms": last + 1 - LATE_EARLY_MS}

    def tick(self, double now, list out, int limit=256, double ahead=0.0):
        """Start the checks due by ``now`` + ``ahead`` (at most ``limit``; returns how many) and
        fail the connects past their deadline (by ``now``). Results to hand over are appended to
        ``out``. ``ahead`` is the caller's clock resolution: a loop whose timers count
        milliseconds would otherwise spin for the millisecond before each due check."""
        cdef int started
        if self.recording:  # its samples are Python floats: the GIL held throughout
            started = self._tick_c(now, limit, ahead)
        else:
            with nogil:
                started = self._tick_c(now, limit, ahead)
        self._drain(out)
        return started

    cdef int _tick_c(self, double now, int limit, double ahead) except -1 nogil:
        cdef Due *top
        cdef Check *c
        cdef sockaddr_in6 sa, sb
        cdef int salen, sblen, rc, fd, started = 0
        cdef long long token
        self._expire_c(now)
        while self.ndue and started < limit:
            top = &self.due[0]
            if not self._due_live(top):
                self._pop_due()
                continue
            if top.at > now + ahead:
                break
            token = top.token
            self._note_late(now - top.at)
            if self.recording:
                with gil:
                    if self.lateness is not None and len(self.lateness) < self.max_late_samples:
                        self.lateness.append(now - top.at)
            self._pop_due()
            c = &self.checks[token]
            salen = _fill_raw(&sa, c.family, c.addr, c.port)
            sblen = _fill_raw(&sb, c.family, c.baddr, c.bport) if c.has_bind else 0
            fd = -1
            rc = self._connect(token, c.family, &sa, salen, &sb, sblen, now + c.timeout, 1, &fd, c.exchange)
            started += 1
            if rc == 0:
                c.fd = fd  # under way
            elif rc == _CONNECTED:
                self._result(token, 0, now, 0)
            else:
                self._result(token, rc, now, 0)
        return started

    def next_wake(self):
        """The earliest time tick() has work: a due check or a connect deadline; None if none."""
        cdef double at = self._next_wake_c()
        return at if at >= 0 else None

    def watch(self, int fd):
        """serve() ends when ``fd`` (an eventfd: it is read here) becomes readable; -1: none."""
        cdef epoll_event ev
        if self.epfd < 0:
            raise ValueError("prober is closed")
        if fd >= 0:
            ev.events = EPOLLIN
            ev.data.fd = fd
            if epoll_ctl(self.epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
                raise OSError(errno, "epoll_ctl failed")
        self.wakefd = fd

    def serve(self, list out, double max_wait, int limit=256, double ahead=0.0):
        """tick() and harvest() in turn on the monotonic clock, the GIL released, until a
        result is to be handed over (appended to ``out``), the watched descriptor is written,
        or ``max_wait`` seconds are up. Returns whether the watched descriptor was written."""
        cdef double now, end, due, deadline, wait
        cdef int started, ms
        cdef bint woken
        with nogil:
            now = _mono()
            end = now + max_wait
            while self.epfd >= 0:
                started = self._tick_c(now, limit, ahead)
                if self.nobuf or self.woken:
                    break
                # Woken when the next check is due, it starts what falls within ``ahead`` of then
                # too (as tick() on the loop's timer does): one wake-up per batch, not per check.
                due = self._next_due_c()
                deadline = self._next_deadline_c()
                wait = end - now
                if started == limit:
                    wait = 0  # more are due: only what is already in, then on
                else:
                    if due >= 0 and due - now < wait:
                        wait = due - now
                    if deadline >= 0 and deadline - now < wait:
                        wait = deadline - now
                ms = <int>(wait * 1000.0 + 0.999) if wait > 0 else 0
                self._harvest_c(now, ms)
                now = _mono()
                if self.nobuf or self.woken or now >= end:
                    break
        woken = self.woken
        self.woken = 0
        self._drain(out)
        return woken

    def harvest(self, list out, double now=0.0):
        """Append ``(token, errno)`` for every finished connect (for periodic checks, only those
        to hand over: a quiet success is re-armed for ``now`` + period); returns how many ended.
        An exchange finishes when its answer is complete, not when it connects."""
        cdef int total
        with nogil:
            total = self._harvest_c(now, 0)
        self._drain(out)
        return total

    cdef int _harvest_c(self, double now, int timeout_ms) except -1 nogil:
        """What the epoll set holds, its first wait up to ``timeout_ms`` (``now`` then read again)."""
        cdef epoll_event events[BATCH]
        cdef int n, i, fd, err, quiet, total = 0
        cdef socklen_t len_
        cdef Slot *s
        cdef long long token
        cdef unsigned long long count
        while self.epfd >= 0:
            n = epoll_wait(self.epfd, events, BATCH, timeout_ms)
            if n < 0:
                if errno == EINTR:
                    continue
                with gil:
                    raise OSError(errno, "epoll_wait failed")
            if timeout_ms:
                timeout_ms = 0
                now = _mono()
            for i in range(n):
                fd = events[i].data.fd
                if fd == self.wakefd and fd >= 0:
                    _read(fd, &count, sizeof(count))
                    self.woken = 1
                    continue
                if fd >= self.nslots or not self.slots[fd].active:
                    continue
                s = &self.slots[fd]
                err = 0
                quiet = 0
                if s.phase == READING:
                    err = self._read_answer(fd, &quiet)
                else:
                    if s.phase == CONNECTING:
                        len_ = sizeof(err)
                        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len_) < 0:
                            err = errno
                    if err == 0 and s.periodic and self.checks[s.token].exchange:
                        err = self._send_request(fd, now)
                if err == -1:
                    continue  # the exchange goes on
                token = s.token
                s.active = 0
                self.pending -= 1
                _abort(fd)  # also leaves the epoll set
                if s.phase == READING and s.answering and not quiet:
                    # Only an exchange reading its answer has one (none when its first read settled it).
                    with gil:
                        self._answered(fd, token, err, now)
                elif s.periodic:
                    self._result(token, err, now, quiet)
                else:
                    self._out(token, err)
                total += 1
            if n < BATCH:
                break
        return total

    def expire(self, double now, list out):
        """Fail every connect whose deadline is <= ``now`` with ETIMEDOUT (appended to ``out``);
        an exchange whose answer is late, with ETIME."""
        with nogil:
            self._expire_c(now)
        self._drain(out)

    def next_deadline(self):
        """The earliest pending deadline, or None."""
        while self.nheap:
            if self._live(&self.heap[0]):
                return self.heap[0].at
            self._pop()
        return None

    def close(self):
        """Abandon every pending connect and release the epoll descriptor."""
        self._close_all()
