"""The kernel requests a route or rule line means, as frozen records: what the configuration
builder reads each virtual_routes/virtual_rules/static_routes/static_rules line into
(:mod:`lvsfast.config.route_lines`), and what :mod:`lvsfast.vrrp.rtnl` encodes. Devices stay
names (resolved when a request is sent), so a request compares equal across reloads.

keepalived marks what it installs with its own routing protocol number, 18 (``proto keepalived``
in iproute2's rt_protos); so does lvsfast, for routes and rules alike, unless the line names
another with ``protocol``.
"""
from __future__ import annotations

from lvsfast.frozen import record

RTPROT_KEEPALIVED = 18
# keepalived gives a rule without a preference one of its own, counting down from here in the
# order the rules appear, per family: the kernel's choice would depend on the order of adding,
# which changes with VRRP transitions.
RULE_START_PRIORITY = 16384
RT_TABLE_MAIN = 254
RTN_UNICAST = 1
RTN_TYPES = {"unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5, "blackhole": 6,
             "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10}
RT_SCOPE = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
RTNH_F_ONLINK = 4
# RTAX_* metric numbers, as in linux/rtnetlink.h
RTAX = {"lock": 1, "mtu": 2, "window": 3, "rtt": 4, "rttvar": 5, "ssthresh": 6, "cwnd": 7, "advmss": 8,
        "reordering": 9, "hoplimit": 10, "initcwnd": 11, "features": 12, "rto_min": 13, "initrwnd": 14,
        "quickack": 15, "congctl": 16, "fastopen_no_cookie": 17}
RTAX_FEATURE_ECN = 1
RT_PREF = {"low": 3, "medium": 0, "high": 1}
FR_ACT = {"to_tbl": 1, "goto": 2, "nop": 3, "no_action": 3, "blackhole": 6, "unreachable": 7, "prohibit": 8}
FIB_RULE_INVERT = 2
IPPROTO = {"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132, "icmpv6": 58, "dccp": 33, "gre": 47, "esp": 50, "ah": 51}

# Options keepalived takes that lvsfast does not program (yet): they are named in a warning, never
# silently dropped. The number is how many values follow the keyword.
UNSUPPORTED_ROUTE = {"encap": -1, "as": 1, "ttl-propagate": 1, "nhid": 1, "mpls": 1}
UNSUPPORTED_RULE = {"tunnel-id": 1}


@record
class Nexthop:
    gateway: str | None = None
    dev: str | None = None
    hops: int = 0  # weight - 1
    flags: int = 0
    flow: int | None = None


@record
class RouteRequest:
    family: int  # socket.AF_INET / AF_INET6
    dst: str | None = None
    dst_len: int = 0
    src: str | None = None  # RTA_SRC ("from"), a source prefix
    src_len: int = 0
    tos: int = 0
    table: int = RT_TABLE_MAIN
    protocol: int = RTPROT_KEEPALIVED
    scope: int = 0
    type: int = RTN_UNICAST
    flags: int = 0
    dev: str | None = None
    gateway: str | None = None
    prefsrc: str | None = None
    priority: int | None = None
    metrics: tuple[tuple[int, int | str], ...] = ()
    multipath: tuple[Nexthop, ...] = ()
    flow: int | None = None
    pref: int | None = None
    expires: int | None = None
    append: bool = False
    vrf: str | None = None  # the route goes to this VRF's table


@record
class RuleRequest:
    family: int
    action: int = 1
    table: int = 0
    priority: int | None = None
    src: str | None = None
    src_len: int = 0
    dst: str | None = None
    dst_len: int = 0
    tos: int = 0
    flags: int = 0
    iifname: str | None = None
    oifname: str | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    goto: int | None = None
    flow: int | None = None
    suppress_prefixlen: int | None = None
    suppress_ifgroup: int | None = None
    l3mdev: bool = False
    uid_range: tuple[int, int] | None = None
    protocol: int = RTPROT_KEEPALIVED
    ip_proto: int | None = None
    sport: tuple[int, int] | None = None
    dport: tuple[int, int] | None = None
