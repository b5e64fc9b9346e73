"""Addresses, routes and rules: a vrrp_instance's virtual_ipaddress, virtual_routes and
virtual_rules, and the top-level static_ipaddress, static_routes and static_rules."""
from __future__ import annotations


from lvsfast.config import model as m
from lvsfast.config.blocks.builder import Builder
from lvsfast.config.model.routes import RTPROT_KEEPALIVED
from lvsfast.config.unsupported import NOT_SUPPORTED_SUFFIX
from lvsfast.config.node import Node
from lvsfast.config.values import Bad, parse_int, parse_ip, parse_prefix
from lvsfast.frozen import replace

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any

# "nodad" (without the dash) is not keepalived 2.2.7's: it complains and does DAD; the
# unknown-option pass (config/unsupported.py) says so, and the line is read without it.
_ADDR_FLAGS = {"no_track": "no_track", "home": "home", "-nodad": "nodad",
               "mngtmpaddr": "mngtmpaddr", "noprefixroute": "noprefixroute", "autojoin": "autojoin",
               "use_vmac": "use_vmac"}
_ADDR_VALUES = {"dev": "dev", "brd": "brd", "broadcast": "brd", "scope": "scope", "label": "label",
                "peer": "peer", "track_group": "track_group"}
SCOPES = {"site", "link", "host", "nowhere", "global"}


def address_of(c: Node, ignored: list[str] | None = None) -> m.VirtualAddress:
    """One address line; keepalived's complaints about options it then ignores (an unknown
    option, an invalid peer) are appended to ``ignored``, or raised without it."""
    text = c.keyword
    if text == "ip":  # keepalived also accepts "ip ADDR" lines
        if not c.args:
            raise Bad("missing address")
        text, args = c.args[0], list(c.args[1:])
    else:
        args = list(c.args)
    try:
        a, plen, fam = parse_prefix(text)
    except Bad as exc:
        raise Bad(f"VRRP parsed invalid IP {text}: {exc}") from None
    kw: dict[str, Any] = {}
    complaints: list[str] = []
    while args:
        k = args.pop(0)
        if k == "nodad":
            continue
        if k in _ADDR_FLAGS:
            kw[_ADDR_FLAGS[k]] = True
        elif k in _ADDR_VALUES:
            if not args:
                raise Bad(f"'{k}' needs a value")
            v = args.pop(0)
            if k == "scope" and v not in SCOPES and not v.isdigit():
                raise Bad(f"invalid scope '{v}'")
            if k == "peer":
                # keepalived 2.2.7 takes a bare address only, and the line is kept without it.
                try:
                    if "/" in v:
                        raise Bad(v)
                    pa, pfam = parse_ip(v)
                except Bad:
                    complaints.append(f"Invalid peer address {v}")
                    continue
                if pfam != fam:
                    complaints.append(f"Peer address {v} does not match address family")
                    continue
                v = pa
            elif k in ("brd", "broadcast"):
                if fam == 6:
                    raise Bad(f"VRRP is trying to assign a broadcast {v} to the IPv6 address {text}")
                v = v if v in ("+", "-") else parse_ip(v)[0]
            kw[_ADDR_VALUES[k]] = v
        elif k == "preferred_lft":
            if not args:
                raise Bad("'preferred_lft' needs a value")
            v = args.pop(0)
            kw["preferred_lft"] = 0xFFFFFFFF if v == "forever" else parse_int(v, 0, 0xFFFFFFFF)
        elif ignored is not None:
            complaints.append(f"unknown configuration entry '{k}' for ip address - ignoring")
        else:
            raise Bad(f"unknown option '{k}' for address {text}")
    if kw.get("peer"):
        if plen != (32 if fam == 4 else 128):
            complaints.append("Cannot specify address prefix when specifying peer address - ignoring")
            plen = 32 if fam == 4 else 128
        if kw.get("brd"):
            complaints.append("Cannot specify broadcast and peer addresses - ignoring broadcast address")
            kw.pop("brd")
    if ignored is not None:
        ignored.extend(complaints)
    elif complaints:
        raise Bad(complaints[0])
    return m.VirtualAddress(a, plen, fam, file=c.file, line=c.line, **kw)


