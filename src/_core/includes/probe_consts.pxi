# tcp_probe.pyx: an exchange's phases, per descriptor (connecting, sending the request, reading
# the answer), its read size, and how many epoll events one harvest takes at a time.
cdef enum:
    CONNECTING = 0
    SENDING = 1
    READING = 2
    READ_CHUNK = 65536
    BATCH = 1024
