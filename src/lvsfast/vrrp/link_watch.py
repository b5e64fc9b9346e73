"""Links and addresses changing under us, from rtnetlink's notifications instead of polling.

keepalived learns of a link going down, or a VIP deleted behind its back, from the kernel's
RTMGRP_LINK and IFADDR multicasts; so does this. Polling sysfs 20 times a second and dumping
every address once a second woke the VRRP process about 40 times a second for nothing, and
still saw a cable cut up to 50 ms late.

:class:`LinkEvents` is the sans-IO part: datagrams in, the interfaces that changed and the
addresses that were deleted out. :class:`LinkWatch` reads the socket on the event loop.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Callable

from lvsfast.netlink import Subscription, attrs as _attrs

RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR = 1, 5, 9
RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV6_RULE = 7, 8, 11, 19
RTM_NEWLINK, RTM_DELLINK, RTM_DELADDR, RTM_DELROUTE, RTM_DELRULE = 16, 17, 21, 25, 33
RTPROT_KEEPALIVED = 18  # what lvsfast (as keepalived) marks its routes and rules with
FRA_PROTOCOL = 21
_RTMSG = 12  # family, dst_len, src_len, tos, table, protocol, scope, type, flags (fib_rule_hdr alike)
IFLA_IFNAME = 3
IFA_ADDRESS, IFA_LOCAL = 1, 2
_IFINFOMSG = 16  # family, pad, type, index, flags, change
_IFADDRMSG = 8  # family, prefixlen, flags, scope, index


@dataclass
class Changes:
    """What one read of the socket found. ``everything``: notifications were lost, so any link
    or address may have changed."""

    links: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)  # addresses, in inet_ntop's spelling
    routes: bool = False  # a route or rule of keepalived's protocol (ours) was deleted
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.links or self.deleted or self.routes or self.everything)


class LinkEvents:
    """Parses rtnetlink notifications into :class:`Changes`."""

    def feed(self, buf: bytes, into: Changes) -> Changes:
        off = 0
        while off + 16 <= len(buf):
            ln, mtype = struct.unpack_from("=IH", buf, off)
            if ln < 16 or off + ln > len(buf):
                break
            body = off + 16
            if mtype in (RTM_NEWLINK, RTM_DELLINK) and ln >= 16 + _IFINFOMSG:
                for atype, a, b in _attrs(buf, body + _IFINFOMSG, off + ln):
                    if atype == IFLA_IFNAME:
                        into.links.add(buf[a:b].split(b"\0", 1)[0].decode(errors="replace"))
                        break
            elif mtype == RTM_DELADDR and ln >= 16 + _IFADDRMSG:
                family = buf[body]
                af = {socket.AF_INET: (socket.AF_INET, 4), socket.AF_INET6: (socket.AF_INET6, 16)}.get(family)
                if af is not None:
                    for atype, a, b in _attrs(buf, body + _IFADDRMSG, off + ln):
                        if atype in (IFA_ADDRESS, IFA_LOCAL) and b - a == af[1]:
                            into.deleted.add(socket.inet_ntop(af[0], buf[a:b]))
            elif mtype == RTM_DELROUTE and ln >= 16 + _RTMSG:
                into.routes = into.routes or buf[body + 5] == RTPROT_KEEPALIVED
            elif mtype == RTM_DELRULE and ln >= 16 + _RTMSG:
                for atype, a, b in _attrs(buf, body + _RTMSG, off + ln):
                    if atype == FRA_PROTOCOL and b > a and buf[a] == RTPROT_KEEPALIVED:
                        into.routes = True
            off += (ln + 3) & ~3
        return into


class LinkWatch:
    """Subscribes to link and address notifications on the running loop; ``on_change`` gets
    one :class:`Changes` per burst of notifications."""

    def __init__(self, on_change: Callable[[Changes], None]) -> None:
        self._events = LinkEvents()
        self._on_change = on_change
        # Route and rule deletions too: keepalived leaves MASTER (and takes it back) when one of
        # an instance's virtual routes or rules is deleted, as for a VIP.
        self._sub = Subscription(socket.NETLINK_ROUTE, (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
                                                        RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_ROUTE,
                                                        RTNLGRP_IPV6_RULE),
                                 self._read, what="link notifications")

    def _read(self, items: list[bytes | None]) -> None:
        changes = Changes()
        for buf in items:
            if buf is None:
                changes.everything = True
            else:
                self._events.feed(buf, changes)
        if changes:
            self._on_change(changes)

    def close(self) -> None:
        self._sub.close()
