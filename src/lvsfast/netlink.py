"""Netlink's framing, shared by the hand-encoded paths (rtnetlink VIPs, nf_tables updates and
notifications): attributes in and out, and the ack of one request."""
from __future__ import annotations

import struct
from typing import Iterator

NLMSG_ERROR = 2


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
