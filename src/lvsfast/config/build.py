"""From the statement tree to the model, with keepalived's range and semantic checks.

Each block has a table of keyword handlers. A handler validates its arguments and stores a
value in the block's accumulator; a bad value is an error at its line and the default stays,
as keepalived keeps going. Keywords keepalived accepts but lvsfast does not model field by
field are kept in ``extra``; a keyword nobody knows is a warning naming it.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import MISSING
from dataclasses import fields as dc_fields
from typing import Any, Callable, Iterable

from lvsfast.config import model as m
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.reader import Node
from lvsfast.config.real_servers import RealServerMaker
from lvsfast.config.values import (LONG_TIMER_MAX, TIMER_MAX, Bad, MissingValue, parse_bool, parse_float,
                                   parse_int, parse_ip, parse_port, parse_prefix, parse_status_codes)
from lvsfast.frozen import plan_of

Handler = Callable[["Builder", Node, dict], None]


# ---------------------------------------------------------------------------------------------
# handler factories


def _one(n: Node) -> str:
    if not n.args:
        raise MissingValue(f"'{n.keyword}' is missing its parameter")
    return n.args[0]


def INT(name: str, lo: int, hi: int) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[name] = parse_int(_one(n), lo, hi)
    return h


def FLOAT(name: str, lo: float, hi: float) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[name] = parse_float(_one(n), lo, hi)
    return h


def BOOL(name: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[name] = parse_bool(n.args)
    return h


def CONST(name: str, value: Any) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[name] = value
    return h


def STR(name: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[name] = _one(n)
    return h


def WORDS(name: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[name] = n.args
    return h


def IP(name: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[name] = parse_ip(_one(n))[0]
    return h


def SCRIPT(name: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        s = script_of(n)
        if acc.get(name) is not None:
            # keepalived keeps the first and ignores the rest.
            b.diags.warning(n.file, n.line, f"{n.keyword} script already specified - ignoring {s.command}")
            return
        acc[name] = s
    return h


def script_of(n: Node, first: int = 0) -> m.Script:
    args = n.args[first:]
    if not args:
        raise Bad(f"'{n.keyword}' needs a script")
    return m.Script(args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None,
                    n.file, n.line)


def LOOSE(b: "Builder", n: Node, acc: dict) -> None:
    extra = acc.get("extra")
    if not isinstance(extra, list):  # a second global_defs block continues the first's tuple
        extra = acc["extra"] = list(extra or ())
    extra.append((n.keyword, n.args))


# ---------------------------------------------------------------------------------------------
# keyword tables

_GLOBAL_LOOSE = """
process_names vrrp_process_name checker_process_name lvs_process_name bfd_process_name process_name
min_auto_priority_delay
vrrp_ipsets nftables_priority nftables_ifindex nftables_ipvs nftables_ipvs_priority nftables_ipvs_start_fwmark
nftables_counters vrrp_priority vrrp_no_swap vrrp_rt_priority vrrp_cpu_affinity vrrp_rlimit_rttime vrrp_rlimit_rtime
vrrp_sched_slice checker_priority checker_no_swap checker_rt_priority checker_cpu_affinity checker_rlimit_rttime checker_rlimit_rtime
bfd_priority bfd_no_swap bfd_rt_priority bfd_cpu_affinity bfd_rlimit_rttime bfd_rlimit_rtime snmp_socket enable_traps
enable_snmp_vrrp enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2 enable_snmp_rfcv3 enable_snmp_checker
enable_dbus dbus_service_name vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs
vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs process_monitor_rcv_bufs_force lvs_netlink_cmd_rcv_bufs
lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs lvs_netlink_monitor_rcv_bufs_force rs_init_notifies
no_checker_emails vrrp_rx_bufs_policy vrrp_rx_bufs_multiplier vmac_prefix vmac_addr_prefix random_seed
reload_check_config reload_time_file reload_repeat reload_file include_check config_save_dir tmp_config_directory
data_use_instance log_unknown_vrids umask disable_local_igmp fifo_write_vrrp_states_on_reload linkbeat_use_polling
use_pid_dir net_namespace_ipvs namespace_with_ipsets child_wait_time instance vrrp_garp_lower_prio_interval
""".split()

_TOP_LOOSE = {"linkbeat_use_polling", "net_namespace_ipvs", "namespace_with_ipsets", "use_pid_dir", "instance",
              "child_wait_time", "bfd_instance", "linkbeat_interfaces", "track_group", "garp_group",
              "interface_up_down_delays"}


def _global_handlers() -> dict[str, Handler]:
    h: dict[str, Handler] = {
        "router_id": STR("router_id"),
        "notification_email_from": STR("notification_email_from"),
        "smtp_helo_name": STR("smtp_helo_name"),
        "smtp_connect_timeout": INT("smtp_connect_timeout", 0, 4294),
        "smtp_alert": BOOL("smtp_alert"),
        "smtp_alert_vrrp": BOOL("smtp_alert_vrrp"),
        "smtp_alert_checker": BOOL("smtp_alert_checker"),
        "no_email_faults": BOOL("no_email_faults"),
        "enable_script_security": BOOL("enable_script_security"),
        "default_interface": STR("default_interface"),
        "dynamic_interfaces": BOOL("dynamic_interfaces"),
        "vrrp_garp_master_delay": FLOAT("vrrp_garp_master_delay", 0, 86400),
        "vrrp_garp_master_repeat": INT("vrrp_garp_master_repeat", 0, 2**31 - 1),
        "vrrp_garp_master_refresh": FLOAT("vrrp_garp_master_refresh", 0, 86400),
        "vrrp_garp_master_refresh_repeat": INT("vrrp_garp_master_refresh_repeat", 0, 2**31 - 1),
        "vrrp_garp_lower_prio_delay": FLOAT("vrrp_garp_lower_prio_delay", 0, 86400),
        "vrrp_garp_lower_prio_repeat": INT("vrrp_garp_lower_prio_repeat", 0, 2**31 - 1),
        "vrrp_garp_interval": FLOAT("vrrp_garp_interval", 0, 1),
        "vrrp_gna_interval": FLOAT("vrrp_gna_interval", 0, 1),
        "vrrp_min_garp": BOOL("vrrp_min_garp"),
        "vrrp_garp_extra_if": WORDS("vrrp_garp_extra_if"),
        "vrrp_down_timer_adverts": INT("vrrp_down_timer_adverts", 1, 100),
        "vrrp_lower_prio_no_advert": BOOL("vrrp_lower_prio_no_advert"),
        "vrrp_higher_prio_send_advert": BOOL("vrrp_higher_prio_send_advert"),
        "vrrp_version": INT("vrrp_version", 2, 3),
        "vrrp_check_unicast_src": BOOL("vrrp_check_unicast_src"),
        "vrrp_skip_check_adv_addr": BOOL("vrrp_skip_check_adv_addr"),
        "vrrp_strict": BOOL("vrrp_strict"),
        "vrrp_iptables": WORDS("vrrp_iptables"),
        "vrrp_startup_delay": FLOAT("vrrp_startup_delay", 0, 86400),
        "vrrp_notify_priority_changes": BOOL("vrrp_notify_priority_changes"),
        "lvs_flush": BOOL("lvs_flush"),
        "checker_log_all_failures": BOOL("checker_log_all_failures"),
        "max_auto_priority": INT("max_auto_priority", -1, 99),
        "net_namespace": STR("net_namespace"),
        "lvs_backend": _lvs_backend,
        "drift_repair": BOOL("drift_repair"),
        "v3_checksum_as_v2": BOOL("v3_checksum_as_v2"),
        "notification_email": _notification_email,
        "smtp_server": _smtp_server,
        "script_user": _script_user,
        "vrrp_mcast_group4": _mcast(4),
        "vrrp_mcast_group6": _mcast(6),
        "nftables": lambda b, n, acc: acc.__setitem__("nftables", n.args[0] if n.args else "keepalived"),
        "lvs_sync_daemon": _lvs_sync_daemon,
        "lvs_timeouts": _lvs_timeouts,
        "lvs_flush_on_stop": lambda b, n, acc: acc.__setitem__("lvs_flush_on_stop", n.args[0] if n.args else "VS"),
        "lvs_flush_onstop": lambda b, n, acc: acc.__setitem__("lvs_flush_on_stop", n.args[0] if n.args else "VS"),
    }
    for k in ("vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script",
              "notify_fifo", "notify_fifo_script", "startup_script", "shutdown_script"):
        h[k] = SCRIPT(k)
    h["startup_script_timeout"] = _start_stop_timeout("startup_script_timeout")
    h["shutdown_script_timeout"] = _start_stop_timeout("shutdown_script_timeout")
    for k in _GLOBAL_LOOSE:
        h.setdefault(k, LOOSE)
    return h


def _start_stop_timeout(name: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        v = _one(n)
        if not v.isdigit() or not 1 <= int(v) <= 1000:
            # keepalived warns and keeps its default.
            b.diags.warning(n.file, n.line, f"{name} '{v}' must be in [1, 1000] - ignoring")
            return
        acc[name] = float(v)
    return h


def _lvs_backend(b: "Builder", n: Node, acc: dict) -> None:
    v = _one(n)
    if v not in ("ipvs", "nftables", "auto"):
        raise Bad(f"lvs_backend '{v}' is not one of ipvs|nftables|auto")
    acc["lvs_backend"] = v


def _notification_email(b: "Builder", n: Node, acc: dict) -> None:
    items = list(n.args)
    for c in n.children or ():
        items.append(c.keyword)
        items.extend(c.args)
    if not items:
        b.diags.warning(n.file, n.line, "empty notification_email block")
    acc["notification_email"] = tuple(items)


def _smtp_server(b: "Builder", n: Node, acc: dict) -> None:
    try:
        acc["smtp_server"] = parse_ip(_one(n))[0]
    except MissingValue:
        raise
    except Bad:
        name = _one(n)
        if not _HOSTNAME.fullmatch(name) or re.fullmatch(r"[0-9.]+", name):
            raise Bad(f"invalid smtp server {name}: neither an address nor a host name") from None
        acc["smtp_server"] = name  # a host name, resolved when mail is sent
    if len(n.args) > 1:
        acc["smtp_server_port"] = parse_port(n.args[1])


_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def _script_user(b: "Builder", n: Node, acc: dict) -> None:
    acc["script_user"] = _one(n)
    if len(n.args) > 1:
        acc["script_group"] = n.args[1]


def _mcast(fam: int) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        a, f = parse_ip(_one(n))
        if f != fam or not ipaddress.ip_address(a).is_multicast:
            raise Bad(f"'{a}' is not an IPv{fam} multicast address")
        acc[n.keyword] = a
    return h


def _lvs_sync_daemon(b: "Builder", n: Node, acc: dict) -> None:
    if len(n.args) < 2:
        raise Bad("lvs_sync_daemon needs an interface and a VRRP instance")
    kw: dict[str, Any] = {}
    rest = list(n.args[2:])
    while rest:
        k = rest.pop(0)
        if not rest:
            raise Bad(f"lvs_sync_daemon option '{k}' needs a value")
        v = rest.pop(0)
        if k == "id":
            kw["sync_id"] = parse_int(v, 0, 255)
        elif k == "maxlen":
            kw["maxlen"] = parse_int(v, 1, 65535 - 20 - 8)
        elif k == "port":
            kw["port"] = parse_port(v)
        elif k == "ttl":
            kw["ttl"] = parse_int(v, 1, 255)
        elif k == "group":
            kw["group"] = parse_ip(v)[0]
        else:
            raise Bad(f"unknown lvs_sync_daemon option '{k}'")
    acc["lvs_sync_daemon"] = m.LvsSyncDaemon(n.args[0], n.args[1], file=n.file, line=n.line, **kw)


def _lvs_timeouts(b: "Builder", n: Node, acc: dict) -> None:
    kw: dict[str, int] = {}
    rest = list(n.args)
    if not rest:
        raise Bad("lvs_timeouts needs tcp, tcpfin or udp values")
    while rest:
        k = rest.pop(0)
        if k not in ("tcp", "tcpfin", "udp") or not rest:
            raise Bad(f"invalid lvs_timeouts option '{k}'")
        kw[k] = parse_int(rest.pop(0), 0, 86400 * 31)
    acc["lvs_timeouts"] = m.LvsTimeouts(**kw)


# -- VRRP -------------------------------------------------------------------------------------

def _track_list(lo: int, hi: int) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        out = list(acc.get(n.keyword, ()))
        for c in n.children or ():
            try:
                out.append(tracked_of(c, lo, hi))
            except Bad as exc:
                b.diags.error(c.file, c.line, f"{n.keyword}: {exc}")
        acc[n.keyword] = tuple(out)
    return h


def tracked_of(c: Node, lo: int, hi: int) -> m.Tracked:
    weight = None
    reverse = False
    args = list(c.args)
    while args:
        a = args.pop(0)
        if a == "weight":
            if not args:
                raise Bad(f"weight for {c.keyword} needs a value")
            v = args.pop(0)
            try:
                weight = int(v, 10)
            except ValueError:
                raise Bad(f"weight '{v}' for {c.keyword} is not a number") from None
            if not lo <= weight <= hi:
                raise Bad(f"weight {weight} for {c.keyword} must be between [{lo}..{hi}] inclusive")
        elif a == "reverse":
            reverse = True
        elif a in ("noreverse", "no_reverse"):
            reverse = False
        else:
            raise Bad(f"unknown option '{a}' for {c.keyword}")
    return m.Tracked(c.keyword, weight, reverse, c.file, c.line)


_ADDR_FLAGS = {"no_track": "no_track", "home": "home", "-nodad": "nodad", "nodad": "nodad",
               "mngtmpaddr": "mngtmpaddr", "noprefixroute": "noprefixroute", "autojoin": "autojoin",
               "use_vmac": "use_vmac"}
_ADDR_VALUES = {"dev": "dev", "brd": "brd", "broadcast": "brd", "scope": "scope", "label": "label",
                "peer": "peer", "track_group": "track_group"}
SCOPES = {"site", "link", "host", "nowhere", "global"}


def address_of(c: Node, ignored: list[str] | None = None) -> m.VirtualAddress:
    """One address line; options keepalived ignores with a complaint are appended to ``ignored``."""
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
    while args:
        k = args.pop(0)
        if k in _ADDR_FLAGS:
            kw[_ADDR_FLAGS[k]] = True
        elif k in _ADDR_VALUES:
            if not args:
                raise Bad(f"'{k}' needs a value")
            v = args.pop(0)
            if k == "scope" and v not in SCOPES and not v.isdigit():
                raise Bad(f"invalid scope '{v}'")
            if k in ("brd", "broadcast", "peer"):
                v = parse_prefix(v)[0] if k == "peer" else (v if v in ("+", "-") else parse_ip(v)[0])
            kw[_ADDR_VALUES[k]] = v
        elif k == "preferred_lft":
            if not args:
                raise Bad("'preferred_lft' needs a value")
            v = args.pop(0)
            kw["preferred_lft"] = 0xFFFFFFFF if v == "forever" else parse_int(v, 0, 0xFFFFFFFF)
        elif ignored is not None:
            ignored.append(k)
        else:
            raise Bad(f"unknown option '{k}' for address {text}")
    return m.VirtualAddress(a, plen, fam, file=c.file, line=c.line, **kw)


def _address_list(b: "Builder", n: Node, acc: dict) -> None:
    out = list(acc.get(n.keyword, ()))
    for c in n.children or ():
        ignored: list[str] = []
        try:
            out.append(address_of(c, ignored))
            for k in ignored:
                b.diags.warning(c.file, c.line, f"unknown configuration entry '{k}' for ip address - ignoring")
        except Bad as exc:
            b.diags.error(c.file, c.line, f"{exc} - skipping")
    acc[n.keyword] = tuple(out)


_ROUTE_FLAGS = {"nexthop", "onlink", "pervasive"}
_ROUTE_VALUE_OPTIONS = {"mtu", "advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "ssthresh", "realms",
                        "rto_min", "initcwnd", "initrwnd", "features", "quickack", "congctl", "pref", "protocol",
                        "proto", "expires", "fastopen_no_cookie", "ttl-propagate", "hoplimit", "tos", "dsfield",
                        "weight", "track_group", "encap", "as", "lock", "from", "mpls"}
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


def _route_list(b: "Builder", n: Node, acc: dict) -> None:
    out = list(acc.get(n.keyword, ()))
    for c in n.children or ():
        try:
            r, deprecated = route_of(c)
        except Bad as exc:
            b.diags.error(c.file, c.line, f"invalid route: {exc}")
            continue
        for d in deprecated:
            new = "nexthop" if d == "or" else "via"
            b.diags.warning(c.file, c.line, f'"{d}" for routes is deprecated. Please use "{new}"')
        if not r.dev and not r.no_track and n.keyword == "virtual_routes":
            b.diags.warning(c.file, c.line, f"cannot track route {r.destination} with no interface specified, not tracking")
        out.append(r)
    acc[n.keyword] = tuple(out)


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
        elif t in ("goto", "realms", "tos", "dsfield", "suppress_prefixlength", "sup_pl", "suppress_ifgroup",
                   "sup_group", "uidrange", "tunnel-id", "ipproto", "sport", "dport", "protocol", "l3mdev",
                   "track_group"):
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


def _rule_list(b: "Builder", n: Node, acc: dict) -> None:
    out = list(acc.get(n.keyword, ()))
    for c in n.children or ():
        try:
            r = rule_of(c)
        except Bad as exc:
            b.diags.error(c.file, c.line, str(exc))
            continue
        if r.preference is None:
            b.diags.warning(c.file, c.line, "rule has no preference specified; the kernel picks one, "
                            "which is probably not what you want")
        out.append(r)
    acc[n.keyword] = tuple(out)


def _unicast_peers(b: "Builder", n: Node, acc: dict) -> None:
    out = list(acc.get("unicast_peer", ()))
    for c in n.children or ():
        try:
            a, fam = parse_ip(c.keyword)
            kw: dict[str, int] = {}
            args = list(c.args)
            while args:
                k = args.pop(0)
                if k not in ("min_ttl", "max_ttl") or not args:
                    raise Bad(f"unknown unicast_peer option '{k}'")
                kw[k] = parse_int(args.pop(0), 0, 255)
            out.append(m.UnicastPeer(a, fam, file=c.file, line=c.line, **kw))
        except Bad as exc:
            b.diags.error(c.file, c.line, f"unicast_peer: {exc}")
    acc["unicast_peer"] = tuple(out)


def _authentication(b: "Builder", n: Node, acc: dict) -> None:
    auth_type = None
    auth_pass = ""
    for c in n.children or ():
        if c.keyword == "auth_type":
            v = _one(c).upper()
            if v not in ("PASS", "AH"):
                b.diags.error(c.file, c.line, f"unknown authentication type '{_one(c)}' (PASS|AH)")
                continue
            auth_type = v
        elif c.keyword == "auth_pass":
            auth_pass = _one(c)
            if len(auth_pass) > 8:
                b.diags.warning(c.file, c.line, "auth_pass longer than 8 characters: only the first 8 are used")
            auth_pass = auth_pass[:8]
        else:
            b.unknown(c)
    if auth_type is None:
        return  # keepalived silently runs without authentication
    acc["authentication"] = m.Authentication(auth_type, auth_pass)  # type: ignore[arg-type]


def _state(b: "Builder", n: Node, acc: dict) -> None:
    v = _one(n).upper()
    if v not in ("MASTER", "BACKUP"):
        raise Bad(f"unknown state '{_one(n)}' (MASTER|BACKUP)")
    acc["state"] = v


def _use_vmac(b: "Builder", n: Node, acc: dict) -> None:
    name = mac = None
    for a in n.args:
        if re.fullmatch(r"([0-9a-fA-F]{1,2}:){4,5}[0-9a-fA-F]{1,2}", a):
            mac = a.lower()
        else:
            name = a
    acc["use_vmac"] = m.Vmac(name, mac)


def _preempt(b: "Builder", n: Node, acc: dict) -> None:
    acc["nopreempt"] = False


def _version(b: "Builder", n: Node, acc: dict) -> None:
    acc["version"] = parse_int(_one(n), 2, 3)


def _opt_str(name: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[name] = n.args[0] if n.args else ""
    return h


def _lvs_sync_iface(b: "Builder", n: Node, acc: dict) -> None:
    acc["lvs_sync_daemon_interface"] = _one(n)
    b.diags.warning(n.file, n.line, "specifying lvs_sync_daemon_interface against a vrrp_instance is deprecated; "
                    "use global_defs' lvs_sync_daemon")


def _vrrp_instance_handlers() -> dict[str, Handler]:
    h: dict[str, Handler] = {
        "state": _state,
        "interface": STR("interface"),
        "vrf": STR("vrf"),
        "virtual_router_id": INT("virtual_router_id", 1, 255),
        "priority": INT("priority", 1, 255),
        "advert_int": FLOAT("advert_int", 0.01, 255),
        "version": _version,
        "authentication": _authentication,
        "virtual_ipaddress": _address_list,
        "virtual_ipaddress_excluded": _address_list,
        "virtual_routes": _route_list,
        "virtual_rules": _rule_list,
        "mcast_src_ip": IP("mcast_src_ip"),
        "unicast_src_ip": IP("unicast_src_ip"),
        "mcast_dst_ip": IP("mcast_dst_ip"),
        "unicast_peer": _unicast_peers,
        "unicast_fault_no_peer": CONST("unicast_fault_no_peer", True),
        "unicast_ttl": INT("unicast_ttl", 0, 255),
        "check_unicast_src": BOOL("check_unicast_src"),
        "track_src_ip": CONST("track_src_ip", True),
        "old_unicast_checksum": _opt_str("old_unicast_checksum"),
        "track_interface": _track_list(-253, 253),
        "track_script": _track_list(-253, 253),
        "track_file": _track_list(-254, 254),
        "track_process": _track_list(-254, 254),
        "track_bfd": _track_list(-253, 253),
        "dont_track_primary": CONST("dont_track_primary", True),
        "nopreempt": CONST("nopreempt", True),
        "no_preempt": CONST("nopreempt", True),
        "preempt": _preempt,
        "preempt_delay": FLOAT("preempt_delay", 0, 1000),
        "accept": CONST("accept", True),
        "no_accept": CONST("accept", False),
        "strict_mode": BOOL("strict_mode"),
        "skip_check_adv_addr": BOOL("skip_check_adv_addr"),
        "use_vmac": _use_vmac,
        "use_vmac_addr": CONST("use_vmac_addr", True),
        "vmac_xmit_base": CONST("vmac_xmit_base", True),
        "use_ipvlan": WORDS("use_ipvlan"),
        "native_ipv6": CONST("native_ipv6", True),
        "promote_secondaries": CONST("promote_secondaries", True),
        "garp_master_delay": FLOAT("garp_master_delay", 0, 86400),
        "garp_master_repeat": INT("garp_master_repeat", 0, 2**31 - 1),
        "garp_lower_prio_delay": FLOAT("garp_lower_prio_delay", 0, 86400),
        "garp_lower_prio_repeat": INT("garp_lower_prio_repeat", 0, 2**31 - 1),
        "garp_master_refresh": FLOAT("garp_master_refresh", 0, 86400),
        "garp_master_refresh_repeat": INT("garp_master_refresh_repeat", 0, 2**31 - 1),
        "garp_extra_if": WORDS("garp_extra_if"),
        "down_timer_adverts": INT("down_timer_adverts", 1, 100),
        "lower_prio_no_advert": BOOL("lower_prio_no_advert"),
        "v3_checksum_as_v2": BOOL("v3_checksum_as_v2"),
        "higher_prio_send_advert": BOOL("higher_prio_send_advert"),
        "notify_priority_changes": BOOL("notify_priority_changes"),
        "smtp_alert": BOOL("smtp_alert"),
        "debug": INT("debug", 0, 4),
        "kernel_rx_buf_size": INT("kernel_rx_buf_size", 0, 2**31 - 1),
        "linkbeat_use_polling": CONST("linkbeat_use_polling", True),
        "lvs_sync_daemon_interface": _lvs_sync_iface,
    }
    for k in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted", "notify",
              "notify_master_rx_lower_pri"):
        h[k] = SCRIPT(k)
    return h


def _vrrp_script_handlers() -> dict[str, Handler]:
    return {
        "script": lambda b, n, acc: acc.__setitem__("script", m.Script(" ".join(n.args), file=n.file, line=n.line)
                                                    if n.args else _raise(f"'{n.keyword}' needs a script")),
        "interval": FLOAT("interval", 0.000001, 2**31),
        "timeout": FLOAT("timeout", 0.000001, 2**31),
        "weight": _weight(-253, 253),
        "rise": INT("rise", 1, 2**31 - 1),
        "fall": INT("fall", 1, 2**31 - 1),
        "user": _user,
        "init_fail": CONST("init_fail", True),
    }


def _raise(msg: str) -> Any:
    raise Bad(msg)


def _user(b: "Builder", n: Node, acc: dict) -> None:
    acc["_user"] = n.args


def _weight(lo: int, hi: int) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc["weight"] = parse_int(_one(n), lo, hi)
        for a in n.args[1:]:
            if a == "reverse":
                acc["weight_reverse"] = True
            elif a not in ("noreverse", "no_reverse"):
                raise Bad(f"unknown weight option '{a}'")
    return h


def _vrrp_track_file_handlers() -> dict[str, Handler]:
    def init_file(b: "Builder", n: Node, acc: dict) -> None:
        for a in n.args:
            if a == "overwrite":
                acc["init_file_overwrite"] = True
            else:
                acc["init_file"] = parse_int(a, -254, 254)
        acc.setdefault("init_file", 0)
    return {"file": STR("path"), "weight": _weight(-254, 254), "init_file": init_file}


def _vrrp_track_process_handlers() -> dict[str, Handler]:
    return {
        "process": lambda b, n, acc: acc.__setitem__("process", " ".join(n.args) if n.args else _raise("process needs a name")),
        "param_match": _opt_str("param_match"),
        "weight": _weight(-254, 254),
        "quorum": INT("quorum", 1, 65535),
        "quorum_max": INT("quorum_max", 1, 65535),
        "delay": FLOAT("delay", 0, 86400),
        "terminate_delay": FLOAT("terminate_delay", 0, 86400),
        "fork_delay": FLOAT("fork_delay", 0, 86400),
        "full_command": CONST("full_command", True),
    }


def _sync_group_handlers() -> dict[str, Handler]:
    def group(b: "Builder", n: Node, acc: dict) -> None:
        names = list(acc.get("group", ()))
        for c in n.children or ():
            names.append(c.keyword)
            names.extend(c.args)
        names.extend(n.args)
        acc["group"] = tuple(names)
    h: dict[str, Handler] = {
        "group": group,
        "track_interface": _track_list(-253, 253),
        "track_script": _track_list(-253, 253),
        "track_file": _track_list(-254, 254),
        "track_process": _track_list(-254, 254),
        "track_bfd": _track_list(-253, 253),
        "notify_priority_changes": BOOL("notify_priority_changes"),
        "smtp_alert": BOOL("smtp_alert"),
        "global_tracking": CONST("global_tracking", True),
        "sync_group_tracking_weight": CONST("sync_group_tracking_weight", True),
    }
    for k in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify", "notify_deleted"):
        h[k] = SCRIPT(k)
    return h


# -- LVS --------------------------------------------------------------------------------------

def _lvs_method(field: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc[field] = method_of(n)
    return h


def method_of(n: Node) -> m.ForwardingMethod:
    v = _one(n).upper()
    if v == "FULLNAT":
        raise Bad("lb_kind FULLNAT is not supported")
    if v not in m.LB_KINDS:
        raise Bad(f"unknown [{_one(n)}] routing method for virtual server (NAT|DR|TUN)")
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


def _lb_algo(b: "Builder", n: Node, acc: dict) -> None:
    v = _one(n)
    if v not in m.IPVS_SCHEDULERS and v != "random":
        raise Bad(f"invalid lvs_scheduler '{v}' (one of {', '.join(sorted(m.IPVS_SCHEDULERS))})")
    acc["lb_algo"] = v
    acc["_lb_algo_loc"] = (n.file, n.line)


def _protocol(b: "Builder", n: Node, acc: dict) -> None:
    v = _one(n).upper()
    if v not in m.PROTOCOLS:
        raise Bad(f"unknown protocol {_one(n)} (TCP|UDP|SCTP)")
    acc["protocol"] = v
    acc["_protocol_loc"] = (n.file, n.line)


def _flag(flag: str) -> Handler:
    def h(b: "Builder", n: Node, acc: dict) -> None:
        acc.setdefault("_flags", []).append(flag)
    return h


def _persistence_timeout(b: "Builder", n: Node, acc: dict) -> None:
    acc["persistence_timeout"] = parse_int(n.args[0], 1, 2**31 - 1) if n.args else 360


def _granularity(b: "Builder", n: Node, acc: dict) -> None:
    v = _one(n)
    try:
        if v.isdigit():
            if not 0 <= int(v) <= 128:
                raise ValueError
        else:
            ipaddress.ip_address(v)
    except ValueError:
        raise Bad(f"invalid persistence_granularity '{v}'") from None
    acc["persistence_granularity"] = v


def _sorry_server(b: "Builder", n: Node, acc: dict) -> None:
    a, fam = parse_ip(_one(n))
    port = parse_port(n.args[1]) if len(n.args) > 1 else None
    acc["_sorry"] = (a, port, fam, n.file, n.line)


def _ip_family(b: "Builder", n: Node, acc: dict) -> None:
    v = _one(n)
    if v not in ("inet", "inet6"):
        raise Bad(f"unknown ip_family '{v}' (inet|inet6)")
    acc["ip_family"] = 4 if v == "inet" else 6


def _drain_timeout(b: "Builder", n: Node, acc: dict) -> None:
    acc["drain_timeout"] = parse_float(_one(n), 0, 86400 * 7)


_COMMON_TIMING: dict[str, Handler] = {
    "connect_timeout": FLOAT("connect_timeout", 0.000001, TIMER_MAX),
    "retry": INT("retry", 0, 2**31 - 1),
    "nb_get_retry": lambda b, n, acc: (INT("retry", 0, 2**31 - 1)(b, n, acc),
                                       b.diags.warning(n.file, n.line, "nb_get_retry is deprecated - please use 'retry'")),
    "delay_before_retry": FLOAT("delay_before_retry", 0, LONG_TIMER_MAX),
    "warmup": FLOAT("warmup", 0, LONG_TIMER_MAX),
    "delay_loop": FLOAT("delay_loop", 0.000001, LONG_TIMER_MAX),
}


def _virtual_server_handlers() -> dict[str, Handler]:
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
        "snmp_name": LOOSE,
        **_COMMON_TIMING,
    }
    for f in ("flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback"):
        h[f] = _flag(f)
    h["hashed"] = _flag("flag-1")
    return h


def _real_server_handlers() -> dict[str, Handler]:
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
        **_COMMON_TIMING,
    }


_CHECKER_COMMON: dict[str, Handler] = {
    "connect_ip": IP("connect_ip"),
    "connect_port": lambda b, n, acc: acc.__setitem__("connect_port", parse_port(_one(n))),
    "bindto": IP("bindto"),
    "bind_if": STR("bind_if"),
    "bind_port": lambda b, n, acc: acc.__setitem__("bind_port", parse_port(_one(n))),
    "fwmark": INT("fwmark", 0, 2**32 - 1),
    "alpha": BOOL("alpha"),
    "log_all_failures": BOOL("log_all_failures"),
    **_COMMON_TIMING,
}


def _url_handlers() -> dict[str, Handler]:
    def digest(b: "Builder", n: Node, acc: dict) -> None:
        v = _one(n)
        if not re.fullmatch(r"[0-9a-fA-F]{32}", v):
            raise Bad(f"digest '{v}' is not an MD5 hex string of 32 characters")
        if acc.get("digest") is not None:
            b.diags.warning(n.file, n.line, f"digest '{v}' is a duplicate - ignoring it")
            return
        acc["digest"] = v.lower()

    def status(b: "Builder", n: Node, acc: dict) -> None:
        if n.args:  # keepalived accepts a bare status_code and keeps the default
            acc["status_code"] = acc.get("status_code", ()) + parse_status_codes(n.args)

    def regex(b: "Builder", n: Node, acc: dict) -> None:
        v = " ".join(n.args)
        try:
            re.compile(v)
        except re.error as exc:
            # keepalived uses PCRE2; Python's re is close enough to catch plain mistakes.
            raise Bad(f"invalid regex '{v}': {exc}") from None
        acc["regex"] = v

    def regex_stack(b: "Builder", n: Node, acc: dict) -> None:
        if len(n.args) != 2:
            raise Bad("regex_stack needs START and MAX")
        acc["regex_stack"] = (parse_int(n.args[0], 0, 2**31 - 1), parse_int(n.args[1], 0, 2**31 - 1))

    return {
        "path": lambda b, n, acc: acc.__setitem__("path", " ".join(n.args) if n.args else _raise("path needs a value")),
        "digest": digest,
        "status_code": status,
        "virtualhost": STR("virtualhost"),
        "regex": regex,
        "regex_no_match": CONST("regex_no_match", True),
        "regex_options": WORDS("regex_options"),
        "regex_min_offset": INT("regex_min_offset", 0, 2**31 - 1),
        "regex_max_offset": INT("regex_max_offset", 0, 2**31 - 1),
        "regex_stack": regex_stack,
    }


def _hex_bytes(args: tuple[str, ...]) -> bytes:
    # keepalived's free format: each whitespace-separated group is read two hex digits at a time,
    # an odd last digit being a byte of its own ("Ab12f" -> AB 12 0F).
    out = bytearray()
    for g in args:
        if not re.fullmatch(r"[0-9a-fA-F]+", g):
            raise Bad(f"'{g}' is not hexadecimal")
        for i in range(0, len(g), 2):
            out.append(int(g[i:i + 2], 16))
    return bytes(out)


def _hex_pattern(args: tuple[str, ...]) -> tuple[bytes, bytes]:
    """``require_reply``: hex as :func:`_hex_bytes`, where an X nibble matches anything.
    Returns the bytes (wildcards as 0) and a mask (0 bits are wildcards)."""
    groups = tuple(g.translate(str.maketrans("xX", "00")) for g in args)
    # A lone last digit is a byte of its own with an exact zero high nibble: its mask is F + digit's.
    masks = tuple(m[:-1] + "F" + m[-1] if len(m) % 2 else m
                  for m in ("".join("0" if c in "xX" else "F" for c in g) for g in args))
    for g, orig in zip(groups, args):
        if not re.fullmatch(r"[0-9a-fA-F]+", g):
            raise Bad(f"'{orig}' is not hexadecimal (X stands for any digit)")
    return _hex_bytes(groups), _hex_bytes(masks)


def _checker_handlers(kind: str) -> dict[str, Handler]:
    h = dict(_CHECKER_COMMON)
    if kind in ("HTTP_GET", "SSL_GET"):
        def url(b: "Builder", n: Node, acc: dict) -> None:
            if not any(c.keyword == "path" for c in n.children or ()):
                b.diags.warning(n.file, n.end_line or n.line, f"url block (line {n.line}) has no path - ignoring it")
                return
            u = b.block(n, _URL, m.Url)
            if u is not None:
                acc["urls"] = acc.get("urls", ()) + (u,)

        def proto(b: "Builder", n: Node, acc: dict) -> None:
            v = _one(n)
            if v not in ("1.0", "1.0C", "1.1"):
                raise Bad(f"unknown http_protocol '{v}' (1.0|1.0C|1.1)")
            acc["http_protocol"] = v
        h.update({"url": url, "http_protocol": proto, "virtualhost": STR("virtualhost"),
                  "enable_sni": BOOL("enable_sni"), "fast_recovery": BOOL("fast_recovery")})
    elif kind == "SMTP_CHECK":
        h["helo_name"] = STR("helo_name")
        def host(b: "Builder", n: Node, acc: dict) -> None:
            hacc = b.fill(n, _SMTP_HOST, {})
            _check_bind_family(b, n, hacc)
            acc["hosts"] = acc.get("hosts", ()) + (make(m.SmtpHost, hacc, n),)
        h["host"] = host  # keepalived 1.x's syntax, still accepted
    elif kind == "DNS_CHECK":
        def dtype(b: "Builder", n: Node, acc: dict) -> None:
            v = _one(n).upper()
            if v not in ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"):
                raise Bad(f"unknown DNS query type '{_one(n)}'")
            acc["type"] = v
        h.update({"type": dtype, "name": STR("name")})
    elif kind == "MISC_CHECK":
        def misc_path(b: "Builder", n: Node, acc: dict) -> None:
            if not n.args:  # not fatal in keepalived, unlike most missing parameters
                raise Bad("no script path has been specified for misc_path")
            acc["misc_path"] = m.Script(n.args[0], file=n.file, line=n.line)
        h.update({"misc_path": misc_path, "misc_timeout": FLOAT("misc_timeout", 0.000001, TIMER_MAX),
                  "misc_dynamic": CONST("misc_dynamic", True), "user": _user})
    elif kind == "UDP_CHECK":
        def payload(b: "Builder", n: Node, acc: dict) -> None:
            acc["payload"] = _hex_bytes(n.args)

        def require(b: "Builder", n: Node, acc: dict) -> None:
            acc["reply_required"] = True
            if n.args:
                acc["require_reply"], mask = _hex_pattern(n.args)
                acc["require_reply_mask"] = None if mask.count(0xFF) == len(mask) else mask
            else:
                acc["require_reply"] = None
        h.update({"payload": payload, "require_reply": require,
                  "min_reply_length": INT("min_reply_length", 0, 65535),
                  "max_reply_length": INT("max_reply_length", 0, 65535)})
    elif kind == "FILE_CHECK":
        def dynamic(b: "Builder", n: Node, acc: dict) -> None:
            acc["dynamic"] = True
            b.diags.warning(n.file, n.line, "'dynamic' in FILE_CHECK: keepalived 2.2.7 rejects it as an unknown "
                            "keyword (its man page documents it); lvsfast honours it")
        h = {"track_file": STR("track_file"), "file": STR("track_file"), "dynamic": dynamic,
             "weight": _weight(-(2**31 - 1), 2**31 - 1)}
    elif kind == "BFD_CHECK":
        h = {"name": STR("name"), "bfd": STR("name")}
    return h


_SMTP_HOST: dict[str, Handler] = {k: _CHECKER_COMMON[k] for k in
                                  ("connect_ip", "connect_port", "bindto", "bind_if", "bind_port", "fwmark")}


def _check_bind_family(b: "Builder", n: Node, acc: dict) -> None:
    bindto, connect_ip = acc.get("bindto"), acc.get("connect_ip")
    if bindto and connect_ip and (":" in bindto) != (":" in connect_ip):
        line = next((c.line for c in reversed(n.children or ()) if c.keyword == "bindto"), n.line)
        b.diags.warning(n.file, line, f"bindto address {bindto} does not match the address family of "
                        f"connect_ip {connect_ip} - ignoring bindto")
        acc.pop("bindto")


_CHECKER_CLASSES: dict[str, type] = {
    "TCP_CHECK": m.TcpCheck, "HTTP_GET": m.HttpCheck, "SSL_GET": m.HttpCheck, "SMTP_CHECK": m.SmtpCheck,
    "DNS_CHECK": m.DnsCheck, "MISC_CHECK": m.MiscCheck, "UDP_CHECK": m.UdpCheck, "PING_CHECK": m.PingCheck,
    "ICMP_CHECK": m.PingCheck, "FILE_CHECK": m.FileCheck, "BFD_CHECK": m.BfdCheck,
}

_GLOBAL = _global_handlers()
_INSTANCE = _vrrp_instance_handlers()
_SCRIPT = _vrrp_script_handlers()
_TRACK_FILE = _vrrp_track_file_handlers()
_TRACK_PROCESS = _vrrp_track_process_handlers()
_SYNC_GROUP = _sync_group_handlers()
_VS = _virtual_server_handlers()
_RS = _real_server_handlers()
_URL = _url_handlers()
_CHECKERS = {k: _checker_handlers(k) for k in _CHECKER_CLASSES}
_SSL = {k: STR(k) for k in ("password", "ca", "certificate", "key")}


# ---------------------------------------------------------------------------------------------


class Builder:
    def __init__(self, diags: Diagnostics):
        self.diags = diags
        self._real_servers: RealServerMaker | None = None

    def real_servers(self) -> RealServerMaker:
        """The fast path for plain real_server blocks (the rest it hands to ``_real_server_acc``)."""
        if self._real_servers is None:
            fields = dc_fields(m.RealServer)
            defaults = tuple(f.default if f.default is not MISSING else None for f in fields)
            self._real_servers = RealServerMaker(plan_of(m.RealServer), tuple(f.name for f in fields), defaults,
                                                 parse_ip)
        return self._real_servers

    def unknown(self, n: Node) -> None:
        self.diags.warning(n.file, n.line, f"unknown keyword '{n.keyword}'")

    def fill(self, n: Node, table: dict[str, Handler], acc: dict) -> dict:
        for c in n.children or ():
            h = table.get(c.keyword)
            if h is None:
                self.unknown(c)
                continue
            # FILE_CHECK's track_file names a vrrp_track_file; elsewhere track_file is a block.
            if table is _CHECKERS["FILE_CHECK"] or self.shape(c):
                self.apply(h, c, acc)
        return acc

    def shape(self, c: Node) -> bool:
        """Check a block keyword has its block; False when the statement cannot be used."""
        if c.keyword not in BLOCK_KEYWORDS:
            return True
        if c.children is None:
            self.diags.error(c.file, c.line, f"missing '{{' at the beginning of the {c.keyword} block")
            return False
        if c.args and c.keyword in ANONYMOUS_BLOCKS:
            self.diags.warning(c.file, c.line, f"block {c.keyword} has extra parameters "
                               f"{' '.join(c.args)} - ignoring them")
        return True

    def apply(self, h: Handler, c: Node, acc: dict) -> None:
        try:
            h(self, c, acc)
        except MissingValue as exc:
            self.diags.error(c.file, c.line, str(exc))
            self.diags.missing_value = True
        except Bad as exc:
            self.diags.error(c.file, c.line, str(exc))

    def block(self, n: Node, table: dict[str, Handler], cls: type, **given: Any) -> Any:
        acc = self.fill(n, table, dict(given))
        return make(cls, acc, n)


#: Blocks that take no name: parameters before their '{' are ignored, as keepalived does.
ANONYMOUS_BLOCKS = frozenset({
    "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules", "track_interface",
    "track_script", "track_file", "track_process", "track_bfd", "unicast_peer", "authentication", "group",
    "url", "notification_email", *_CHECKER_CLASSES, "global_defs", "static_ipaddress", "static_routes",
    "static_rules", "SSL"})
#: Keywords that must open a block.
BLOCK_KEYWORDS = ANONYMOUS_BLOCKS | {"vrrp_instance", "vrrp_script", "vrrp_sync_group", "vrrp_track_file",
                                     "vrrp_track_process", "virtual_server", "virtual_server_group", "real_server"}

_FIELDS_CACHE: dict[type, tuple[frozenset[str], bool, Any]] = {}


def make(cls: type, acc: dict, n: Node) -> Any:
    """``cls`` from the accumulated ``acc`` (consumed: no caller uses it afterwards), with the
    node's place and keyword lines; keys that are not fields are left out."""
    info = _FIELDS_CACHE.get(cls)
    if info is None:
        names = frozenset(f.name for f in dc_fields(cls))
        info = _FIELDS_CACHE[cls] = (names, "keyword_lines" in names, plan_of(cls))
    names, lines, plan = info
    # Usually every key is a field (the private ones were popped) and acc itself will do.
    kw = acc if names.issuperset(acc) else {k: v for k, v in acc.items() if k in names}
    if "extra" in kw:
        kw["extra"] = tuple(kw["extra"])
    if "file" not in kw:
        kw["file"] = n.file
    if "line" not in kw:
        kw["line"] = n.line
    if lines and n.children and "keyword_lines" not in kw:
        kw["keyword_lines"] = tuple([(c.keyword, c.line) for c in n.children])
    # As cls(**kw), without binding two dozen keywords for each of 100,000 real servers.
    return plan.from_mapping(kw) if plan is not None else cls(**kw)


