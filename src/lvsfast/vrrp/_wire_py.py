"""Pure-Python twin of ``lvsfast._core.vrrp_wire``: VRRP v2/v3 adverts, checked and built.

Same public API and results as the compiled module, for every input (a differential test feeds
both the same bytes). Import through :mod:`lvsfast.vrrp.wire`, never directly.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Sequence

from lvsfast.vrrp import ah as _ah
from lvsfast.vrrp._checksum_py import ones_sum
from lvsfast.vrrp.reasons import COUNTER_NAMES, N_REASONS, Reason, describe
from lvsfast.vrrp.wire_types import AUTH_AH, AUTH_NONE, AUTH_PASS, VRRP_PROTO, InstanceWire, WireError

__all__ = ["Advert", "AdvertBuilder", "Receiver", "build_garp", "build_na"]

_R = Reason


class Advert:
    """A validated advert. ``addresses`` decodes the address list on first use."""

    __slots__ = ("version", "vrid", "priority", "count", "auth_type", "interval_cs", "pseudo_header",
                 "src", "src_packed", "ttl", "addresses_raw", "addresses_match", "instance", "_addresses")

    def __init__(self) -> None:
        self._addresses: tuple[str, ...] | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        if self._addresses is None:
            size = 16 if ":" in self.src else 4
            raw = self.addresses_raw
            self._addresses = tuple(str(ipaddress.ip_address(raw[i:i + size])) for i in range(0, len(raw), size))
        return self._addresses

    def __repr__(self) -> str:
        return (f"Advert(v{self.version} vrid={self.vrid} prio={self.priority} int={self.interval_cs}cs "
                f"src={self.src} count={self.count})")


def _pseudo_sum(src: bytes, dst: bytes, length: int) -> int:
    """Sum of the IPv4 or IPv6 pseudo-header for protocol 112 (not folded)."""
    s = ones_sum(src) + ones_sum(dst) + VRRP_PROTO + length
    return s


class Receiver:
    """Validates the adverts arriving on one interface for one address family, and counts drops.

    ``decode`` returns an :class:`Advert` or an ``int`` :class:`~lvsfast.vrrp.reasons.Reason`.
    After a drop, :attr:`last` holds ``(reason, vrid, version, instance name)`` for the log line.
    """

    def __init__(self, ifname: str, family: int, instances: Sequence[InstanceWire]) -> None:
        if family not in (4, 6):
            raise WireError(f"family must be 4 or 6, not {family}")
        self.ifname = ifname
        self.family = family
        self._table: list[InstanceWire | None] = [None] * 256
        self._packed: list[bytes] = [b""] * 256
        for inst in instances:
            if inst.family != family:
                raise WireError(f"instance {inst.name} is IPv{inst.family}, receiver is IPv{family}")
            if self._table[inst.vrid] is not None:
                raise WireError(f"VRID {inst.vrid} configured twice on {ifname}")
            self._table[inst.vrid] = inst
            self._packed[inst.vrid] = inst.packed_addresses()
        self._counts = [0] * N_REASONS
        self.received = 0
        self.accepted = 0
        self.last: tuple[int, int, int, str] = (0, 0, 0, "")

    def counters(self) -> dict[str, int]:
        out = {"received": self.received, "accepted": self.accepted}
        for r, name in COUNTER_NAMES.items():
            out[name] = self._counts[r]
        return out

    def describe_last(self, source: str = "") -> str:
        """The log line for the last drop (see lvsfast.vrrp.reasons.describe), naming our version."""
        reason, vrid, version, name = self.last
        inst = self._table[vrid]
        return describe(reason, ifname=self.ifname, vrid=vrid, got_version=version, instance=name,
                        our_version=inst.version if inst is not None else 0, source=source)

    def _drop(self, reason: int, vrid: int = 0, version: int = 0, inst: str = "") -> int:
        self._counts[reason] += 1
        self.last = (reason, vrid, version, inst)
        return reason

    def decode(self, packet: bytes | bytearray | memoryview, src: bytes | None = None,
               dst: bytes | None = None, ttl: int = -1) -> Advert | int:
        """IPv4: ``packet`` starts with the IP header (raw socket). IPv6: the VRRP payload, with
        ``src``/``dst`` (16 bytes each) and ``ttl`` (hop limit) from the ancillary data."""
        self.received += 1
        p = bytes(packet)
        n = len(p)
        if self.family == 4:
            if n < 20 or p[0] >> 4 != 4:
                return self._drop(_R.IP_HEADER)
            ihl = (p[0] & 0x0F) * 4
            total = (p[2] << 8) | p[3]
            if ihl < 20 or total < ihl or total > n or (p[9] != VRRP_PROTO and p[9] != _ah.AH_PROTO):
                return self._drop(_R.IP_HEADER)
            via_ah = p[9] == _ah.AH_PROTO
            if via_ah:
                # keepalived's auth_type AH: the advert sits behind a 24-byte AH header.
                if total < ihl + _ah.AH_LEN or p[ihl] != VRRP_PROTO or p[ihl + 1] != _ah.AH_LEN // 4 - 2:
                    return self._drop(_R.IP_HEADER)
            ttl = p[8]
            src = p[12:16]
            dst = p[16:20]
            payload = p[ihl + (_ah.AH_LEN if via_ah else 0):total]
        else:
            if src is None or dst is None or len(src) != 16 or len(dst) != 16:
                return self._drop(_R.IP_HEADER)
            payload = p
            via_ah = False
        # TTL 255 is the rule (RFC 5798 section 7.1) but for unicast_peer instances, as in keepalived.
        if ttl != 255 and not (len(payload) >= 8 and (peer := self._table[payload[1]]) is not None and peer.unicast):
            return self._drop(_R.TTL)
        plen = len(payload)
        if plen < 8:
            return self._drop(_R.TOO_SHORT)
        version = payload[0] >> 4
        vrid = payload[1]
        if version != 2 and version != 3:
            return self._drop(_R.VERSION, vrid, version)
        if version == 2 and self.family == 6:
            return self._drop(_R.FAMILY, vrid, version)
        count = payload[3]
        if count == 0:
            return self._drop(_R.ADDRESS_COUNT, vrid, version)
        asize = 4 if self.family == 4 else 16
        expect = 8 + count * asize + (8 if version == 2 else 0)
        if plen != expect:
            return self._drop(_R.LENGTH, vrid, version)
        pseudo = 0
        if version == 2:
            if ones_sum(payload) != 0xFFFF:
                return self._drop(_R.CHECKSUM, vrid, version)
        else:
            if ones_sum(payload, _pseudo_sum(src, dst, plen)) == 0xFFFF:
                pseudo = 1
            elif self.family == 4 and ones_sum(payload) == 0xFFFF:
                pseudo = 0  # RFC 9568's form: no IPv4 pseudo-header
            else:
                return self._drop(_R.CHECKSUM, vrid, version)
        inst = self._table[vrid]
        if inst is None:
            return self._drop(_R.VRID, vrid, version)
        if inst.version != version:
            return self._drop(_R.VERSION, vrid, version, inst.name)
        if payload[0] & 0x0F != 1:
            return self._drop(_R.TYPE, vrid, version, inst.name)
        if self.family == 6 and not inst.unicast and not (src[0] == 0xFE and (src[1] & 0xC0) == 0x80):
            return self._drop(_R.IPV6_LINK_LOCAL, vrid, version, inst.name)
        if version == 2:
            interval = payload[5] * 100
            if interval == 0:
                return self._drop(_R.INTERVAL_ZERO, vrid, version, inst.name)
            auth = payload[4]
            if auth != inst.auth_type or via_ah != (auth == AUTH_AH):
                return self._drop(_R.AUTH, vrid, version, inst.name)
            if auth == AUTH_PASS and payload[8 + count * 4:] != inst.auth_data():
                return self._drop(_R.AUTH, vrid, version, inst.name)
            if auth == AUTH_AH and not _ah.verify(p[:total], ihl, inst.auth_pass):
                return self._drop(_R.AUTH, vrid, version, inst.name)
            if interval != inst.adver_int_cs:
                return self._drop(_R.INTERVAL, vrid, version, inst.name)
        else:
            if via_ah:
                return self._drop(_R.AUTH, vrid, version, inst.name)
            interval = ((payload[4] & 0x0F) << 8) | payload[5]
            if interval == 0:
                return self._drop(_R.INTERVAL_ZERO, vrid, version, inst.name)
        raw = payload[8:8 + count * asize]
        match = raw == self._packed[vrid]
        if not match:
            mine = self._packed[vrid]
            match = len(raw) == len(mine) and {raw[i:i + asize] for i in range(0, len(raw), asize)} == \
                {mine[i:i + asize] for i in range(0, len(mine), asize)}
            if not match:
                self._counts[_R.ADDRESS_LIST] += 1
        adv = Advert()
        adv.version = version
        adv.vrid = vrid
        adv.priority = payload[2]
        adv.count = count
        adv.auth_type = payload[4] if version == 2 else 0
        adv.interval_cs = interval
        adv.pseudo_header = pseudo
        adv.src = socket.inet_ntop(socket.AF_INET if self.family == 4 else socket.AF_INET6, src)
        adv.src_packed = bytes(src)
        adv.ttl = ttl
        adv.addresses_raw = raw
        adv.addresses_match = match
        adv.instance = inst.name
        self.accepted += 1
        return adv

    def decode_batch(self, items: Sequence[bytes | tuple]) -> list:
        """Decode a batch as ``recv_batch`` delivers it: each item is a ``(packet, src, dst, ttl, ...)``
        tuple (extra fields such as the ifindex are ignored) or, for IPv4, the bare packet."""
        out = []
        for it in items:
            if isinstance(it, tuple):
                if len(it) < 4:
                    self.received += 1
                    out.append(self._drop(_R.IP_HEADER))
                else:
                    out.append(self.decode(it[0], it[1], it[2], it[3]))
            else:
                out.append(self.decode(it))
        return out


class AdvertBuilder:
    """Builds one instance's adverts; only the priority (and so the checksum) varies per send."""

    def __init__(self, version: int, vrid: int, adver_int_cs: int, addresses: Sequence[str], family: int,
                 src: str, dst: str, auth_type: int = AUTH_NONE, auth_pass: bytes = b"",
                 checksum_as_v2: bool = False) -> None:
        if version not in (2, 3):
            raise WireError(f"VRRP version must be 2 or 3, not {version}")
        if family == 6 and version == 2:
            raise WireError("VRRPv2 is IPv4 only")
        if not 1 <= vrid <= 255:
            raise WireError(f"VRID {vrid} outside 1-255")
        if not addresses or len(addresses) > 255:
            raise WireError("an advert carries 1 to 255 addresses")
        af = socket.AF_INET if family == 4 else socket.AF_INET6
        packed = b"".join(socket.inet_pton(af, a) for a in addresses)
        self._src = socket.inet_pton(af, src)
        self._dst = socket.inet_pton(af, dst)
        if version == 2:
            secs = adver_int_cs // 100
            if not 1 <= secs <= 255 or adver_int_cs % 100:
                raise WireError(f"VRRPv2 advert interval must be 1-255 whole seconds, not {adver_int_cs / 100:g}")
            head = struct.pack("!BBBBBBH", 0x21, vrid, 0, len(addresses), auth_type, secs, 0)
            tail = auth_pass[:8].ljust(8, b"\0") if auth_type == AUTH_PASS else b"\0" * 8
            self._template = bytearray(head + packed + tail)
            self._initial = 0
        else:
            if not 1 <= adver_int_cs <= 4095:
                raise WireError(f"VRRPv3 advert interval must be 0.01-40.95 s, not {adver_int_cs / 100:g}")
            head = struct.pack("!BBBBHH", 0x31, vrid, 0, len(addresses), adver_int_cs & 0x0FFF, 0)
            self._template = bytearray(head + packed)
            use_pseudo = family == 6 or not checksum_as_v2
            self._initial = _pseudo_sum(self._src, self._dst, len(self._template)) if use_pseudo else 0

    def build(self, priority: int) -> bytes:
        if not 0 <= priority <= 255:
            raise WireError(f"priority {priority} outside 0-255")
        buf = self._template
        buf[2] = priority
        buf[6] = buf[7] = 0
        c = ~ones_sum(buf, self._initial) & 0xFFFF
        buf[6] = c >> 8
        buf[7] = c & 0xFF
        return bytes(buf)