def address_list(b: Builder, n: Node, acc: dict) -> None:
    out = list(acc.get(n.keyword, ()))
    for c in n.children or ():
        ignored: list[str] = []
        try:
            out.append(address_of(c, ignored))
            for msg in ignored:
                b.diags.warning(c.file, c.line, msg)
        except Bad as exc:
            b.diags.error(c.file, c.line, f"{exc}")
    acc[n.keyword] = tuple(out)


_ROUTE_FLAGS = {"nexthop", "onlink", "pervasive", "append", "prepend"}
_ROUTE_VALUE_OPTIONS = {"mtu", "advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "ssthresh", "realms",
                        "rto_min", "initcwnd", "initrwnd", "features", "quickack", "congctl", "pref", "protocol",
                        "expires", "fastopen_no_cookie", "ttl-propagate", "hoplimit", "tos", "dsfield",
                        "weight", "track_group", "encap", "as", "lock", "from", "mpls", "vrf"}
_ROUTE_TYPES = {"blackhole", "unreachable", "prohibit", "throw", "local", "broadcast", "anycast", "multicast",
                "nat", "unicast"}


def route_of(c: Node) -> tuple[m.VirtualRoute, list[str]]:
    toks = [c.keyword, *c.args]
    kw: dict[str, Any] = {}
    via: list[str] = []
    dest: str | None = None
    fam: int | None = None
    deprecated: list[str] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None

        def need() -> str:
            if nxt is None:
                raise Bad(f"'{t}' needs a value")
            return nxt
        if t in _ROUTE_TYPES and dest is None:
            kw["route_type"] = t
            i += 1
        elif t in ("via", "gw", "or"):
            v = need()
            via.append(parse_ip(v)[0])
            if t != "via":
                deprecated.append(t)
            i += 2
        elif t == "src":
            kw["src"] = parse_ip(need())[0]
            i += 2
        elif t == "dev":
            kw["dev"] = need()
            i += 2
        elif t == "table":
            kw["table"] = need()
            i += 2
        elif t == "scope":
            kw["scope"] = need()
            i += 2
        elif t in ("metric", "preference", "priority"):
            kw["metric"] = parse_int(need(), 0, 0xFFFFFFFF)
            i += 2
        elif t == "no_track":
            kw["no_track"] = True
            i += 1
        elif t == "to" and dest is None:
            i += 1
        elif dest is None and (t == "default" or t[0].isdigit() or ":" in t):
            if t == "default":
                dest = "default"
            else:
                a, plen, f = parse_prefix(t)
                dest, fam = f"{a}/{plen}", f
            i += 1
        elif t in _ROUTE_FLAGS:
            i += 1
        elif t == "track_group":
            kw["track_group"] = need()
            i += 2
        elif t in _ROUTE_VALUE_OPTIONS:
            # Options keepalived knows that we only carry in ``options`` (mtu, advmss, realms...).
            need()
            if t == "lock" or nxt == "lock":
                i += 1
            i += 2
        else:
            raise Bad(f"unknown route keyword {t}")
    if dest is None:
        raise Bad(f"no destination in route '{' '.join(toks)}'")
    if fam is None:
        fam = 6 if any(":" in v for v in via) else 4
    return m.VirtualRoute(dest, fam, tuple(via), options=tuple(toks), file=c.file, line=c.line, **kw), deprecated


def route_list(b: Builder, n: Node, acc: dict) -> None:
    from lvsfast.config.route_lines import route_request  # socket, ipaddress: only for route lines
    out = list(acc.get(n.keyword, ()))
    for c in n.children or ():
        try:
            r, deprecated = route_of(c)
            req, ignored = route_request(r)
        except (Bad, ValueError, KeyError) as exc:
            b.diags.error(c.file, c.line, f"invalid route: {exc}")
            continue
        for d in deprecated:
            new = "nexthop" if d == "or" else "via"
            b.diags.warning(c.file, c.line, f'"{d}" for routes is deprecated. Please use "{new}"')
        _unprogrammed(b, c, n.keyword, ignored)
        if not r.no_track:
            # keepalived knows a tracked route by its protocol, so it keeps 18 (static ones too).
            if "protocol" in r.options and req.protocol != RTPROT_KEEPALIVED:
                b.diags.warning(c.file, c.line, "Route cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), "
                              "resetting protocol")
                req = replace(req, protocol=RTPROT_KEEPALIVED)
            if not r.dev:
                b.diags.warning(c.file, c.line, f"cannot track route {r.destination} with no interface specified, "
                                "not tracking")
        out.append(replace(r, request=req))
    acc[n.keyword] = tuple(out)