def _users(acc: dict) -> dict:
    u = acc.pop("_user", ())
    if u:
        acc["_user_name"], acc["_group_name"] = u[0], (u[1] if len(u) > 1 else None)
    return acc


def build(nodes: Iterable[Node], diags: Diagnostics, path: str = "", config_id: str = "") -> m.Config:
    """Turn the statements into a :class:`~lvsfast.config.model.Config`; problems go to ``diags``."""
    b = Builder(diags)
    out: dict[str, list] = {k: [] for k in ("vrrp_scripts", "vrrp_track_files", "vrrp_track_processes",
                                            "vrrp_sync_groups", "vrrp_instances", "virtual_server_groups",
                                            "virtual_servers", "extra", "static_ipaddress", "static_routes",
                                            "static_rules")}
    global_defs = m.GlobalDefs()
    global_seen = False
    instance_lines: dict[str, tuple[str, int]] = {}
    ssl = None
    for n in nodes:
        kw = n.keyword
        if kw in BLOCK_KEYWORDS and not b.shape(n):
            continue
        if kw == "global_defs":
            acc = b.fill(n, _GLOBAL, {f.name: getattr(global_defs, f.name) for f in dc_fields(global_defs)}
                         if global_seen else {})
            if global_seen:
                acc["extra"] = list(acc.get("extra", ()))
            acc.pop("file", None), acc.pop("line", None)
            global_defs = make(m.GlobalDefs, acc, n)
            global_seen = True
        elif kw in ("vrrp_script", "vrrp_track_file", "vrrp_track_process", "vrrp_sync_group", "vrrp_instance",
                    "virtual_server_group"):
            if n.children is None or not n.args:
                diags.error(n.file, n.line, f"{kw} needs a name and a {{ }} block")
                continue
            name = n.args[0]
            if kw == "vrrp_script":
                acc = _users(b.fill(n, _SCRIPT, {"name": name}))
                if "_user_name" in acc and acc.get("script"):
                    s = acc["script"]
                    acc["script"] = m.Script(s.command, acc["_user_name"], acc["_group_name"], s.file, s.line)
                if not acc.get("script"):
                    diags.warning(n.file, n.end_line or n.line,
                                  f"no script set for vrrp_script {name} (line {n.line}) - removing")
                    continue
                out["vrrp_scripts"].append(make(m.VrrpScript, acc, n))
            elif kw == "vrrp_track_file":
                out["vrrp_track_files"].append(b.block(n, _TRACK_FILE, m.VrrpTrackFile, name=name))
            elif kw == "vrrp_track_process":
                out["vrrp_track_processes"].append(b.block(n, _TRACK_PROCESS, m.VrrpTrackProcess, name=name))
            elif kw == "vrrp_sync_group":
                out["vrrp_sync_groups"].append(b.block(n, _SYNC_GROUP, m.VrrpSyncGroup, name=name))
            elif kw == "vrrp_instance":
                first = instance_lines.get(name)
                if first is not None:
                    # keepalived ignores the whole second block, so nothing in it is checked.
                    diags.error(n.file, n.line, f"vrrp instance {name} already defined at {first[0]}:{first[1]} "
                                "- ignoring this one")
                    continue
                instance_lines[name] = (n.file, n.line)
                out["vrrp_instances"].append(b.block(n, _INSTANCE, m.VrrpInstance, name=name))
            else:
                out["virtual_server_groups"].append(_vsg(b, n, name))
        elif kw == "virtual_server":
            vs = _virtual_server(b, n)
            if vs is not None:
                out["virtual_servers"].append(vs)
        elif kw == "SSL":
            ssl = b.block(n, _SSL, m.SslConfig)
        elif kw == "static_ipaddress":
            acc: dict = {}
            _address_list(b, n, acc)
            out["static_ipaddress"].extend(acc.get(kw, ()))
        elif kw == "static_routes":
            acc = {}
            _route_list(b, n, acc)
            out["static_routes"].extend(acc.get(kw, ()))
        elif kw == "static_rules":
            acc = {}
            _rule_list(b, n, acc)
            out["static_rules"].extend(acc.get(kw, ()))
        elif kw in _TOP_LOOSE or kw in _GLOBAL:
            # keepalived accepts a few global keywords at the top level (net_namespace, ...).
            out["extra"].append((kw, n.args))
        else:
            b.unknown(n)
    cfg = m.Config(path=path, config_id=config_id, global_defs=global_defs, ssl=ssl,
                   **{k: tuple(v) for k, v in out.items()})
    return cfg


