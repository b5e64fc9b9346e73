# tcp_probe.pyx's socket helpers: a check's connection closed with a reset, and the
# sockaddr of a check's address (from bytes when scheduled, from its C record at each run).

cdef inline void _abort(int fd) noexcept nogil:
    """Close a checked connection with a reset, as HAProxy closes its checks: no FIN exchange and
    no TIME_WAIT left here (at 20,000 checks a second those would fill the kernel's table)."""
    cdef linger lg
    lg.l_onoff = 1
    lg.l_linger = 0
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))
    close(fd)


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


cdef int _fill_raw(sockaddr_in6 *sa, int family, unsigned char *addr, int port) noexcept nogil:
    cdef sockaddr_in *s4 = <sockaddr_in *>sa
    memset(sa, 0, sizeof(sockaddr_in6))
    if family == AF_INET:
        s4.sin_family = AF_INET
        s4.sin_port = htons(port)
        memcpy(&s4.sin_addr, addr, 4)
        return sizeof(sockaddr_in)
    sa.sin6_family = AF_INET6
    sa.sin6_port = htons(port)
    memcpy(&sa.sin6_addr, addr, 16)
    return sizeof(sockaddr_in6)
