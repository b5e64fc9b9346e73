"""VIPs added and removed with one rtnetlink request each, on the calling thread.

A new master's first gratuitous ARP/NA can only go out once its VIPs are in, and until it lands
the clients keep sending to the old master. Through pyroute2 (a socket opened per call, on the
netlink worker thread) adding a VIP took about 5 ms; an RTM_NEWADDR built here and acked by the
kernel within the same system call takes tens of microseconds, so the announcement follows the
new master's first advert at once. Routes and rules (virtual and static) are encoded here too,
from the requests :mod:`lvsfast.vrrp.route_spec` makes; look-ups stay with pyroute2.
"""
from __future__ import annotations

import dataclasses
import errno
import os
import socket
import struct

from typing import Callable

from lvsfast.netlink import ack_code, attr as _attr, attrs as _attrs
from lvsfast.vrrp.route_spec import RouteRequest, RuleRequest

RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_DUMP = 0x300
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFA_F_NODAD = 0x02
IFA_CACHEINFO, IFA_FLAGS = 6, 8
RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWRULE, RTM_DELRULE = 24, 25, 32, 33
NLM_F_APPEND = 0x800
RTA_DST, RTA_SRC, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_METRICS, RTA_MULTIPATH = 1, 2, 4, 5, 6, 7, 8, 9
RTA_FLOW, RTA_TABLE, RTA_PREF, RTA_EXPIRES = 11, 15, 20, 23
RTAX_CC_ALGO = 16
FRA_DST, FRA_SRC, FRA_IIFNAME, FRA_GOTO, FRA_PRIORITY, FRA_FWMARK, FRA_FLOW = 1, 2, 3, 4, 6, 10, 11
FRA_SUPPRESS_IFGROUP, FRA_SUPPRESS_PREFIXLEN, FRA_TABLE, FRA_FWMASK, FRA_OIFNAME = 13, 14, 15, 16, 17
FRA_L3MDEV, FRA_UID_RANGE, FRA_PROTOCOL, FRA_IP_PROTO, FRA_SPORT_RANGE, FRA_DPORT_RANGE = 19, 20, 21, 22, 23, 24


def address_message(add: bool, seq: int, index: int, address: str, prefix: int, *, scope: int = 0,
                    label: str | None = None, broadcast: str | None = None, flags: int = 0,
                    peer: str | None = None, preferred_lft: int | None = None) -> bytes:
    """RTM_NEWADDR (``add``) or RTM_DELADDR for one address, asking for an ack. ``flags`` past the
    header's 8 bits (noprefixroute, mngtmpaddr, autojoin) go in IFA_FLAGS as well."""
    v6 = ":" in address
    family = socket.AF_INET6 if v6 else socket.AF_INET
    raw = socket.inet_pton(family, address)
    body = struct.pack("=BBBBI", family, prefix, flags & 0xFF, scope, index)
    # With a peer, IFA_ADDRESS is the far end and IFA_LOCAL ours (as `ip addr add A peer B`).
    body += _attr(IFA_ADDRESS, socket.inet_pton(family, peer) if peer else raw)
    if not v6 or peer:
        body += _attr(IFA_LOCAL, raw)  # for IPv4 the local address is the one that is ours
    if not v6:
        if broadcast:
            body += _attr(IFA_BROADCAST, socket.inet_aton(broadcast))
        if label:
            body += _attr(IFA_LABEL, label.encode() + b"\0")
    if add and flags > 0xFF:
        body += _attr(IFA_FLAGS, struct.pack("=I", flags))
    if add and preferred_lft is not None:
        body += _attr(IFA_CACHEINFO, struct.pack("=IIII", preferred_lft, 0xFFFFFFFF, 0, 0))
    mtype = RTM_NEWADDR if add else RTM_DELADDR
    mflags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if add else 0)
    return struct.pack("=IHHII", 16 + len(body), mtype, mflags, seq, 0) + body


def _ip(family: int, a: str) -> bytes:
    return socket.inet_pton(family, a)


def _u32(kind: int, v: int) -> bytes:
    return _attr(kind, struct.pack("=I", v))


def _header(mtype: int, add: bool, seq: int, body: bytes, append: bool = False) -> bytes:
    if add:
        mflags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (NLM_F_APPEND if append else NLM_F_EXCL)
    else:
        mflags = NLM_F_REQUEST | NLM_F_ACK
    return struct.pack("=IHHII", 16 + len(body), mtype, mflags, seq, 0) + body