def _vsg(b: Builder, n: Node, name: str) -> m.VirtualServerGroup:
    entries = []
    for c in n.children or ():
        try:
            if c.keyword == "fwmark":
                mark = parse_int(_one(c), 1, 2**32 - 1)
                fam = 6 if "inet6" in c.args[1:] else 4
                entries.append(m.VsgEntry(fwmark=mark, family=fam, file=c.file, line=c.line))
                continue
            text = c.keyword
            last = None
            if "/" in text:
                a, plen, fam = parse_prefix(text)
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
                if ipaddress.ip_address(last) < ipaddress.ip_address(first):
                    raise Bad(f"address range {text} ends before it starts")
            else:
                first, fam = parse_ip(text)
            port = parse_port(c.args[0]) if c.args else None
            entries.append(m.VsgEntry(first, last if last != first else None, port, None, fam, c.file, c.line))
        except Bad as exc:
            b.diags.error(c.file, c.line, f"virtual_server_group {name}: {exc}")
    return m.VirtualServerGroup(name, tuple(entries), n.file, n.line)


def _virtual_server(b: Builder, n: Node) -> m.VirtualServer | None:
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
        if k.keyword in _CHECKER_CLASSES:
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
            ck = _checker(b, k, acc, vs)
            if ck is not None:
                checkers.append(ck)
        acc["checkers"] = tuple(checkers)
    if acc.get("port") is None:
        acc["port"] = port
    return make(m.RealServer, acc, c)