def _unprogrammed(b: Builder, c: Node, block: str, ignored: list[str]) -> None:
    # A virtual_routes/rules line's options are checked against the support table by
    # config/unsupported.py; a static line's are named here, in the same words.
    if block.startswith("static_"):
        for opt in ignored:
            b.diags.warning(c.file, c.line, f"{opt.split()[0]}{NOT_SUPPORTED_SUFFIX}")


def rule_of(c: Node) -> m.VirtualRule:
    toks = [c.keyword, *c.args]
    kw: dict[str, Any] = {}
    fams: set[int] = set()
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t in ("from", "to"):
            if nxt is None:
                raise Bad(f"'{t}' needs an address")
            if nxt == "all":
                kw["from_" if t == "from" else "to"] = "all"
            else:
                try:
                    a, plen, f = parse_prefix(nxt)
                except Bad:
                    raise Bad(f"Invalid rule {t} address {nxt}") from None
                fams.add(f)
                kw["from_" if t == "from" else "to"] = f"{a}/{plen}"
            i += 2
        elif t in ("table", "lookup"):
            kw["table"] = nxt
            i += 2
        elif t in ("preference", "priority", "pref", "order"):
            kw["preference"] = parse_int(nxt or "", 0, 0xFFFFFFFF)
            i += 2
        elif t in ("iif", "dev"):
            kw["iif"] = nxt
            i += 2
        elif t == "oif":
            kw["oif"] = nxt
            i += 2
        elif t == "fwmark":
            kw["fwmark"] = nxt
            i += 2
        elif t == "no_track":
            kw["no_track"] = True
            i += 1
        elif t in ("inet", "inet6"):
            fams.add(4 if t == "inet" else 6)
            i += 1
        elif t == "track_group":
            if nxt is None:
                raise Bad("'track_group' needs a value")
            kw["track_group"] = nxt
            i += 2
        elif t == "l3mdev":
            i += 1
        elif t == "type":
            if nxt is not None and nxt != "goto":
                kw["action"] = nxt
            i += 2 if nxt != "goto" else 1
        elif t in ("goto", "realms", "tos", "dsfield", "suppress_prefixlength", "sup_pl", "suppress_ifgroup",
                   "sup_group", "uidrange", "tunnel-id", "ipproto", "sport", "dport", "protocol"):
            if t == "goto":
                kw["action"] = "goto"
            i += 2
        elif t in ("no_action", "blackhole", "unreachable", "prohibit", "nop", "not"):
            if t != "not":
                kw["action"] = t
            i += 1
        else:
            raise Bad(f"unknown rule option '{t}'")
    if len(fams) > 1:
        raise Bad("rule mixes IPv4 and IPv6 addresses")
    return m.VirtualRule(family=fams.pop() if fams else 4, options=tuple(toks), file=c.file, line=c.line, **kw)  # type: ignore[arg-type]


def rule_list(b: Builder, n: Node, acc: dict) -> None:
    from lvsfast.config.route_lines import rule_request  # socket, ipaddress: only for rule lines
    out = list(acc.get(n.keyword, ()))
    for c in n.children or ():
        try:
            r = rule_of(c)
            req, ignored = rule_request(r)
        except (Bad, ValueError, KeyError) as exc:
            b.diags.error(c.file, c.line, str(exc))
            continue
        _unprogrammed(b, c, n.keyword, ignored)
        if not r.no_track and "protocol" in r.options and req.protocol != RTPROT_KEEPALIVED:
            b.diags.warning(c.file, c.line, "Rule cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), "
                          "resetting protocol")
            req = replace(req, protocol=RTPROT_KEEPALIVED)
        r = replace(r, request=req)
        if r.preference is None:
            b.diags.warning(c.file, c.line, "rule has no preference specified; the kernel picks one, "
                            "which is probably not what you want")
        out.append(r)
    acc[n.keyword] = tuple(out)
