# Address conversion from the C library.
cdef extern from "arpa/inet.h" nogil:
    int inet_pton(int af, const char *src, void *dst)
    const char *inet_ntop(int af, const void *src, char *dst, unsigned int size)

cdef extern from "sys/socket.h" nogil:
    enum:
        AF_INET
        AF_INET6
