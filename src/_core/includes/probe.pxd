# tcp_probe.pyx's records, in C arrays indexed by descriptor (Slot) and by check token (Check),
# and the entries of its two min-heaps by time (Deadline: connects and answers in flight; Due:
# scheduled checks). A heap entry is live while its serial matches its Slot's or Check's.

cdef struct Slot:
    long long token
    unsigned int serial
    int active
    int periodic  # the connect belongs to scheduled check ``token``
    int phase
    Py_ssize_t sent  # bytes of the request sent so far
    int answering  # an Answer is in answers[fd] (made at the first read that was not a quiet answer)


cdef struct Check:
    int active
    int paused
    int report  # hand every result to the caller, not only failures
    int waiting  # a result was handed over; no new run until next() says when
    int family
    int has_bind
    unsigned char addr[16]
    unsigned char baddr[16]
    int port
    int bport
    int fd  # the connect in flight, or -1
    int exchange  # send requests[token] once connected and read the answer
    unsigned int serial  # valid due-heap entry
    double timeout
    double period
    double due
    long long runs
    # An exchange's request and status table (bytes held in the prober's requests/statuses
    # dicts while scheduled), read here with no dict lookup per run.
    const char *req
    Py_ssize_t reqlen
    const unsigned char *statuses
    int nstatuses


cdef struct Deadline:
    double at
    int fd
    unsigned int serial


cdef struct Due:
    double at
    long long token
    unsigned int serial
