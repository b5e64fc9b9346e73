# TCP_CHECK's connects in C: socket, connect, epoll and close with no Python object per check.
# Twin: lvsfast/check/_tcp_probe_py.py (socket objects and select.epoll). Same results.
from libc.errno cimport EINPROGRESS, EINTR, ETIMEDOUT, errno
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, memset

from includes.connect cimport (
    AF_INET, AF_INET6, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLLERR, EPOLLHUP, EPOLLOUT, SO_ERROR, SO_REUSEADDR,
    SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, bind, close, connect, epoll_create1, epoll_ctl,
    epoll_event, epoll_wait, getsockopt, htons, setsockopt, sockaddr, socket, socklen_t,
)
from includes.socket cimport sockaddr_in, sockaddr_in6

__all__ = ["TcpProber", "CONNECTED"]

CONNECTED = -1

DEF BATCH = 1024


cdef struct Slot:
    long long token
    unsigned int serial
    int active


cdef struct Deadline:
    double at
    int fd
    unsigned int serial


cdef int _fill(sockaddr_in6 *sa, int family, bytes addr, int port) except -1:
    cdef sockaddr_in *s4 = <sockaddr_in *>sa
    memset(sa, 0, sizeof(sockaddr_in6))
    if family == AF_INET:
        if len(addr) != 4:
            raise ValueError("an IPv4 address is 4 bytes")
        s4.sin_family = AF_INET
        s4.sin_port = htons(port)
        memcpy(&s4.sin_addr, <char *>addr, 4)
        return sizeof(sockaddr_in)
    if len(addr) != 16:
        raise ValueError("an IPv6 address is 16 bytes")
    sa.sin6_family = AF_INET6
    sa.sin6_port = htons(port)
    memcpy(&sa.sin6_addr, <char *>addr, 16)
    return sizeof(sockaddr_in6)


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

    def __dealloc__(self):
        self._close_all()
        free(self.slots)
        free(self.heap)

    cdef void _close_all(self):
        cdef int fd
        for fd in range(self.nslots):
            if self.slots[fd].active:
                self.slots[fd].active = 0
                close(fd)
        self.pending = 0
        self.nheap = 0
        if self.epfd >= 0:
            close(self.epfd)
            self.epfd = -1

    def fileno(self):
        return self.epfd

    def __len__(self):
        return self.pending

    cdef int _grow(self, int fd) except -1:
        cdef int n
        cdef Slot *s
        if fd >= self.nslots:
            n = max(fd + 1, self.nslots * 2, 256)
            s = <Slot *>realloc(self.slots, n * sizeof(Slot))
            if s == NULL:
                raise MemoryError()
            memset(s + self.nslots, 0, (n - self.nslots) * sizeof(Slot))
            self.slots, self.nslots = s, n
        if self.nheap == self.capheap:
            n = max(self.capheap * 2, 256)
            h = <Deadline *>realloc(self.heap, n * sizeof(Deadline))
            if h == NULL:
                raise MemoryError()
            self.heap, self.capheap = h, n
        return 0

    cdef void _push(self, double at, int fd, unsigned int serial):
        cdef int i = self.nheap
        cdef int parent
        self.nheap += 1
        while i > 0:
            parent = (i - 1) >> 1
            if self.heap[parent].at <= at:
                break
            self.heap[i] = self.heap[parent]
            i = parent
        self.heap[i].at = at
        self.heap[i].fd = fd
        self.heap[i].serial = serial

    cdef void _pop(self):
        cdef Deadline last
        cdef int i = 0
        cdef int child
        self.nheap -= 1
        if self.nheap == 0:
            return
        last = self.heap[self.nheap]
        while True:
            child = 2 * i + 1
            if child >= self.nheap:
                break
            if child + 1 < self.nheap and self.heap[child + 1].at < self.heap[child].at:
                child += 1
            if self.heap[child].at >= last.at:
                break
            self.heap[i] = self.heap[child]
            i = child
        self.heap[i] = last

    cdef inline bint _live(self, Deadline *d):
        return d.fd < self.nslots and self.slots[d.fd].active and self.slots[d.fd].serial == d.serial

    def start(self, long long token, int family, bytes addr, int port, double timeout, double now,
              bytes bind_addr=None, int bind_port=0):
        """0 when the connect is under way; CONNECTED (-1) when it succeeded at once; else errno."""
        cdef sockaddr_in6 sa, sb
        cdef int salen = _fill(&sa, family, addr, port)
        cdef int sblen = 0
        cdef int one = 1
        cdef int fd, rc, err
        cdef epoll_event ev
        if self.epfd < 0:
            raise ValueError("prober is closed")
        if bind_addr is not None:
            sblen = _fill(&sb, family, bind_addr, bind_port)
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
        if fd < 0:
            return errno
        if sblen:
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))
            if bind(fd, <sockaddr *>&sb, sblen) < 0:
                err = errno
                close(fd)
                return err
        rc = connect(fd, <sockaddr *>&sa, salen)
        if rc == 0:
            close(fd)
            return CONNECTED
        err = errno
        if err != EINPROGRESS:
            close(fd)
            return err
        try:
            self._grow(fd)
        except MemoryError:
            close(fd)
            raise
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
        self.pending += 1
        self._push(now + timeout, fd, self.serial)
        return 0

    def harvest(self, list out):
        """Append ``(token, errno)`` for every finished connect; returns how many."""
        cdef epoll_event events[BATCH]
        cdef int n, i, fd, err, total = 0
        cdef socklen_t len_
        while self.epfd >= 0:
            n = epoll_wait(self.epfd, events, BATCH, 0)
            if n < 0:
                if errno == EINTR:
                    continue
                raise OSError(errno, "epoll_wait failed")
            for i in range(n):
                fd = events[i].data.fd
                if fd >= self.nslots or not self.slots[fd].active:
                    continue
                err = 0
                len_ = sizeof(err)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len_) < 0:
                    err = errno
                self.slots[fd].active = 0
                self.pending -= 1
                close(fd)  # also leaves the epoll set
                out.append((self.slots[fd].token, err))
                total += 1
            if n < BATCH:
                break
        return total

    def expire(self, double now, list out):
        """Fail every connect whose deadline is <= ``now`` with ETIMEDOUT (appended to ``out``)."""
        cdef Deadline *top
        cdef int fd
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
            close(fd)
            out.append((self.slots[fd].token, ETIMEDOUT))

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
