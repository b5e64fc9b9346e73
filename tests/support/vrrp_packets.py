"""Hand-built VRRP packets (independent of the code under test) for golden and drop tests."""
from __future__ import annotations

import socket
import struct


def csum(data: bytes, initial: int = 0) -> int:
    if len(data) % 2:
        data += b"\0"
    s = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def pseudo(src: bytes, dst: bytes, length: int) -> int:
    return sum(struct.unpack(f"!{len(src) // 2}H", src)) + sum(struct.unpack(f"!{len(dst) // 2}H", dst)) + 112 + length


def vrrp(version: int, vrid: int, prio: int, addrs: list[str], *, interval: int = 100, family: int = 4,
         src: str = "10.0.0.2", dst: str = "224.0.0.18", auth_type: int = 0, auth: bytes = b"",
         pseudo_header: bool = True, bad_checksum: bool = False, typ: int = 1, count: int | None = None) -> bytes:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    packed = b"".join(socket.inet_pton(af, a) for a in addrs)
    n = len(addrs) if count is None else count
    if version == 2:
        body = struct.pack("!BBBBBBH", (2 << 4) | typ, vrid, prio, n, auth_type, interval // 100, 0) + packed
        body += auth[:8].ljust(8, b"\0")
        c = csum(body)
    else:
        body = struct.pack("!BBBBHH", (version << 4) | typ, vrid, prio, n, interval & 0xFFF, 0) + packed
        init = pseudo(socket.inet_pton(af, src), socket.inet_pton(af, dst), len(body)) if (pseudo_header or family == 6) else 0
        c = csum(body, init)
    if bad_checksum:
        c ^= 0x0101
    return body[:6] + struct.pack("!H", c) + body[8:]


def ipv4(payload: bytes, *, src: str = "10.0.0.2", dst: str = "224.0.0.18", ttl: int = 255, proto: int = 112) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 0, 0, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload
