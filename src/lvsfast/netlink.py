"""Netlink's framing, shared by the hand-encoded paths (rtnetlink VIPs, nf_tables updates and
notifications): attributes in and out, the ack of one request, and a multicast subscription
read on the event loop."""
from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
from typing import Callable, Iterable, Iterator

NLMSG_ERROR = 2
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
_SO_RCVBUFFORCE = 33

log = logging.getLogger("lvsfast.netlink")


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def attrs(buf: bytes, off: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(type without the nested/byte-order flags, payload start, payload end) for each attribute."""
    while off + 4 <= end:
        alen, atype = struct.unpack_from("=HH", buf, off)
        if alen < 4:
            return
        yield atype & 0x3FFF, off + 4, off + alen
        off += (alen + 3) & ~3


def ack_code(buf: bytes, seq: int) -> int | None:
    """The errno of the ack for ``seq`` in ``buf`` (0 for success), or None if it is not there."""
    off = 0
    while off + 20 <= len(buf):
        ln, mtype, _flags, mseq, _pid = struct.unpack_from("=IHHII", buf, off)
        if ln < 16:
            return None
        if mtype == NLMSG_ERROR and mseq == seq:
            return -struct.unpack_from("=i", buf, off + 16)[0]
        off += (ln + 3) & ~3
    return None


class Subscription:
    """A netlink socket joined to multicast ``groups`` and read on the running loop. Each
    wake-up reads every datagram waiting and hands them to ``on_read`` in order, with None
    where the kernel dropped some (ENOBUFS: the socket overflowed, so anything may have
    changed). ``what`` names the notifications in the log."""

    def __init__(self, protocol: int, groups: Iterable[int], on_read: Callable[[list[bytes | None]], None], *,
                 what: str, rcvbuf: int = 1 << 20) -> None:
        self._on_read = on_read
        self._what = what
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, protocol)
        try:
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)  # as root
            except OSError:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self._sock.bind((0, 0))
            for group in groups:
                self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
        except OSError:
            self._sock.close()
            raise
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        items: list[bytes | None] = []
        while True:
            try:
                items.append(self._sock.recv(1 << 16))
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    log.error("%s: %s", self._what, exc)
                    break
                items.append(None)
        if items:
            self._on_read(items)

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
