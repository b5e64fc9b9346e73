# tcp_probe.pyx's records and what moves them, as TcpProber's base class: the C arrays by
# descriptor (Slot) and by check (Check), the two heaps, the results to hand over, a connect's
# life (started, ended, re-armed or handed over, expired) and an HTTP exchange's request and
# answer. TcpProber (tcp_probe.pyx) holds the public methods and the loops that drive these.


cdef class _Records:
    """The state of a TcpProber, without its public face (see TcpProber)."""

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

    cdef inline void _note_late(self, double late) noexcept nogil:
        cdef long long b = <long long>((late * 1000.0) + LATE_EARLY_MS)
        if b < 0:
            b = 0
        elif b >= LATE_BINS:
            b = LATE_BINS - 1
        self.late_hist[b] += 1
        if late > self.worst_late:
            self.worst_late = late

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
