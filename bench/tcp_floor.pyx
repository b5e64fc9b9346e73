# cython: language_level=3, boundscheck=False, wraparound=False
# The floor of a TCP (or plain HTTP) health check: only the kernel's work, nothing of a checker.
#
# Each server gets one check per period on its own slot (server i at i/N of the period, as a
# checker with warmup spreads them); a check is a non-blocking connect, epoll until writable,
# SO_ERROR, and a close with a reset (SO_LINGER 0), or for HTTP the request sent once connected
# and the answer read once. No per-check Python object, no timer heap (the
# schedule is a fixed rotation), one deadline ring (one timeout for all). Built at run time by
# bench/floor.py; what it returns is counted here, the CPU by the caller (getrusage).
from libc.errno cimport EAGAIN, EINPROGRESS, EINTR, errno
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef long ssize_t
    struct sockaddr:
        pass
    struct linger:
        int l_onoff
        int l_linger
    int socket(int, int, int)
    int connect(int, const sockaddr *, socklen_t)
    int getsockopt(int, int, int, void *, socklen_t *)
    int setsockopt(int, int, int, const void *, socklen_t)
    ssize_t send(int, const void *, size_t, int)
    ssize_t recv(int, void *, size_t, int)
    enum:
        AF_INET
        SOCK_STREAM
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_ERROR
        SO_LINGER
        MSG_NOSIGNAL

cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        unsigned int s_addr
    struct sockaddr_in:
        unsigned short sin_family
        unsigned short sin_port
        in_addr sin_addr
    unsigned short htons(unsigned short)

cdef extern from "<unistd.h>" nogil:
    int close(int)

cdef extern from "<sys/epoll.h>" nogil:
    union epoll_data_t:
        int fd
        unsigned long long u64
    struct epoll_event:
        unsigned int events
        epoll_data_t data
    int epoll_create1(int)
    int epoll_ctl(int, int, int, epoll_event *)
    int epoll_wait(int, epoll_event *, int, int)
    enum:
        EPOLL_CLOEXEC
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP

DEF BATCH = 512


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline void _abort(int fd) noexcept nogil:
    cdef linger lg
    lg.l_onoff = 1
    lg.l_linger = 0
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))
    close(fd)


def run(list servers, double period, double seconds, double timeout=2.0, bytes request=None,
        double ahead=0.0, int max_late_samples=200000):
    """Check every ``(ipv4 bytes, port)`` in ``servers`` once per ``period`` for ``seconds``.

    ``ahead``: start what is due within this much now (a checker's TICK_AHEAD); 0 waits for each
    slot to the millisecond. Returns counts and start lateness samples (seconds)."""
    cdef int n = len(servers)
    cdef sockaddr_in *addrs = <sockaddr_in *>calloc(n, sizeof(sockaddr_in))
    cdef int cap = 1 << 20
    cdef double *started_at = <double *>calloc(cap, sizeof(double))  # by fd
    cdef unsigned char *phase = <unsigned char *>calloc(cap, 1)  # 0 free, 1 connecting, 2 reading
    cdef int *ring = <int *>calloc(cap, sizeof(int))  # fds in start order, for the timeout
    cdef double *ring_at = <double *>calloc(cap, sizeof(double))  # ... and when each started
    cdef unsigned int rhead = 0, rtail = 0, rmask = cap - 1
    cdef epoll_event events[BATCH]
    cdef epoll_event ev
    cdef int ep = epoll_create1(EPOLL_CLOEXEC)
    cdef long long slot = 0, connected = 0, failed = 0, timed_out = 0, started = 0, answered = 0
    cdef double t0, now, at, step = period / n if n else period
    cdef double end
    cdef int i, k, fd, rc, err, wait_ms, nev
    cdef socklen_t elen
    cdef char buf[4096]
    cdef const char *req = NULL
    cdef Py_ssize_t reqlen = 0
    cdef ssize_t r
    cdef list late = []
    cdef dict errors = {}
    if addrs == NULL or started_at == NULL or phase == NULL or ring == NULL or ring_at == NULL or ep < 0:
        raise MemoryError()
    if request is not None:
        req = request
        reqlen = len(request)
    for i in range(n):
        a, p = servers[i]
        addrs[i].sin_family = AF_INET
        addrs[i].sin_port = htons(p)
        memcpy(&addrs[i].sin_addr, <char *>a, 4)
    t0 = _now()
    end = t0 + seconds
    while True:
        now = _now()
        if now >= end:
            break
        # Start what is due: server slot % n at t0 + slot * step.
        while True:
            at = t0 + slot * step
            if at > now + ahead:
                break
            if len(late) < max_late_samples:
                late.append(now - at)
            fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
            slot += 1
            started += 1
            if fd < 0:
                failed += 1
                errors[errno] = errors.get(errno, 0) + 1
                continue
            if fd >= cap:
                close(fd)
                failed += 1
                continue
            rc = connect(fd, <sockaddr *>&addrs[(slot - 1) % n], sizeof(sockaddr_in))
            if rc < 0 and errno != EINPROGRESS:
                failed += 1
                errors[errno] = errors.get(errno, 0) + 1
                close(fd)
                continue
            ev.events = EPOLLOUT | EPOLLERR | EPOLLHUP
            ev.data.fd = fd
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)
            phase[fd] = 1
            started_at[fd] = now
            ring[rtail & rmask] = fd
            ring_at[rtail & rmask] = now
            rtail += 1
        # Time out the oldest (one timeout for all: start order is deadline order).
        while rhead != rtail:
            fd = ring[rhead & rmask]
            if phase[fd] == 0 or started_at[fd] != ring_at[rhead & rmask]:
                rhead += 1  # ended, or its descriptor is a newer check's now
                continue
            if started_at[fd] + timeout > now:
                break
            phase[fd] = 0
            _abort(fd)
            timed_out += 1
            rhead += 1
        # Sleep until the next slot is due; it starts then with what falls within ``ahead`` of it.
        at = t0 + slot * step
        wait_ms = <int>((at - now) * 1000) + 1 if at > now else 0
        if wait_ms > 0 and at > end:
            wait_ms = <int>((end - now) * 1000) + 1
        nev = epoll_wait(ep, events, BATCH, wait_ms)
        for k in range(nev if nev > 0 else 0):
            fd = events[k].data.fd
            if phase[fd] == 1:
                err = 0
                elen = sizeof(err)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen)
                if err == 0 and req != NULL:
                    if send(fd, req, reqlen, MSG_NOSIGNAL) == reqlen:
                        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP
                        ev.data.fd = fd
                        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev)
                        phase[fd] = 2
                        continue
                    err = errno
                phase[fd] = 0
                _abort(fd)
                if err == 0:
                    connected += 1
                else:
                    failed += 1
                    errors[err] = errors.get(err, 0) + 1
            elif phase[fd] == 2:
                # One read of the answer (a check's answer fits in one), then the reset: the
                # checker too stops at the end of the answer, not at the server's FIN.
                r = recv(fd, buf, sizeof(buf), 0)
                if r < 0 and (errno == EAGAIN or errno == EINTR):
                    continue  # more to come
                phase[fd] = 0
                _abort(fd)
                connected += 1
                answered += 1
    # What is still in flight is abandoned, not counted.
    for fd in range(cap):
        if phase[fd]:
            _abort(fd)
    close(ep)
    free(addrs)
    free(started_at)
    free(phase)
    free(ring)
    free(ring_at)
    return {"started": started, "connected": connected, "failed": failed, "timed_out": timed_out,
            "answered": answered, "errors": errors, "wall_s": _now() - t0, "lateness": late}