def build_garp(mac: bytes, ip: str) -> bytes:
    """A gratuitous ARP request as an Ethernet frame: sender and target are both ``ip``."""
    if len(mac) != 6:
        raise WireError("a MAC address is 6 bytes")
    addr = socket.inet_pton(socket.AF_INET, ip)
    eth = b"\xff" * 6 + mac + b"\x08\x06"
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + addr + b"\0" * 6 + addr
    return eth + arp


def build_na(mac: bytes, src: str, target: str, router: bool = False) -> bytes:
    """An unsolicited neighbour advertisement (override flag) for ``target`` to all-nodes, as a frame."""
    if len(mac) != 6:
        raise WireError("a MAC address is 6 bytes")
    s = socket.inet_pton(socket.AF_INET6, src)
    t = socket.inet_pton(socket.AF_INET6, target)
    d = socket.inet_pton(socket.AF_INET6, "ff02::1")
    flags = 0x20000000 | (0x80000000 if router else 0)  # Override, and Router when forwarding
    icmp = bytearray(struct.pack("!BBHI", 136, 0, 0, flags) + t + b"\x02\x01" + mac)
    c = ~ones_sum(icmp, ones_sum(s) + ones_sum(d) + 58 + len(icmp)) & 0xFFFF
    icmp[2] = c >> 8
    icmp[3] = c & 0xFF
    ip6 = struct.pack("!IHBB", 0x60000000, len(icmp), 58, 255) + s + d
    eth = b"\x33\x33\x00\x00\x00\x01" + mac + b"\x86\xdd"
    return eth + ip6 + bytes(icmp)
