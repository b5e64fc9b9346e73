"""BFD's sockets: one receiving socket per (family, port) on 3784 (single hop, RFC 5881) or 4784
(multihop, RFC 5883) that reports each packet's TTL/hop limit and destination, and one sending
socket per session, bound to a source port in 49152-65535 and sending with the session's TTL.

Receiving reads every waiting packet in one call (a batch), so a burst costs one wake-up.
"""
from __future__ import annotations

import errno
import random
import socket
import struct
from typing import NamedTuple

SINGLE_HOP_PORT = 3784
MULTIHOP_PORT = 4784
SOURCE_PORTS = (49152, 65535)  # RFC 5881 §4

# Linux values; Python 3.11's socket module lacks some of them.
IP_TTL = 2
IP_PKTINFO = 8
IP_RECVTTL = 12
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
IPV6_UNICAST_HOPS = 16

_MAXPKT = 512
_CTRL = socket.CMSG_SPACE(32) + socket.CMSG_SPACE(4)


class Received(NamedTuple):
    data: bytes
    src: str  # the sender's address (compressed text form)
    src_port: int
    dst: str  # the address it was sent to ("" when the kernel did not say)
    ttl: int  # TTL / hop limit as received (-1: unknown)


def _af(family: int) -> int:
    return socket.AF_INET if family == 4 else socket.AF_INET6


def open_receiver(family: int, port: int) -> socket.socket:
    """The socket that receives every session's packets on ``port`` for ``family``."""
    s = socket.socket(_af(family), socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == 4:
            s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            s.bind(("0.0.0.0", port))
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            s.bind(("::", port))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def receive(sock: socket.socket, family: int, limit: int = 64) -> list[Received]:
    """Every packet waiting on ``sock`` (at most ``limit``), without blocking."""
    out: list[Received] = []
    for _ in range(limit):
        try:
            data, anc, _flags, addr = sock.recvmsg(_MAXPKT, _CTRL, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            break
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                continue  # an ICMP error queued on the socket: not a packet
            raise
        ttl, dst = -1, ""
        for level, typ, cdata in anc:
            if level == socket.IPPROTO_IP:
                if typ == IP_TTL:
                    ttl = cdata[0] if len(cdata) == 1 else struct.unpack_from("i", cdata)[0]
                elif typ == IP_PKTINFO and len(cdata) >= 12:
                    dst = socket.inet_ntop(socket.AF_INET, cdata[8:12])
            elif level == socket.IPPROTO_IPV6:
                if typ == IPV6_HOPLIMIT:
                    ttl = struct.unpack_from("i", cdata)[0]
                elif typ == IPV6_PKTINFO and len(cdata) >= 16:
                    dst = socket.inet_ntop(socket.AF_INET6, cdata[:16])
        src = addr[0].split("%", 1)[0]
        out.append(Received(data, src, addr[1], dst, ttl))
    return out


def open_sender(family: int, neighbor: str, port: int, ttl: int, source: str | None = None,
                rng: random.Random | None = None) -> socket.socket:
    """A socket connected to ``neighbor``:``port``, sending with ``ttl``, from a source port in
    49152-65535 (and from ``source`` when given)."""
    s = socket.socket(_af(family), socket.SOCK_DGRAM)
    try:
        if family == 4:
            s.setsockopt(socket.IPPROTO_IP, IP_TTL, ttl)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl)
        r = rng or random.Random()
        lo, hi = SOURCE_PORTS
        first = r.randint(lo, hi)
        for i in range(hi - lo + 1):
            p = lo + (first - lo + i) % (hi - lo + 1)
            try:
                s.bind((source or ("0.0.0.0" if family == 4 else "::"), p))
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        else:
            raise OSError(errno.EADDRINUSE, "no free BFD source port in 49152-65535")
        s.connect((neighbor, port))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s
