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
RTM_NEWLINK, RTM_DELLINK, RTM_DELADDR = 16, 17, 21
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
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.links or self.deleted or self.everything)


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
            off += (ln + 3) & ~3
        return into


class LinkWatch:
    """Subscribes to link and address notifications on the running loop; ``on_change`` gets
    one :class:`Changes` per burst of notifications."""

    def __init__(self, on_change: Callable[[Changes], None]) -> None:
        self._events = LinkEvents()
        self._on_change = on_change
        self._sub = Subscription(socket.NETLINK_ROUTE, (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR),
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