def route_message(add: bool, seq: int, r: RouteRequest, index_of: Callable[[str], int]) -> bytes:
    """RTM_NEWROUTE (``add``, exclusive unless the line said ``append``) or RTM_DELROUTE."""
    fam = r.family
    body = struct.pack("=BBBBBBBBI", fam, r.dst_len, r.src_len, r.tos, r.table if r.table < 256 else 0,
                       r.protocol, r.scope, r.type, r.flags)
    body += _u32(RTA_TABLE, r.table)
    if r.dst:
        body += _attr(RTA_DST, _ip(fam, r.dst))
    if r.src:
        body += _attr(RTA_SRC, _ip(fam, r.src))
    if r.dev:
        body += _u32(RTA_OIF, index_of(r.dev))
    if r.gateway:
        body += _attr(RTA_GATEWAY, _ip(fam, r.gateway))
    if r.priority is not None:
        body += _u32(RTA_PRIORITY, r.priority)
    if r.prefsrc:
        body += _attr(RTA_PREFSRC, _ip(fam, r.prefsrc))
    if r.metrics:
        body += _attr(RTA_METRICS, b"".join(
            _attr(k, v.encode() + b"\0") if isinstance(v, str) else _u32(k, v) for k, v in r.metrics))
    if r.multipath:
        hops = b""
        for nh in r.multipath:
            nattrs = _attr(RTA_GATEWAY, _ip(fam, nh.gateway)) if nh.gateway else b""
            if nh.flow is not None:
                nattrs += _u32(RTA_FLOW, nh.flow)
            hops += struct.pack("=HBBi", 8 + len(nattrs), nh.flags, nh.hops,
                                index_of(nh.dev) if nh.dev else 0) + nattrs
        body += _attr(RTA_MULTIPATH, hops)
    if r.flow is not None:
        body += _u32(RTA_FLOW, r.flow)
    if r.pref is not None:
        body += _attr(RTA_PREF, bytes((r.pref,)))
    if r.expires is not None and add:
        body += _u32(RTA_EXPIRES, r.expires)
    return _header(RTM_NEWROUTE if add else RTM_DELROUTE, add, seq, body, r.append)


def rule_message(add: bool, seq: int, r: RuleRequest) -> bytes:
    """RTM_NEWRULE (``add``, exclusive) or RTM_DELRULE."""
    fam = r.family
    body = struct.pack("=BBBBBBBBI", fam, r.dst_len, r.src_len, r.tos, r.table if r.table < 256 else 0, 0, 0,
                       r.action, r.flags)
    if r.table:
        body += _u32(FRA_TABLE, r.table)
    if r.priority is not None:
        body += _u32(FRA_PRIORITY, r.priority)
    if r.src:
        body += _attr(FRA_SRC, _ip(fam, r.src))
    if r.dst:
        body += _attr(FRA_DST, _ip(fam, r.dst))
    if r.iifname:
        body += _attr(FRA_IIFNAME, r.iifname.encode() + b"\0")
    if r.oifname:
        body += _attr(FRA_OIFNAME, r.oifname.encode() + b"\0")
    if r.fwmark is not None:
        body += _u32(FRA_FWMARK, r.fwmark)
    if r.fwmask is not None:
        body += _u32(FRA_FWMASK, r.fwmask)
    if r.goto is not None:
        body += _u32(FRA_GOTO, r.goto)
    if r.flow is not None:
        body += _u32(FRA_FLOW, r.flow)
    if r.suppress_prefixlen is not None:
        body += _u32(FRA_SUPPRESS_PREFIXLEN, r.suppress_prefixlen)
    if r.suppress_ifgroup is not None:
        body += _u32(FRA_SUPPRESS_IFGROUP, r.suppress_ifgroup)
    if r.l3mdev:
        body += _attr(FRA_L3MDEV, b"\1")
    if r.uid_range is not None:
        body += _attr(FRA_UID_RANGE, struct.pack("=II", *r.uid_range))
    body += _attr(FRA_PROTOCOL, bytes((r.protocol,)))
    if r.ip_proto is not None:
        body += _attr(FRA_IP_PROTO, bytes((r.ip_proto,)))
    if r.sport is not None:
        body += _attr(FRA_SPORT_RANGE, struct.pack("=HH", *r.sport))
    if r.dport is not None:
        body += _attr(FRA_DPORT_RANGE, struct.pack("=HH", *r.dport))
    return _header(RTM_NEWRULE if add else RTM_DELRULE, add, seq, body)


RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
IFLA_VRF_TABLE = 1
IFLA_IFNAME, IFLA_LINK, IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA = 3, 5, 18, 1, 2
IFLA_IPVLAN_MODE, IFLA_IPVLAN_FLAGS = 1, 2
IPVLAN_MODE_L2 = 0
IPVLAN_FLAGS = {"bridge": 0, "private": 1, "vepa": 2}
IFF_UP = 1


def ipvlan_message(seq: int, name: str, link: int, mode: str = "bridge") -> bytes:
    """RTM_NEWLINK for an L2 ipvlan ``name`` on the interface of index ``link``, created up
    (exclusive: an existing one is the caller's to check). keepalived's use_ipvlan makes the same."""
    data = _attr(IFLA_IPVLAN_MODE, struct.pack("=H", IPVLAN_MODE_L2)) + \
        _attr(IFLA_IPVLAN_FLAGS, struct.pack("=H", IPVLAN_FLAGS[mode]))
    info = _attr(IFLA_INFO_KIND, b"ipvlan") + _attr(IFLA_INFO_DATA, data)
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP)
    body += _u32(IFLA_LINK, link) + _attr(IFLA_IFNAME, name.encode() + b"\0") + _attr(IFLA_LINKINFO, info)
    return struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK,
                       NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, 0) + body


def index_of(dev: str) -> int:
    try:
        return socket.if_nametoindex(dev)
    except OSError:
        raise OSError(errno.ENODEV, f"interface {dev} does not exist") from None


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
        index = index_of(dev)
        self.request(lambda seq: address_message(add, seq, index, address, prefix, **kw))

    def route(self, add: bool, r: RouteRequest) -> None:
        if r.vrf:  # keepalived's "vrf NAME": the route goes to that VRF's table
            r = dataclasses.replace(r, table=self.vrf_table(r.vrf), vrf=None)
        self.request(lambda seq: route_message(add, seq, r, index_of))

    def vrf_table(self, name: str) -> int:
        """The table of VRF device ``name`` (IFLA_LINKINFO / IFLA_INFO_DATA / IFLA_VRF_TABLE)."""
        index = index_of(name)
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        self._sock.send(struct.pack("=IHHII", 32, RTM_GETLINK, NLM_F_REQUEST, seq, 0)
                        + struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, 0))
        while True:
            buf = self._sock.recv(65536)
            ln, mtype, _flags, mseq = struct.unpack_from("=IHHI", buf, 0)
            if mseq != seq:
                continue
            if mtype == NLMSG_ERROR:
                code = -struct.unpack_from("=i", buf, 16)[0]
                raise OSError(code, os.strerror(code))
            for atype, a, b in _attrs(buf, 32, ln):
                if atype != IFLA_LINKINFO:
                    continue
                info = {t: (x, y) for t, x, y in _attrs(buf, a, b)}
                if buf[slice(*info.get(IFLA_INFO_KIND, (0, 0)))].rstrip(b"\0") != b"vrf":
                    break
                for t, x, y in _attrs(buf, *info.get(IFLA_INFO_DATA, (0, 0))):
                    if t == IFLA_VRF_TABLE:
                        return struct.unpack_from("=I", buf, x)[0]
            raise OSError(errno.EINVAL, f"{name} is not a VRF")

    def rule(self, add: bool, r: RuleRequest) -> None:
        self.request(lambda seq: rule_message(add, seq, r))

    def request(self, build: Callable[[int], bytes]) -> None:
        """Send the message ``build(seq)`` makes and wait for its ack; raises OSError with the
        kernel's errno."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        self._sock.send(build(self._seq))
        while True:
            code = ack_code(self._sock.recv(65536), self._seq)
            if code is None:
                continue
            if code:
                raise OSError(code, os.strerror(code))
            return

    def dump(self) -> set[tuple[int, str, int]]:
        """Every address the kernel holds, as (interface index, address, prefix length); the
        address is our end (IFA_LOCAL, else IFA_ADDRESS) in inet_ntop's spelling."""
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
                        found = {}
                        for atype, a, b in _attrs(buf, off + 24, off + ln):
                            if atype in (IFA_ADDRESS, IFA_LOCAL) and b - a == size:
                                found[atype] = buf[a:b]
                        # IFA_LOCAL is ours; with a peer IFA_ADDRESS is the far end's.
                        raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
                        if raw is not None:
                            out.append((index, socket.inet_ntop(fam, raw), prefix))
                off += (ln + 3) & ~3

    def close(self) -> None:
        self._sock.close()
