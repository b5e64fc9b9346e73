"""LVS blocks: virtual_server with its real_server blocks, and virtual_server_group.

Plain real_server blocks (an address, a port, a weight) go through the compiled fast path,
:class:`~lvsfast.config.real_servers.RealServerMaker`; it hands every other one back here.
"""
from __future__ import annotations

from lvsfast.config import model as m
from lvsfast.config.blocks.builder import (BLOCK_KEYWORDS, BOOL, CONST, INT, LOOSE, SCRIPT, STR, WORDS, Builder, Handler,
                                          make, one)
from lvsfast.config.blocks.checkers import CHECKER_CLASSES, TIMING, checker
from lvsfast.config.node import Node
from lvsfast.config.values import Bad, parse_float, parse_int, parse_ip, parse_port, parse_prefix

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any


def _lvs_method(field: str) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[field] = method_of(n)
    return h


def method_of(n: Node) -> m.ForwardingMethod:
    v = one(n).upper()
    if v == "FULLNAT":
        raise Bad("lb_kind FULLNAT is not supported")
    if v not in m.LB_KINDS:
        raise Bad(f"unknown [{one(n)}] routing method for virtual server (NAT|DR|TUN)")
    kw: dict[str, Any] = {}
    args = list(n.args[1:])
    while args:
        k = args.pop(0)
        if k == "type" and args:
            kw["tun_type"] = args.pop(0)
            if kw["tun_type"] not in ("ipip", "gue", "gre"):
                raise Bad(f"unknown tunnel type '{kw['tun_type']}' (ipip|gue|gre)")
        elif k == "port" and args:
            kw["tun_port"] = parse_port(args.pop(0))
        elif k in ("nocsum", "csum", "remcsum"):
            kw["tun_csum"] = k
        else:
            raise Bad(f"unknown forwarding option '{k}'")
    if kw and v != "TUN":
        raise Bad(f"tunnel options given for lb_kind {v}")
    if kw.get("tun_type") == "gue" and "tun_port" not in kw:
        raise Bad("tunnel type gue needs a port")
    if not kw:
        return _PLAIN_METHODS[v]  # immutable and placeless: one per kind serves every block
    return m.ForwardingMethod(v, **kw)  # type: ignore[arg-type]


_PLAIN_METHODS = {k: m.ForwardingMethod(k) for k in m.LB_KINDS}  # type: ignore[arg-type]


def _lb_algo(b: Builder, n: Node, acc: dict) -> None:
    v = one(n)
    if v not in m.IPVS_SCHEDULERS and v != "random":
        raise Bad(f"invalid lvs_scheduler '{v}' (one of {', '.join(sorted(m.IPVS_SCHEDULERS))})")
    acc["lb_algo"] = v
    acc["_lb_algo_loc"] = (n.file, n.line)


def _protocol(b: Builder, n: Node, acc: dict) -> None:
    v = one(n).upper()
    if v not in m.PROTOCOLS:
        raise Bad(f"unknown protocol {one(n)} (TCP|UDP|SCTP)")
    acc["protocol"] = v
    acc["_protocol_loc"] = (n.file, n.line)


def _flag(flag: str) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc.setdefault("_flags", []).append(flag)
    return h


def _persistence_timeout(b: Builder, n: Node, acc: dict) -> None:
    acc["persistence_timeout"] = parse_int(n.args[0], 1, 2**31 - 1) if n.args else 360


def _granularity(b: Builder, n: Node, acc: dict) -> None:
    v = one(n)
    try:
        if v.isdigit():
            if not 0 <= int(v) <= 128:
                raise ValueError
        else:
            import ipaddress  # an address as granularity: rare

            ipaddress.ip_address(v)
    except ValueError:
        raise Bad(f"invalid persistence_granularity '{v}'") from None
    acc["persistence_granularity"] = v


def _sorry_server(b: Builder, n: Node, acc: dict) -> None:
    a, fam = parse_ip(one(n))
    port = parse_port(n.args[1]) if len(n.args) > 1 else None
    acc["_sorry"] = (a, port, fam, n.file, n.line)


def _ip_family(b: Builder, n: Node, acc: dict) -> None:
    v = one(n)
    if v not in ("inet", "inet6"):
        raise Bad(f"unknown ip_family '{v}' (inet|inet6)")
    acc["ip_family"] = 4 if v == "inet" else 6


def _drain_timeout(b: Builder, n: Node, acc: dict) -> None:
    acc["drain_timeout"] = parse_float(one(n), 0, 86400 * 7)


