"""VRRPv2 IPsec-AH authentication (auth_type AH), as keepalived 2.2 speaks it.

The advert travels as IPv4 protocol 51: an AH header (next header 112, SPI = the sender's
address, a sequence number) whose ICV is HMAC-MD5-96 keyed with ``auth_pass`` over the IP header
(TOS, fragment field and checksum zeroed), the AH header with a zero ICV, and the VRRP payload.
Checked against adverts captured from keepalived 2.2.7. Rare and deprecated, so plain Python
serves both the compiled core and its twin.
"""
from __future__ import annotations

import socket
import struct

AH_PROTO = 51
AH_LEN = 24  # 12 bytes of header and a 12-byte ICV


def _ip_sum(hdr: bytes) -> int:
    s = sum(struct.unpack("!10H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def icv(ip_header: bytes, ah: bytes, vrrp: bytes, key: bytes) -> bytes:
    # hashlib and hmac only where AH is configured: every VRRP child imports this module, and
    # they were 2 ms of its start on the way to the first VIP.
    import hashlib
    import hmac

    h = bytearray(ip_header[:20])
    h[1] = 0  # TOS
    h[6:8] = b"\0\0"  # flags and fragment offset
    h[10:12] = b"\0\0"  # header checksum
    a = bytearray(ah[:AH_LEN])
    a[12:24] = bytes(12)
    return hmac.new(key, bytes(h) + bytes(a) + vrrp, hashlib.md5).digest()[:12]


def verify(packet: bytes, ihl: int, key: bytes) -> bool:
    """``packet`` is the whole IPv4 packet carrying AH; True when its ICV is right for ``key``."""
    import hmac

    ah = packet[ihl:ihl + AH_LEN]
    return hmac.compare_digest(icv(packet[:20], ah, packet[ihl + AH_LEN:], key), ah[12:24])


def wrap(vrrp: bytes, src: str, dst: str, key: bytes, seq: int, ip_id: int, ttl: int = 255) -> bytes:
    """The full IPv4 packet (for an IP_HDRINCL socket) carrying ``vrrp`` under AH."""
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    total = 20 + AH_LEN + len(vrrp)
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, total, ip_id & 0xFFFF, 0, ttl, AH_PROTO, 0, s, d))
    ah = bytearray(struct.pack("!BBH4sI", 112, AH_LEN // 4 - 2, 0, s, seq & 0xFFFFFFFF) + bytes(12))
    ah[12:24] = icv(bytes(hdr), bytes(ah), vrrp, key)
    hdr[10:12] = struct.pack("!H", _ip_sum(bytes(hdr)))
    return bytes(hdr) + bytes(ah) + vrrp
