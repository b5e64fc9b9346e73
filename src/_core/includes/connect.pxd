# System calls for many non-blocking TCP connects (and HTTP exchanges) watched by one epoll set
# (tcp_probe.pyx).
cdef extern from "sys/epoll.h" nogil:
    union epoll_data_t "epoll_data":
        void *ptr
        int fd
        unsigned int u32
        unsigned long long u64
    struct epoll_event:
        unsigned int events
        epoll_data_t data
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLL_CLOEXEC
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)

cdef extern from "sys/socket.h" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        pass
    enum:
        AF_INET
        AF_INET6
        SOCK_STREAM
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_ERROR
        SO_REUSEADDR
        MSG_NOSIGNAL
        SO_LINGER
    struct linger:
        int l_onoff
        int l_linger
    ctypedef long ssize_t
    int socket(int domain, int type, int protocol)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    int connect(int fd, const sockaddr *addr, socklen_t len)
    int bind(int fd, const sockaddr *addr, socklen_t len)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)

cdef extern from "arpa/inet.h" nogil:
    unsigned short htons(unsigned short)

cdef extern from "unistd.h" nogil:
    int close(int fd)