def _vs_handlers() -> dict[str, Handler]:
    h: dict[str, Handler] = {
        "lb_algo": _lb_algo,
        "lvs_sched": _lb_algo,
        "lb_kind": _lvs_method("forwarding"),
        "lvs_method": _lvs_method("forwarding"),
        "protocol": _protocol,
        "ops": CONST("ops", True),
        "persistence_timeout": _persistence_timeout,
        "persistence_granularity": _granularity,
        "persistence_engine": STR("persistence_engine"),
        "ha_suspend": CONST("ha_suspend", True),
        "virtualhost": STR("virtualhost"),
        "alpha": BOOL("alpha"),
        "omega": BOOL("omega"),
        "quorum": INT("quorum", 1, 2**31 - 1),
        "quorum_up": SCRIPT("quorum_up"),
        "quorum_down": SCRIPT("quorum_down"),
        "hysteresis": INT("hysteresis", 0, 2**31 - 1),
        "inhibit_on_failure": BOOL("inhibit_on_failure"),
        "sorry_server": _sorry_server,
        "sorry_server_inhibit": BOOL("_sorry_inhibit"),
        "sorry_server_lvs_method": _lvs_method("_sorry_method"),
        "smtp_alert": BOOL("smtp_alert"),
        "ip_family": _ip_family,
        "drain_timeout": _drain_timeout,
        "announce_route": BOOL("announce_route"),
        "announce_track_script": WORDS("announce_track_script"),
        "snmp_name": LOOSE,
        **TIMING,
    }
    for f in ("flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback"):
        h[f] = _flag(f)
    h["hashed"] = _flag("flag-1")
    return h


def _rs_handlers() -> dict[str, Handler]:
    return {
        "weight": INT("weight", 0, 2**31 - 1),
        "lvs_method": _lvs_method("forwarding"),
        "lb_kind": _lvs_method("forwarding"),
        "inhibit_on_failure": BOOL("inhibit_on_failure"),
        "notify_up": SCRIPT("notify_up"),
        "notify_down": SCRIPT("notify_down"),
        "uthreshold": INT("uthreshold", 0, 2**31 - 1),
        "lthreshold": INT("lthreshold", 0, 2**31 - 1),
        "smtp_alert": BOOL("smtp_alert"),
        "virtualhost": STR("virtualhost"),
        "alpha": BOOL("alpha"),
        "drain_timeout": _drain_timeout,
        "snmp_name": LOOSE,
        **TIMING,
    }


_VS = _vs_handlers()
_RS = _rs_handlers()


def virtual_server_group(b: Builder, n: Node, name: str) -> m.VirtualServerGroup:
    entries = []
    for c in n.children or ():
        try:
            if c.keyword == "fwmark":
                mark = parse_int(one(c), 1, 2**32 - 1)
                fam = 6 if "inet6" in c.args[1:] else 4
                entries.append(m.VsgEntry(fwmark=mark, family=fam, file=c.file, line=c.line))
                continue
            text = c.keyword
            last = None
            if "/" in text:
                a, plen, fam = parse_prefix(text)
                import ipaddress  # group ranges only: -t's path often needs none

                net = ipaddress.ip_network(f"{a}/{plen}", strict=False)
                first, last = str(net.network_address), str(net.broadcast_address)
            elif "-" in text:
                start, _, end = text.partition("-")
                first, fam = parse_ip(start)
                if end.isdigit() and fam == 4:
                    base = first.rsplit(".", 1)[0]
                    last = parse_ip(f"{base}.{end}")[0]
                else:
                    last = parse_ip(end)[0] if ("." in end or ":" in end) else \
                        parse_ip(first.rsplit(":", 1)[0] + ":" + end)[0]
                import ipaddress

                if ipaddress.ip_address(last) < ipaddress.ip_address(first):
                    raise Bad(f"address range {text} ends before it starts")
            else:
                first, fam = parse_ip(text)
            port = parse_port(c.args[0]) if c.args else None
            entries.append(m.VsgEntry(first, last if last != first else None, port, None, fam, c.file, c.line))
        except Bad as exc:
            b.diags.error(c.file, c.line, f"virtual_server_group {name}: {exc}")
    return m.VirtualServerGroup(name, tuple(entries), n.file, n.line)