def _checker(b: Builder, n: Node, rs: dict, vs: dict) -> m.AnyChecker | None:
    kind = n.keyword
    cls = _CHECKER_CLASSES[kind]
    if kind == "ICMP_CHECK":
        kind = "PING_CHECK"
    acc = b.fill(n, _CHECKERS[n.keyword], {"kind": kind})
    if n.children is None and n.args:
        b.diags.warning(n.file, n.line, f"{kind} expects a {{ }} block")
    _users(acc)
    if kind == "MISC_CHECK":
        p = acc.get("misc_path")
        if p is None:
            b.diags.error(n.file, n.end_line or n.line, f"MISC_CHECK (line {n.line}) has no misc_path - removing it")
            return None
        if "_user_name" in acc:
            acc["misc_path"] = m.Script(p.command, acc["_user_name"], acc["_group_name"], p.file, p.line)
    if kind in ("HTTP_GET", "SSL_GET") and not acc.get("urls"):
        b.diags.error(n.file, n.end_line or n.line, f"{kind} (line {n.line}) has no url with a path - removing it")
        return None
    if kind == "FILE_CHECK" and not acc.get("track_file"):
        b.diags.error(n.file, n.end_line or n.line, f"FILE_CHECK (line {n.line}) has no track_file - removing it")
        return None

    def pick(key: str) -> Any:
        for src in (acc, rs, vs):
            if src.get(key) is not None:
                return src[key]
        return None

    delay_loop = pick("delay_loop") or 60.0
    acc["delay_loop"] = delay_loop
    acc["connect_timeout"] = pick("connect_timeout") or 5.0
    retry = pick("retry")
    acc["retry"] = retry if retry is not None else {"DNS_CHECK": 3, "MISC_CHECK": 0}.get(kind, 1)
    dbr = pick("delay_before_retry")
    if dbr is None:
        dbr = {"HTTP_GET": 3.0, "SSL_GET": 3.0, "DNS_CHECK": delay_loop}.get(kind, 1.0)
    acc["delay_before_retry"] = dbr
    warm = pick("warmup")
    acc["warmup"] = delay_loop if warm is None else warm
    alpha = pick("alpha")
    acc["alpha"] = bool(alpha)
    if kind not in ("FILE_CHECK", "BFD_CHECK"):
        acc.setdefault("connect_ip", rs.get("address"))
        _check_bind_family(b, n, acc)
        if acc.get("connect_port") is None:
            acc["connect_port"] = rs.get("port") if rs.get("port") is not None else vs.get("port")
    if kind in ("HTTP_GET", "SSL_GET") and acc.get("virtualhost") is None:
        acc["virtualhost"] = rs.get("virtualhost") or vs.get("virtualhost")
    if kind == "UDP_CHECK":
        lo, hi = acc.get("min_reply_length", 0), acc.get("max_reply_length", 255)
        if lo > hi:
            b.diags.error(n.file, n.line, f"UDP_CHECK min_reply_length {lo} exceeds max_reply_length {hi}")
    return make(cls, acc, n)
