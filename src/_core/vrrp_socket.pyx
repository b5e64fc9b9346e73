# Batch receive of VRRP packets with recvmmsg, ancillary data decoded in C, and the timerfd
# deadlines the VRRP timers wake on.
# Twin: lvsfast/vrrp/_socket_py.py (one recvmsg per packet, timerfd through ctypes). Same results
# for the same traffic and the same deadlines.
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from includes.socket cimport (
    CMSG_DATA, CMSG_FIRSTHDR, CMSG_NXTHDR, CMSG_SPACE, IP_PKTINFO, IPPROTO_IP, IPPROTO_IPV6, IPV6_HOPLIMIT,
    IPV6_PKTINFO, MSG_DONTWAIT, MSG_TRUNC, cmsghdr, in6_pktinfo, in_pktinfo, iovec, mmsghdr, recvmmsg,
    sockaddr_in6, CLOCK_MONOTONIC, TFD_CLOEXEC, TFD_NONBLOCK, TFD_TIMER_ABSTIME, itimerspec, read,
    timerfd_create, timerfd_settime,
)

__all__ = ["recv_batch", "timer_expired", "timer_open", "timer_set"]

include "includes/recv_consts.pxi"


def recv_batch(int fd, int family, int max_packets=64):
    """Every packet waiting on ``fd`` (up to ``max_packets``), without blocking.

    Returns a list of ``(packet, src, dst, ttl, ifindex)``. IPv4 raw sockets deliver the IP
    header inside ``packet`` (src, dst are None and ttl -1: the receiver reads the header).
    IPv6 delivers the VRRP payload; src from the sender's address, dst and ifindex from
    IPV6_PKTINFO, ttl from IPV6_HOPLIMIT. Truncated packets are returned truncated (and fail
    validation) rather than silently mixed up.
    """
    cdef int n, i
    cdef unsigned int vlen = max_packets if 0 < max_packets <= 1024 else 64
    cdef mmsghdr *msgs = <mmsghdr *>malloc(vlen * sizeof(mmsghdr))
    cdef iovec *iov = <iovec *>malloc(vlen * sizeof(iovec))
    cdef unsigned char *bufs = <unsigned char *>malloc(vlen * MAXPKT)
    cdef unsigned char *ctrl = <unsigned char *>malloc(vlen * CTRL)
    cdef sockaddr_in6 *names = <sockaddr_in6 *>malloc(vlen * sizeof(sockaddr_in6))
    cdef cmsghdr *cm
    cdef in_pktinfo *pi4
    cdef in6_pktinfo *pi6
    cdef int ttl, ifindex, length
    cdef list out = []
    if msgs == NULL or iov == NULL or bufs == NULL or ctrl == NULL or names == NULL:
        free(msgs); free(iov); free(bufs); free(ctrl); free(names)
        raise MemoryError()
    try:
        memset(msgs, 0, vlen * sizeof(mmsghdr))
        for i in range(<int>vlen):  # vlen <= 1024
            iov[i].iov_base = bufs + i * MAXPKT
            iov[i].iov_len = MAXPKT
            msgs[i].msg_hdr.msg_iov = &iov[i]
            msgs[i].msg_hdr.msg_iovlen = 1
            msgs[i].msg_hdr.msg_control = ctrl + i * CTRL
            msgs[i].msg_hdr.msg_controllen = CTRL
            msgs[i].msg_hdr.msg_name = &names[i]
            msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6)
        with nogil:
            n = recvmmsg(fd, msgs, vlen, MSG_DONTWAIT, NULL)
        if n < 0:
            if errno == EAGAIN or errno == EINTR:  # EWOULDBLOCK is EAGAIN on Linux
                return out
            raise OSError(errno, "recvmmsg failed")
        for i in range(n):
            ttl = -1
            ifindex = 0
            dst = None
            length = msgs[i].msg_len if msgs[i].msg_len <= MAXPKT else MAXPKT
            cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr)
            while cm != NULL:
                if cm.cmsg_level == IPPROTO_IP and cm.cmsg_type == IP_PKTINFO:
                    pi4 = <in_pktinfo *>CMSG_DATA(cm)
                    ifindex = pi4.ipi_ifindex
                elif cm.cmsg_level == IPPROTO_IPV6 and cm.cmsg_type == IPV6_PKTINFO:
                    pi6 = <in6_pktinfo *>CMSG_DATA(cm)
                    ifindex = pi6.ipi6_ifindex
                    dst = PyBytes_FromStringAndSize(<const char *>pi6.ipi6_addr.s6_addr, 16)
                elif cm.cmsg_level == IPPROTO_IPV6 and cm.cmsg_type == IPV6_HOPLIMIT:
                    memcpy(&ttl, CMSG_DATA(cm), sizeof(int))
                cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)
            pkt = PyBytes_FromStringAndSize(<const char *>(bufs + i * MAXPKT), length)
            if family == 6:
                src = PyBytes_FromStringAndSize(<const char *>names[i].sin6_addr.s6_addr, 16)
                out.append((pkt, src, dst, ttl, ifindex))
            else:
                out.append((pkt, None, None, -1, ifindex))
        return out
    finally:
        free(msgs); free(iov); free(bufs); free(ctrl); free(names)


def timer_open():
    """A non-blocking CLOCK_MONOTONIC timerfd (close it with os.close)."""
    cdef int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
    if fd < 0:
        raise OSError(errno, "timerfd_create failed")
    return fd


def timer_set(int fd, double when):
    """Arm ``fd`` to expire once at ``when`` (CLOCK_MONOTONIC seconds, time.monotonic()'s clock);
    ``when`` <= 0 disarms. A time already past expires at once. Re-arming drops any expiry not
    yet read."""
    cdef itimerspec spec
    memset(&spec, 0, sizeof(spec))
    cdef long long ns
    if when > 0:
        ns = <long long>(when * 1e9)
        if ns < 1:
            ns = 1
        spec.it_value.tv_sec = ns // 1000000000
        spec.it_value.tv_nsec = ns % 1000000000
    if timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL) < 0:
        raise OSError(errno, "timerfd_settime failed")


def timer_expired(int fd):
    """How many expiries of ``fd`` are unread (0 or 1 for a one-shot), without blocking."""
    cdef uint64_t n = 0
    cdef ssize_t got = read(fd, &n, 8)
    if got != 8:
        if got < 0 and (errno == EAGAIN or errno == EINTR):
            return 0
        raise OSError(errno, "timerfd read failed")
    return n
