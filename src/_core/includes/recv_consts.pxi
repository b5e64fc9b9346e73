# vrrp_socket.pyx's receive buffers, per packet.
cdef enum:
    MAXPKT = 4096  # a VRRP packet is far smaller; a longer one is returned truncated
    CTRL = 128  # ancillary data: IP_PKTINFO or IPV6_PKTINFO and IPV6_HOPLIMIT
