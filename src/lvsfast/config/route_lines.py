"""Route and rule lines (virtual_routes/rules, static_routes/rules) read into kernel requests.

keepalived 2.2.7's grammar (which is ``ip route``/``ip rule``'s) read once, by the configuration
builder (:mod:`lvsfast.config.blocks.addresses`), into the frozen records of
:mod:`lvsfast.config.model.routes`: a line that cannot be programmed is a ``FILE:LINE:`` error at
``-t``. Pure: no socket, no interface look-up beyond iproute2's name tables.
"""
from __future__ import annotations

import ipaddress
import os
import socket

from lvsfast.config.model.routes import (FIB_RULE_INVERT, FR_ACT, RT_PREF, RT_SCOPE, RT_TABLE_MAIN, RTAX,
                                         RTAX_FEATURE_ECN, RTN_TYPES, RTN_UNICAST, RTNH_F_ONLINK, RTPROT_KEEPALIVED,
                                         UNSUPPORTED_ROUTE, UNSUPPORTED_RULE, Nexthop, RouteRequest, RuleRequest,
                                         IPPROTO)
from lvsfast.config.model.vrrp import VirtualRoute, VirtualRule

__all__ = ["RTPROT_KEEPALIVED", "route_request", "rule_request", "table_id"]

_RULE_TYPES = ("nop", "blackhole", "unreachable", "prohibit")


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
        elif t == "protocol":  # keepalived 2.2.7 does not know iproute2's "proto"
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
        elif t == "vrf":  # the VRF's table, looked up when the route is sent
            kw["vrf"] = val()
            i += 2
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
    acts: list[str] = []

    def val() -> str:
        if i + 1 >= len(toks):
            raise ValueError(f"'{toks[i]}' needs a value")
        return toks[i + 1]

    def action(name: str) -> None:
        # keepalived 2.2.7: one action per rule (table, goto, nop, blackhole, unreachable,
        # prohibit, l3mdev), with its own words for each clash.
        if acts:
            if name == "l3mdev":
                raise ValueError("Cannot specify l3mdev with other action")
            raise ValueError("Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable"
                             + ("" if name == "table" else "/l3mdev") + " for rule")
        acts.append(name)
        if name != "table":
            kw["action"] = FR_ACT["to_tbl" if name == "l3mdev" else name]
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
            if kw["table"] == 0:
                raise ValueError("Table 0 is not valid")
            action("table")
            i += 2
        elif t in ("preference", "priority", "order"):
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
        elif t == "goto" or (t == "type" and i + 1 < len(toks) and toks[i + 1] == "goto"):
            if t == "type":
                i += 1
            kw["goto"] = int(val(), 0)
            action("goto")
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
        elif t == "ipproto":  # the manual says ip_proto; keepalived 2.2.7 reads ipproto
            v = val()
            kw["ip_proto"] = IPPROTO[v.lower()] if v.lower() in IPPROTO else int(v, 0)
            i += 2
        elif t in ("sport", "dport"):
            kw[t] = _range(val(), 0xFFFF)
            i += 2
        elif t == "protocol":
            kw["protocol"] = _number(val(), "protocol", "rt_protos")
            i += 2
        elif t == "l3mdev":  # a flag: keepalived 2.2.7 reads no value after it
            kw["l3mdev"] = True
            action("l3mdev")
            i += 1
        elif t == "not":
            kw["flags"] = FIB_RULE_INVERT
            i += 1
        elif t == "type" and i + 1 < len(toks) and toks[i + 1] in _RULE_TYPES:
            action(toks[i + 1])
            i += 2
        elif t in _RULE_TYPES:
            action(t)
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
    if not acts:
        raise ValueError("No action specified for rule - ignoring")
    if "goto" in acts:
        if "priority" not in kw:
            raise ValueError(f"Invalid rule - goto target {kw['goto']} specified without preference")
        if kw["priority"] >= kw["goto"]:
            raise ValueError(f"Invalid rule - preference {kw['priority']} >= goto target {kw['goto']}")
    if "priority" not in kw and r.preference is not None:
        kw["priority"] = r.preference
    if kw.get("action", 1) == 1 and "table" not in kw and not kw.get("l3mdev"):
        kw["table"] = RT_TABLE_MAIN
    return RuleRequest(family=fam or socket.AF_INET, **kw), ignored
