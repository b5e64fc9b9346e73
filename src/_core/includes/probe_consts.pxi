# tcp_probe.pyx: an exchange's phases, per descriptor (connecting, sending the request, reading
# the answer), its read size, and how many epoll events one harvest takes at a time.
cdef enum:
    CONNECTING = 0
    SENDING = 1
    READING = 2
    READ_CHUNK = 65536
    BATCH = 1024
    # Start lateness kept as a histogram of 1 ms bins from LATE_EARLY_MS early (starts a tick
    # ahead) to LATE_BINS - LATE_EARLY_MS - 1 ms late; the last bin holds everything later.
    LATE_BINS = 2100
    LATE_EARLY_MS = 50
    MAX_BODY_C = 1048576  # check.http_answer.MAX_BODY