def virtual_server(b: Builder, n: Node) -> m.VirtualServer | None:
    if n.children is None:
        b.diags.error(n.file, n.line, "virtual_server needs a { } block")
        return None
    acc: dict[str, Any] = {}
    try:
        if not n.args:
            raise Bad("virtual_server needs an address, 'fwmark N' or 'group NAME'")
        if n.args[0] == "fwmark":
            acc["fwmark"] = parse_int(n.args[1] if len(n.args) > 1 else "", 1, 2**32 - 1)
            if len(n.args) > 2 and n.args[2] in ("inet", "inet6"):
                acc["ip_family"] = 4 if n.args[2] == "inet" else 6
        elif n.args[0] == "group":
            if len(n.args) < 2:
                raise Bad("virtual_server group needs a name")
            acc["group"] = n.args[1]
        else:
            acc["address"], acc["family"] = parse_ip(n.args[0])
            acc["port"] = parse_port(n.args[1]) if len(n.args) > 1 else 0
    except Bad as exc:
        b.diags.error(n.file, n.line, f"invalid virtual server: {exc} - skipping")
        return None
    reals: list[Node] = []
    for c in n.children:
        kw = c.keyword
        if kw == "real_server" and c.children is not None:
            reals.append(c)  # shape() would pass it: real_server is a named block
            continue
        if kw in BLOCK_KEYWORDS and not b.shape(c):  # shape() passes every other keyword
            continue
        h = _VS.get(kw)
        if h is None:
            b.unknown(c)
            continue
        b.apply(h, c, acc)
    flags = tuple(acc.pop("_flags", ()))
    acc["sched_flags"] = flags
    if "protocol" not in acc:
        if acc.get("fwmark") is None:
            # keepalived 2.2.7 reports this and uses UDP (its man page says TCP).
            b.diags.warning(n.file, n.line, "no protocol set - defaulting to UDP")
            acc["protocol"] = "UDP"
    elif acc.get("fwmark") is not None:
        f, ln = acc["_protocol_loc"]
        b.diags.warning(f, ln, f"protocol specified for fwmark virtual server {acc['fwmark']} - protocol will be ignored")
    if "lb_algo" not in acc:
        b.diags.warning(n.file, n.line, "no scheduler set (lb_algo), setting default 'wlc'")
    if "forwarding" not in acc:
        b.diags.warning(n.file, n.line, "no forwarding method set (lb_kind), setting default NAT")
    vs_fwd = acc.get("forwarding", m.ForwardingMethod())
    if "_sorry" in acc:
        a, port, fam, f, ln = acc.pop("_sorry")
        acc["sorry_server"] = m.SorryServer(a, port, fam, acc.pop("_sorry_method", None),
                                            bool(acc.pop("_sorry_inhibit", False)), f, ln)
    if acc.get("port") == 0 and acc.get("address") and "persistence_timeout" not in acc:
        b.diags.warning(n.file, n.line, "zero port only valid for persistent services - setting persistence")
        acc["persistence_timeout"] = 360
    # What every real server takes from the virtual server, looked up once.
    inherit = (acc.get("inhibit_on_failure", False), acc.get("drain_timeout", m.DEFAULT_DRAIN_TIMEOUT),
               acc.get("family") if acc.get("address") else None, acc.get("port"))

    def slow(c: Node) -> m.RealServer | None:
        return _finish_real_server(b, c, _real_server_acc(b, c), acc, vs_fwd, inherit)

    def duplicate(c: Node, rs: m.RealServer) -> None:
        b.diags.warning(c.file, c.line, f"real server {rs.address} port {rs.port} is duplicated - removing second rs")

    rs_out = acc["real_servers"] = b.real_servers().make_all(reals, inherit, vs_fwd.kind == "TUN", slow, duplicate)
    if not rs_out and acc.get("sorry_server") is None:
        b.diags.warning(n.file, n.line, "virtual server has no real servers")
    acc.pop("_protocol_loc", None)
    acc.pop("_lb_algo_loc", None)
    # Its own keywords: each real server keeps its own place and lines (a large table is
    # 100,000 real_server entries here otherwise).
    acc["keyword_lines"] = tuple([(c.keyword, c.line) for c in n.children if c.keyword != "real_server"])
    return make(m.VirtualServer, acc, n)


def _real_server_acc(b: Builder, c: Node) -> dict:
    acc: dict[str, Any] = {}
    try:
        if not c.args:
            raise Bad("real_server needs an address")
        acc["address"], acc["family"] = parse_ip(c.args[0])
        acc["port"] = parse_port(c.args[1]) if len(c.args) > 1 else None
    except Bad as exc:
        b.diags.error(c.file, c.line, f"invalid real server: {exc} - skipping")
        acc["_bad"] = True
    if c.children is None:
        return acc
    for k in c.children:
        if not b.shape(k):
            continue
        if k.keyword in CHECKER_CLASSES:
            acc.setdefault("_checkers", []).append(k)
            continue
        if k.keyword == "weight" and k.args and k.args[0].startswith("-"):
            b.diags.error(k.file, k.line, f"real server weight {k.args[0]} is outside range 0-2147483647")
            continue
        h = _RS.get(k.keyword)
        if h is None:
            b.unknown(k)
            continue
        b.apply(h, k, acc)
    return acc


def _finish_real_server(b: Builder, c: Node, acc: dict, vs: dict, vs_fwd: m.ForwardingMethod,
                        inherit: tuple[bool, float, int | None, int | None]) -> m.RealServer | None:
    """``inherit``: the virtual server's inhibit_on_failure, drain_timeout, address family (None
    without an address) and port."""
    if "_bad" in acc:
        return None
    inhibit, drain, family, port = inherit
    if "inhibit_on_failure" not in acc:
        acc["inhibit_on_failure"] = inhibit
    if "drain_timeout" not in acc:
        acc["drain_timeout"] = drain
    if family is not None and acc["family"] != family and (acc.get("forwarding") or vs_fwd).kind != "TUN":
        b.diags.error(c.file, c.end_line or c.line, f"real server {acc['address']} (line {c.line}): address family "
                      "differs from the virtual server's (only tunnelled real servers may differ) - skipping it")
        return None
    found = acc.pop("_checkers", None)
    if found:
        checkers = []
        for k in found:
            ck = checker(b, k, acc, vs)
            if ck is not None:
                checkers.append(ck)
        acc["checkers"] = tuple(checkers)
    if acc.get("port") is None:
        acc["port"] = port
    return make(m.RealServer, acc, c)
