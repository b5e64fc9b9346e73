"""Pure-Python twin of ``lvsfast._core.vrrp_socket``: batch receive with one recvmsg per packet."""
from __future__ import annotations

import socket
import struct

__all__ = ["recv_batch"]

IP_PKTINFO = 8  # Linux; Python 3.11's socket module does not export it
_MAXPKT = 4096
_CTRL = 128


def recv_batch(fd: int, family: int, max_packets: int = 64) -> list[tuple[bytes, bytes | None, bytes | None, int, int]]:
    """Every packet waiting on ``fd`` (up to ``max_packets``), without blocking (see the compiled twin)."""
    sock = socket.socket(fileno=fd)
    out = []
    try:
        for _ in range(max_packets if 0 < max_packets <= 1024 else 64):
            try:
                data, anc, _flags, addr = sock.recvmsg(_MAXPKT, _CTRL, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            ttl, ifindex, dst = -1, 0, None
            for level, typ, cdata in anc:
                if level == socket.IPPROTO_IP and typ == IP_PKTINFO:
                    ifindex = struct.unpack_from("i", cdata)[0]
                elif level == socket.IPPROTO_IPV6 and typ == socket.IPV6_PKTINFO:
                    dst = bytes(cdata[:16])
                    ifindex = struct.unpack_from("I", cdata, 16)[0]
                elif level == socket.IPPROTO_IPV6 and typ == socket.IPV6_HOPLIMIT:
                    ttl = struct.unpack_from("i", cdata)[0]
            if family == 6:
                src = socket.inet_pton(socket.AF_INET6, addr[0].split("%")[0])
                out.append((data, src, dst, ttl, ifindex))
            else:
                out.append((data, None, None, -1, ifindex))
    finally:
        sock.detach()  # the fd belongs to the caller
    return out
