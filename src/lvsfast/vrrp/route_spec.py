"""Route and rule lines (virtual_routes/rules, static_routes/rules) as the kernel requests they mean.

The config model keeps the few fields every user sets and the whole line in ``options``; this
reads the line again, with keepalived 2.2.7's grammar (which is ``ip route``/``ip rule``'s), into
frozen requests that :mod:`lvsfast.vrrp.rtnl` encodes. Pure: no socket, no interface look-up
(a device is resolved when the request is sent, so a request compares equal across reloads).

keepalived marks what it installs with its own routing protocol number, 18 (``proto keepalived``
in iproute2's rt_protos); so does lvsfast, for routes and rules alike, unless the line names
another with ``protocol``.
"""
from __future__ import annotations

import ipaddress
import os
import socket

from lvsfast.config.model import Config, VirtualRoute, VirtualRule
from lvsfast.frozen import record, replace

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
_IPPROTO = {"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132, "icmpv6": 58, "dccp": 33, "gre": 47, "esp": 50, "ah": 51}

# Options keepalived takes that lvsfast does not program (yet): they are named in a warning, never
# silently dropped. The number is how many values follow the keyword.
UNSUPPORTED_ROUTE = {"encap": -1, "as": 1, "vrf": 1, "ttl-propagate": 1, "nhid": 1, "mpls": 1}
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


def _names(base: str) -> dict[str, int]:
    """iproute2's name tables (rt_tables, rt_protos, rt_realms, rt_dsfield) and their .d folders."""
    out: dict[str, int] = {}
    files = []
    for root in ("/usr/share/iproute2", "/etc/iproute2"):
        files.append(os.path.join(root, base))
        try:
            files += sorted(os.path.join(root, base + ".d", f) for f in os.listdir(os.path.join(root, base + ".d"))
                            if f.endswith(".conf"))
        except OSError:
            pass
    for path in files:
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split("#", 1)[0].split()
                    if len(parts) >= 2:
                        try:
                            out[parts[1]] = int(parts[0], 0)
                        except ValueError:
                            pass
        except OSError:
            pass
    return out


def _number(v: str, what: str, names: str | None = None, base: int = 0) -> int:
    try:
        return int(v, base)
    except ValueError:
        pass
    if names is not None:
        found = _names(names).get(v)
        if found is not None:
            return found
    raise ValueError(f"invalid {what} '{v}'")


def table_id(v: str) -> int:
    return {"main": 254, "local": 255, "default": 253}.get(v) or _number(v, "table", "rt_tables")


def _dsfield(v: str) -> int:
    # iproute2 (and keepalived after it) reads a TOS in hexadecimal, "0x" or not.
    try:
        return int(v, 16)
    except ValueError:
        return _number(v, "tos", "rt_dsfield")


def _realms(v: str) -> int:
    src, _, dst = v.rpartition("/")
    out = _number(dst, "realm", "rt_realms")
    if src:
        out |= _number(src, "realm", "rt_realms") << 16
    return out


def _prefix(v: str, family: int | None) -> tuple[int, str, int]:
    net = ipaddress.ip_interface(v)
    fam = socket.AF_INET6 if net.version == 6 else socket.AF_INET
    if family is not None and fam != family:
        raise ValueError(f"address {v} is not of the route's family")
    plen = net.network.prefixlen if "/" in v else net.max_prefixlen
    return fam, str(net.ip), plen


def _time(v: str, scale: int) -> int:
    """rtt/rttvar/rto_min: a bare number goes to the kernel as is; with a unit it is in ms, then
    scaled as iproute2 does (rtt in 1/8 ms, rttvar in 1/4 ms)."""
    for unit, mult in (("ms", 1), ("msec", 1), ("us", 0.001), ("usec", 0.001), ("s", 1000), ("sec", 1000)):
        if v.endswith(unit) and v[:-len(unit)].replace(".", "", 1).isdigit():
            return int(float(v[:-len(unit)]) * mult * scale)
    return int(v, 0)


def _range(v: str, hi: int) -> tuple[int, int]:
    a, _, b = v.partition("-")
    lo_, hi_ = int(a, 0), int(b or a, 0)
    if not 0 <= lo_ <= hi_ <= hi:
        raise ValueError(f"invalid range '{v}'")
    return lo_, hi_


def route_request(r: VirtualRoute) -> tuple[RouteRequest, list[str]]:
    """The request for one route line, and the options that were not programmed (for a warning)."""
    toks = list(r.options) or [r.destination]
    fam: int | None = None
    if "inet6" in toks:
        fam = socket.AF_INET6
    elif "inet" in toks:
        fam = socket.AF_INET
    elif r.family == 6:
        fam = socket.AF_INET6
    kw: dict = {}
    metrics: dict[int, int | str] = {}
    lock = 0
    nhs: list[dict] = []
    vias: list[str] = []
    ignored: list[str] = []
    dest_seen = False
    scope_set = False
    i = 0

    def val() -> str:
        if i + 1 >= len(toks):
            raise ValueError(f"'{toks[i]}' needs a value")
        return toks[i + 1]
    while i < len(toks):
        t = toks[i]
        cur = nhs[-1] if nhs else None
        if t in RTN_TYPES and not dest_seen:
            kw["type"] = RTN_TYPES[t]
            i += 1
            continue
        if t == "to" and not dest_seen:
            i += 1
            continue
        if not dest_seen and (t == "default" or t[0].isdigit() or ":" in t):
            dest_seen = True
            if t != "default" and t not in ("0.0.0.0/0", "::/0"):
                f, a, plen = _prefix(t, fam)
                fam = f
                kw["dst"], kw["dst_len"] = a, plen
            elif t == "::/0":
                fam = socket.AF_INET6
            i += 1
            continue
        if t == "nexthop":
            nhs.append({})
            i += 1
        elif t in ("via", "gw", "or"):
            v = str(ipaddress.ip_address(val()))
            if cur is None:
                vias.append(v)
            elif t == "or":  # keepalived's deprecated spelling of one more nexthop
                nhs.append({"gateway": v, "dev": cur.get("dev")})
            else:
                cur["gateway"] = v
            i += 2
        elif t == "dev":
            if cur is not None:
                cur["dev"] = val()
            else:
                kw["dev"] = val()
            i += 2
        elif t == "weight":
            w = int(val(), 0)
            if not 1 <= w <= 256:
                raise ValueError(f"invalid nexthop weight {w}")
            if cur is not None:
                cur["hops"] = w - 1
            i += 2
        elif t == "onlink":
            if cur is not None:
                cur["flags"] = cur.get("flags", 0) | RTNH_F_ONLINK
            else:
                kw["flags"] = kw.get("flags", 0) | RTNH_F_ONLINK
            i += 1
        elif t == "src":
            kw["prefsrc"] = str(ipaddress.ip_address(val()))
            i += 2
        elif t == "from":
            _f, a, plen = _prefix(val(), fam)
            kw["src"], kw["src_len"] = a, plen
            i += 2
        elif t == "table":
            kw["table"] = table_id(val())
            i += 2
        elif t == "scope":
            v = val()
            kw["scope"] = RT_SCOPE[v] if v in RT_SCOPE else _number(v, "scope", "rt_scopes")
            scope_set = True
            i += 2
        elif t in ("metric", "priority", "preference"):
            kw["priority"] = int(val(), 0)
            i += 2
        elif t in ("protocol", "proto"):
            kw["protocol"] = _number(val(), "protocol", "rt_protos")
            i += 2
        elif t in ("tos", "dsfield"):
            kw["tos"] = _dsfield(val())
            i += 2
        elif t == "realms":
            if cur is not None:
                cur["flow"] = _realms(val())
            else:
                kw["flow"] = _realms(val())
            i += 2
        elif t == "pref":
            v = val()
            kw["pref"] = RT_PREF[v] if v in RT_PREF else int(v, 0)
            i += 2
        elif t == "expires":
            kw["expires"] = int(val(), 0)
            i += 2
        elif t in RTAX:
            v = val()
            if v == "lock":
                lock |= 1 << RTAX[t]
                i += 1
                v = val()
            if t == "features":
                metrics[RTAX[t]] = RTAX_FEATURE_ECN if v == "ecn" else int(v, 0)
            elif t == "congctl":
                metrics[RTAX[t]] = v
            elif t in ("rtt", "rttvar", "rto_min"):
                metrics[RTAX[t]] = _time(v, {"rtt": 8, "rttvar": 4, "rto_min": 1}[t])
            else:
                metrics[RTAX[t]] = int(v, 0)
            i += 2
        elif t == "append":
            kw["append"] = True
            i += 1
        elif t in ("inet", "inet6", "no_track", "pervasive", "prepend", "add"):
            i += 1
        elif t == "track_group":
            i += 2
        elif t in UNSUPPORTED_ROUTE:
            n = UNSUPPORTED_ROUTE[t]
            end = len(toks) if n < 0 else i + 1 + n
            ignored.append(" ".join(toks[i:end]))
            i = end
        else:
            raise ValueError(f"unknown route keyword '{t}'")
    if vias and nhs:
        raise ValueError("both 'via' and 'nexthop' in one route")
    if len(vias) > 1:  # keepalived's deprecated "via A or B": a multipath route over the route's device
        dev = kw.pop("dev", None)
        nhs = [{"gateway": v, "dev": dev} for v in vias]
    elif vias:
        kw["gateway"] = vias[0]
    addrs = [kw.get("gateway"), kw.get("prefsrc")] + [n.get("gateway") for n in nhs]
    if fam is None:
        fam = socket.AF_INET6 if any(a and ":" in a for a in addrs) else socket.AF_INET
    for a in addrs:
        if a and (":" in a) != (fam == socket.AF_INET6):
            raise ValueError(f"address {a} is not of the route's family")
    if nhs:
        kw["multipath"] = tuple(Nexthop(n.get("gateway"), n.get("dev"), n.get("hops", 0), n.get("flags", 0),
                                        n.get("flow")) for n in nhs)
    if lock:
        metrics[RTAX["lock"]] = lock
    if metrics:
        kw["metrics"] = tuple(sorted(metrics.items()))
    rtype = kw.get("type", RTN_UNICAST)
    if not scope_set:
        # iproute2's defaults, which keepalived follows
        if fam == socket.AF_INET6:
            kw["scope"] = 0
        elif rtype in (2, 10):
            kw["scope"] = 254
        elif rtype in (3, 4, 5):
            kw["scope"] = 253
        elif rtype == RTN_UNICAST and not kw.get("gateway") and not nhs:
            kw["scope"] = 253
    return RouteRequest(family=fam, **kw), ignored


def rule_request(r: VirtualRule) -> tuple[RuleRequest, list[str]]:
    toks = list(r.options)
    fam: int | None = socket.AF_INET6 if r.family == 6 else None
    if "inet6" in toks:
        fam = socket.AF_INET6
    kw: dict = {}
    ignored: list[str] = []
    i = 0

    def val() -> str:
        if i + 1 >= len(toks):
            raise ValueError(f"'{toks[i]}' needs a value")
        return toks[i + 1]
    while i < len(toks):
        t = toks[i]
        if t in ("from", "to"):
            v = val()
            if v != "all":
                f, a, plen = _prefix(v, fam)
                fam = f
                key = "src" if t == "from" else "dst"
                kw[key], kw[key + "_len"] = a, plen
            i += 2
        elif t in ("table", "lookup"):
            kw["table"] = table_id(val())
            i += 2
        elif t in ("preference", "priority", "pref", "order"):
            kw["priority"] = int(val(), 0)
            i += 2
        elif t in ("iif", "dev"):
            kw["iifname"] = val()
            i += 2
        elif t == "oif":
            kw["oifname"] = val()
            i += 2
        elif t == "fwmark":
            mark, _, mask = val().partition("/")
            kw["fwmark"] = int(mark, 0)
            if mask:
                kw["fwmask"] = int(mask, 0)
            i += 2
        elif t in ("tos", "dsfield"):
            kw["tos"] = _dsfield(val())
            i += 2
        elif t == "goto":
            kw["goto"] = int(val(), 0)
            kw["action"] = FR_ACT["goto"]
            i += 2
        elif t == "realms":
            kw["flow"] = _realms(val())
            i += 2
        elif t in ("suppress_prefixlength", "sup_pl"):
            kw["suppress_prefixlen"] = int(val(), 0)
            i += 2
        elif t in ("suppress_ifgroup", "sup_group"):
            kw["suppress_ifgroup"] = _number(val(), "group", "group")
            i += 2
        elif t == "uidrange":
            kw["uid_range"] = _range(val(), 0xFFFFFFFF)
            i += 2
        elif t in ("ipproto", "ip_proto"):
            v = val()
            kw["ip_proto"] = _IPPROTO[v.lower()] if v.lower() in _IPPROTO else int(v, 0)
            i += 2
        elif t in ("sport", "dport"):
            kw[t] = _range(val(), 0xFFFF)
            i += 2
        elif t == "protocol":
            kw["protocol"] = _number(val(), "protocol", "rt_protos")
            i += 2
        elif t == "l3mdev":
            kw["l3mdev"] = True
            i += 1
        elif t == "not":
            kw["flags"] = FIB_RULE_INVERT
            i += 1
        elif t in FR_ACT and t not in ("to_tbl", "goto"):
            kw["action"] = FR_ACT[t]
            i += 1
        elif t in ("inet", "inet6", "no_track"):
            i += 1
        elif t == "track_group":
            i += 2
        elif t in UNSUPPORTED_RULE:
            ignored.append(" ".join(toks[i:i + 2]))
            i += 2
        else:
            raise ValueError(f"unknown rule option '{t}'")
    if "priority" not in kw and r.preference is not None:
        kw["priority"] = r.preference
    if kw.get("action", 1) == 1 and "table" not in kw and not kw.get("l3mdev"):
        kw["table"] = RT_TABLE_MAIN
    return RuleRequest(family=fam or socket.AF_INET, **kw), ignored


def default_preferences(config: Config) -> dict[tuple[str, int], int]:
    """The preference keepalived gives each rule of ``config`` that has none, keyed by the rule's
    (file, line): 16384, 16383... per family, static and virtual rules together in the order they
    appear (files as the configuration includes them is approximated by the main file first, then
    the others by name). Unlike keepalived, a reload counts from 16384 again, so an unchanged
    configuration keeps its preferences and a reload does not churn its rules."""
    rules = list(config.static_rules) + [r for vi in config.vrrp_instances for r in vi.virtual_rules]
    rules.sort(key=lambda r: (r.file != config.path, r.file, r.line))
    out: dict[tuple[str, int], int] = {}
    nxt = {4: RULE_START_PRIORITY, 6: RULE_START_PRIORITY}
    for r in rules:
        if r.preference is None and not any(t in ("preference", "priority", "pref", "order") for t in r.options):
            out[(r.file, r.line)] = nxt[r.family]
            nxt[r.family] -= 1
    return out


def with_preference(r: VirtualRule, prefs: dict[tuple[str, int], int]) -> VirtualRule:
    pref = prefs.get((r.file, r.line))
    return r if pref is None else replace(r, preference=pref)


def describe(r: VirtualRoute | VirtualRule) -> str:
    return " ".join(r.options) if r.options else str(r)
