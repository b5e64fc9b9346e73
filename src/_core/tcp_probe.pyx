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


cdef class TcpProber:
    """Non-blocking connects to many servers, watched by one epoll descriptor (:meth:`fileno`).

    :meth:`start` begins one connect; :meth:`harvest` collects the finished ones as
    ``(token, errno)`` (0 for connected); :meth:`expire` fails those past their deadline with
    ETIMEDOUT. A connect that ends at once is reported by :meth:`start`'s return value.
    Each socket is closed as soon as its result is known.
    """
    cdef int epfd
    cdef Slot *slots
    cdef int nslots
    cdef Deadline *heap
    cdef int nheap
    cdef int capheap
    cdef int pending
    cdef unsigned int serial
    cdef Check *checks
    cdef long long nchecks
    cdef Due *due
    cdef int ndue
    cdef int capdue
    cdef unsigned int due_serial
    cdef list lateness  # start lateness samples (seconds) while recording, else None
    cdef long long late_hist[LATE_BINS]  # every start's lateness, always (see lateness_summary)
    cdef double worst_late  # the latest start since worst_lateness() last asked
    cdef long long max_late_samples
    cdef dict requests  # token -> the request an exchange sends
    cdef dict statuses  # token -> http_answer.steady()'s table, for an exchange that may be quiet
    cdef dict answers  # fd -> Answer being read
    cdef dict responses  # token -> the complete answer of its last run, until response() takes it
    cdef long long *obuf  # results to hand over, (token, errno) pairs, until drained into a list
    cdef int nobuf
    cdef int capobuf
    cdef int wakefd  # watch(): its readiness ends serve()
    cdef bint woken
    cdef bint recording  # self.lateness is not None (read without the GIL)

    def __cinit__(self):
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise OSError(errno, "epoll_create1 failed")
        self.slots = NULL
        self.nslots = 0
        self.heap = NULL
        self.nheap = 0
        self.capheap = 0
        self.pending = 0
        self.serial = 0
        self.checks = NULL
        self.nchecks = 0
        self.due = NULL
        self.ndue = 0
        self.capdue = 0
        self.due_serial = 0
        self.lateness = None
        self.max_late_samples = 0
        memset(self.late_hist, 0, sizeof(self.late_hist))
        self.worst_late = 0.0
        self.requests = {}
        self.statuses = {}
        self.answers = {}
        self.responses = {}
        self.obuf = NULL
        self.nobuf = 0
        self.capobuf = 0
        self.wakefd = -1
        self.woken = 0
        self.recording = 0

    def __dealloc__(self):
        self._close_all()
        free(self.slots)
        free(self.heap)
        free(self.checks)
        free(self.due)
        free(self.obuf)

    cdef int _out(self, long long token, int err) except -1 nogil:
        cdef long long *b
        cdef int n
        if self.nobuf == self.capobuf:
            n = max(self.capobuf * 2, 256)
            b = <long long *>realloc(self.obuf, 2 * n * sizeof(long long))
            if b == NULL:
                with gil:
                    raise MemoryError()
            self.obuf, self.capobuf = b, n
        self.obuf[2 * self.nobuf] = token
        self.obuf[2 * self.nobuf + 1] = err
        self.nobuf += 1
        return 0

    cdef void _drain(self, list out):
        cdef int i
        for i in range(self.nobuf):
            out.append((self.obuf[2 * i], <int>self.obuf[2 * i + 1]))
        self.nobuf = 0

    cdef void _close_all(self):
        cdef int fd
        for fd in range(self.nslots):
            if self.slots[fd].active:
                self.slots[fd].active = 0
                _abort(fd)
        self.pending = 0
        self.nheap = 0
        self.ndue = 0
        if self.answers is not None:
            self.answers.clear()
        for fd in range(self.nchecks):
            self.checks[fd].active = 0
            self.checks[fd].fd = -1
        if self.epfd >= 0:
            close(self.epfd)
            self.epfd = -1

    def fileno(self):
        return self.epfd

    def __len__(self):
        return self.pending

    cdef int _grow(self, int fd) except -1 nogil:
        if self._grow_c(fd) < 0:
            with gil:
                raise MemoryError()
        return 0

    cdef int _grow_c(self, int fd) noexcept nogil:
        """Room for descriptor ``fd`` and one more deadline; -1 when memory ran out."""
        cdef int n
        cdef Slot *s
        cdef Deadline *h
        if fd >= self.nslots:
            n = max(fd + 1, self.nslots * 2, 256)
            s = <Slot *>realloc(self.slots, n * sizeof(Slot))
            if s == NULL:
                return -1
            memset(s + self.nslots, 0, (n - self.nslots) * sizeof(Slot))
            self.slots, self.nslots = s, n
        if self.nheap == self.capheap:
            n = max(self.capheap * 2, 256)
            h = <Deadline *>realloc(self.heap, n * sizeof(Deadline))
            if h == NULL:
                return -1
            self.heap, self.capheap = h, n
        return 0

    cdef void _push(self, double at, int fd, unsigned int serial) noexcept nogil:
        cdef Deadline d
        d.at = at
        d.fd = fd
        d.serial = serial
        _sift_up(self.heap, self.nheap, d)
        self.nheap += 1

    cdef void _pop(self) noexcept nogil:
        self.nheap -= 1
        if self.nheap:
            _sift_down(self.heap, self.nheap)

    cdef inline bint _live(self, Deadline *d) noexcept nogil:
        return d.fd < self.nslots and self.slots[d.fd].active and self.slots[d.fd].serial == d.serial

    cdef int _connect(self, long long token, int family, sockaddr_in6 *sa, int salen, sockaddr_in6 *sb, int sblen,
                      double deadline, int periodic, int *fd_out, int keep=0) except -2 nogil:
        """0 when under way (its descriptor in ``fd_out``), CONNECTED at once, else errno.
        With ``keep`` a connect that succeeds at once stays open and under way: its socket is
        writable, so the first harvest moves it on (an exchange sends its request then)."""
        cdef int one = 1
        cdef int fd, rc, err
        cdef epoll_event ev
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
        if fd < 0:
            return errno
        if sblen:
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))
            if bind(fd, <sockaddr *>sb, sblen) < 0:
                err = errno
                close(fd)
                return err
        rc = connect(fd, <sockaddr *>sa, salen)
        if rc == 0 and not keep:
            _abort(fd)
            return _CONNECTED
        err = 0 if rc == 0 else errno
        if err != EINPROGRESS and err != 0:
            close(fd)
            return err
        if self._grow_c(fd) < 0:
            close(fd)
            with gil:
                raise MemoryError()
        ev.events = EPOLLOUT | EPOLLERR | EPOLLHUP
        ev.data.fd = fd
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
            err = errno
            close(fd)
            return err
        self.serial += 1
        self.slots[fd].token = token
        self.slots[fd].serial = self.serial
        self.slots[fd].active = 1
        self.slots[fd].periodic = periodic
        self.slots[fd].phase = CONNECTING
        self.slots[fd].sent = 0
        self.slots[fd].answering = 0
        self.pending += 1
        self._push(deadline, fd, self.serial)
        fd_out[0] = fd
        return 0

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

    cdef int _grow_checks(self, long long token) except -1:
        cdef long long n, i
        cdef Check *c
        if token >= self.nchecks:
            n = max(token + 1, self.nchecks * 2, 256)
            c = <Check *>realloc(self.checks, n * sizeof(Check))
            if c == NULL:
                raise MemoryError()
            memset(c + self.nchecks, 0, (n - self.nchecks) * sizeof(Check))
            for i in range(self.nchecks, n):
                c[i].fd = -1
            self.checks, self.nchecks = c, n
        return 0

    cdef int _push_due(self, long long token, double at) except -1 nogil:
        cdef Due *d
        cdef Due e
        cdef int n
        if self.ndue == self.capdue:
            n = max(self.capdue * 2, 256)
            d = <Due *>realloc(self.due, n * sizeof(Due))
            if d == NULL:
                with gil:
                    raise MemoryError()
            self.due, self.capdue = d, n
        self.due_serial += 1
        self.checks[token].serial = self.due_serial
        self.checks[token].due = at
        e.at = at
        e.token = token
        e.serial = self.due_serial
        _sift_up(self.due, self.ndue, e)
        self.ndue += 1
        return 0

    cdef void _pop_due(self) noexcept nogil:
        self.ndue -= 1
        if self.ndue:
            _sift_down(self.due, self.ndue)

    cdef inline bint _due_live(self, Due *d) noexcept nogil:
        cdef Check *c = &self.checks[d.token]
        return c.active and not c.paused and not c.waiting and c.fd < 0 and c.serial == d.serial

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

    cdef void _drop(self, long long token):
        cdef Check *c
        if token >= self.nchecks:
            return
        c = &self.checks[token]
        if c.fd >= 0:
            if self.slots[c.fd].active and self.slots[c.fd].periodic and self.slots[c.fd].token == token:
                self.slots[c.fd].active = 0
                self.pending -= 1
                self.answers.pop(c.fd, None)
                _abort(c.fd)
            c.fd = -1
        c.active = 0
        c.statuses = NULL
        c.nstatuses = 0
        self.responses.pop(token, None)
        self.statuses.pop(token, None)

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

    cdef inline void _note_late(self, double late) noexcept nogil:
        cdef long long b = <long long>((late * 1000.0) + LATE_EARLY_MS)
        if b < 0:
            b = 0
        elif b >= LATE_BINS:
            b = LATE_BINS - 1
        self.late_hist[b] += 1
        if late > self.worst_late:
            self.worst_late = late

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

    cdef int _result(self, long long token, int err, double now, bint passed=0) except -1 nogil:
        """A finished run of a periodic check: quiet success re-armed here, else handed over."""
        cdef Check *c = &self.checks[token]
        c.runs += 1
        c.fd = -1
        if err == 0 and not c.report and (passed or not c.exchange):
            # On its own slot (due + period, or the first slot after now when more than a period
            # late), not one period after it ended: checks a busy moment delayed together would
            # otherwise stay together, and such clumps grow until their start is 100 ms late.
            self._push_due(token, now + c.period - fmod(now - c.due, c.period) if now > c.due else c.due + c.period)
            return 0
        c.waiting = 1
        self._out(token, err)
        return 0

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

    cdef double _next_wake_c(self) noexcept nogil:
        cdef double at = self._next_due_c()
        cdef double d = self._next_deadline_c()
        if d >= 0 and (at < 0 or d < at):
            return d
        return at

    cdef double _next_due_c(self) noexcept nogil:
        while self.ndue:
            if self._due_live(&self.due[0]):
                return self.due[0].at
            self._pop_due()
        return -1

    cdef double _next_deadline_c(self) noexcept nogil:
        while self.nheap:
            if self._live(&self.heap[0]):
                return self.heap[0].at
            self._pop()
        return -1

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

    cdef int _send_request(self, int fd, double now) except -2 nogil:
        """Send (the rest of) an exchange's request: -1 while it goes on, else errno."""
        cdef Slot *s = &self.slots[fd]
        cdef const char *p = self.checks[s.token].req
        cdef Py_ssize_t n = self.checks[s.token].reqlen
        cdef ssize_t w
        cdef epoll_event ev
        while s.sent < n:
            w = send(fd, p + s.sent, n - s.sent, MSG_NOSIGNAL)
            if w < 0:
                if errno == EINTR:
                    continue
                if errno == EAGAIN:
                    s.phase = SENDING  # still watched for EPOLLOUT
                    return -1
                return errno
            s.sent += w
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP
        ev.data.fd = fd
        if epoll_ctl(self.epfd, EPOLL_CTL_MOD, fd, &ev) < 0:
            return errno
        s.phase = READING  # its Answer is made at the first read, unless that read settles it
        # The answer has a deadline of its own, as the asyncio path gives it.
        self._grow(fd)
        self.serial += 1
        s.serial = self.serial
        self._push(now + self.checks[s.token].timeout, fd, s.serial)
        return -1

    cdef int _read_answer(self, int fd, int *quiet) except -2 nogil:
        """-1 while more is to come; 0 when the answer is complete (or the server closed);
        errno when the connection failed before any byte of it came. ``quiet`` is set when the
        first read held all of a plain answer that passes on its status (_quiet_answer): that
        case needs no GIL, an Answer (made at the first read that is not quiet) does."""
        cdef char buf[READ_CHUNK]
        cdef ssize_t r
        cdef Check *c
        cdef Slot *s = &self.slots[fd]
        cdef int e, done
        while True:
            r = recv(fd, buf, READ_CHUNK, 0)
            e = errno
            if r > 0:
                if not s.answering:
                    c = &self.checks[s.token]
                    if not c.report and _quiet_answer(buf, r, c.statuses, c.nstatuses):
                        quiet[0] = 1
                        return 0
                    s.answering = 1
                with gil:
                    done = self._feed(fd, buf, r)
                if done:
                    return 0
                continue
            if r == 0:
                if not s.answering:
                    s.answering = 1
                    with gil:
                        self.answers[fd] = Answer()  # closed before a byte: an empty answer, judged
                return 0
            if e == EINTR:
                continue
            if e == EAGAIN:
                return -1
            # A reset after part of the answer: what came is judged (as the asyncio path does).
            if s.answering:
                with gil:
                    done = len(self.answers[fd].buf) > 0
                if done:
                    return 0
            return e

    cdef int _feed(self, int fd, char *buf, ssize_t n) except -1:
        """Whether the answer is complete with these bytes (its Answer made at the first)."""
        answer = self.answers.get(fd)
        if answer is None:
            answer = self.answers[fd] = Answer()
        return 1 if answer.feed(buf[:n]) else 0

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

    cdef int _answered(self, int fd, long long token, int err, double now) except -1:
        cdef int quiet = 0
        answer = self.answers.pop(fd, None)
        if not self.slots[fd].periodic:
            self._out(token, err)
            return 0
        if err == 0 and answer is not None:
            statuses = self.statuses.get(token)
            if statuses is not None and not self.checks[token].report and steady(answer, statuses):
                quiet = 1
            else:
                self.responses[token] = bytes(answer.buf)
        self._result(token, err, now, quiet)
        return 0

    def expire(self, double now, list out):
        """Fail every connect whose deadline is <= ``now`` with ETIMEDOUT (appended to ``out``);
        an exchange whose answer is late, with ETIME."""
        with nogil:
            self._expire_c(now)
        self._drain(out)

    cdef int _expire_c(self, double now) except -1 nogil:
        cdef Deadline *top
        cdef int fd, err
        while self.nheap:
            top = &self.heap[0]
            if not self._live(top):
                self._pop()
                continue
            if top.at > now:
                break
            fd = top.fd
            self._pop()
            self.slots[fd].active = 0
            self.pending -= 1
            _abort(fd)
            # ETIME: connected, but the answer did not come in time; ETIMEDOUT: no connection.
            if self.slots[fd].phase == READING:
                err = ETIME
                if self.slots[fd].answering:
                    with gil:
                        self.answers.pop(fd, None)
            else:
                err = ETIMEDOUT
            if self.slots[fd].periodic:
                self._result(self.slots[fd].token, err, now, 0)
            else:
                self._out(self.slots[fd].token, err)
        return 0

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
