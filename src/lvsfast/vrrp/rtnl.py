"""VIPs added and removed with one rtnetlink request each, on the calling thread.

A new master's first gratuitous ARP/NA can only go out once its VIPs are in, and until it lands
the clients keep sending to the old master. Through pyroute2 (a socket opened per call, on the
netlink worker thread) adding a VIP took about 5 ms; an RTM_NEWADDR built here and acked by the
kernel within the same system call takes tens of microseconds, so the announcement follows the
new master's first advert at once. Routes, rules and look-ups stay with pyroute2.
"""
from __future__ import annotations

import errno
import os
import socket
import struct

from lvsfast.netlink import ack_code, attr as _attr, attrs as _attrs

RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_DUMP = 0x300
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFA_F_NODAD = 0x02


def address_message(add: bool, seq: int, index: int, address: str, prefix: int, *, scope: int = 0,
                    label: str | None = None, broadcast: str | None = None, flags: int = 0) -> bytes:
    """RTM_NEWADDR (``add``) or RTM_DELADDR for one address, asking for an ack."""
    v6 = ":" in address
    family = socket.AF_INET6 if v6 else socket.AF_INET
    raw = socket.inet_pton(family, address)
    body = struct.pack("=BBBBI", family, prefix, flags, scope, index)
    body += _attr(IFA_ADDRESS, raw)
    if not v6:
        body += _attr(IFA_LOCAL, raw)  # for IPv4 the local address is the one that is ours
        if broadcast:
            body += _attr(IFA_BROADCAST, socket.inet_aton(broadcast))
        if label:
            body += _attr(IFA_LABEL, label.encode() + b"\0")
    mtype = RTM_NEWADDR if add else RTM_DELADDR
    mflags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if add else 0)
    return struct.pack("=IHHII", 16 + len(body), mtype, mflags, seq, 0) + body


class AddressSocket:
    """One NETLINK_ROUTE socket kept open; each request returns once the kernel has acked it
    (rtnetlink runs a request inside the sender's system call, so the ack is already queued)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._sock.settimeout(2.0)
        self._seq = int.from_bytes(os.urandom(2), "little")

    def change(self, add: bool, dev: str, address: str, prefix: int, **kw) -> None:
        """Add or delete one address on ``dev``; raises OSError with the kernel's errno."""
        try:
            index = socket.if_nametoindex(dev)
        except OSError:
            raise OSError(errno.ENODEV, f"interface {dev} does not exist") from None
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        self._sock.send(address_message(add, self._seq, index, address, prefix, **kw))
        while True:
            code = ack_code(self._sock.recv(65536), self._seq)
            if code is None:
                continue
            if code:
                raise OSError(code, os.strerror(code))
            return

    def dump(self) -> set[tuple[int, str, int]]:
        """Every address the kernel holds, as (interface index, address, prefix length); the
        address is IFA_ADDRESS in inet_ntop's spelling, as pyroute2 reports it."""
        return set(self.addresses())

    def addresses(self, family: int = socket.AF_UNSPEC) -> list[tuple[int, str, int]]:
        """As :meth:`dump`, of one family (or all), in the kernel's order: an interface's
        primary address first."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        self._sock.send(struct.pack("=IHHII", 16 + 8, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
                        + struct.pack("=BBBBI", family, 0, 0, 0, 0))
        out: list[tuple[int, str, int]] = []
        while True:
            buf = self._sock.recv(1 << 16)
            off = 0
            while off + 16 <= len(buf):
                ln, mtype, _flags, mseq = struct.unpack_from("=IHHI", buf, off)
                if ln < 16 or off + ln > len(buf):
                    break
                if mseq == seq:
                    if mtype == NLMSG_DONE:
                        return out
                    if mtype == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", buf, off + 16)[0]
                        raise OSError(code, os.strerror(code))
                    if mtype == RTM_NEWADDR and ln >= 24:
                        fam, prefix, _f, _scope, index = struct.unpack_from("=BBBBI", buf, off + 16)
                        size = 4 if fam == socket.AF_INET else 16
                        for atype, a, b in _attrs(buf, off + 24, off + ln):
                            if atype == IFA_ADDRESS and b - a == size:
                                out.append((index, socket.inet_ntop(fam, buf[a:b]), prefix))
                                break
                off += (ln + 3) & ~3

    def close(self) -> None:
        self._sock.close()
