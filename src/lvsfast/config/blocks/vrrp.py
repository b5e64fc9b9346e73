"""VRRP blocks: vrrp_instance, vrrp_script and vrrp_sync_group."""
from __future__ import annotations

from lvsfast.config import model as m
from lvsfast.config.blocks.addresses import address_list, route_list, rule_list
from lvsfast.config.blocks.builder import (BOOL, CONST, FLOAT, INT, IP, OPT_STR, SCRIPT, STR, USER, WEIGHT, WORDS,
                                          Builder, Handler, fail, make, one, take_user)
from lvsfast.config.blocks.tracking import tracking_handlers
from lvsfast.config.node import Node
from lvsfast.config.values import Bad, parse_int, parse_ip, parse_prefix


def _unicast_peers(b: Builder, n: Node, acc: dict) -> None:
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


def _authentication(b: Builder, n: Node, acc: dict) -> None:
    auth_type = None
    auth_pass = ""
    for c in n.children or ():
        if c.keyword == "auth_type":
            v = one(c).upper()
            if v not in ("PASS", "AH"):
                b.diags.error(c.file, c.line, f"unknown authentication type '{one(c)}' (PASS|AH)")
                continue
            auth_type = v
        elif c.keyword == "auth_pass":
            auth_pass = one(c)
            if len(auth_pass) > 8:
                b.diags.warning(c.file, c.line, "auth_pass longer than 8 characters: only the first 8 are used")
            auth_pass = auth_pass[:8]
        else:
            b.unknown(c)
    if auth_type is None:
        return  # keepalived silently runs without authentication
    acc["authentication"] = m.Authentication(auth_type, auth_pass)  # type: ignore[arg-type]


def _state(b: Builder, n: Node, acc: dict) -> None:
    v = one(n).upper()
    if v not in ("MASTER", "BACKUP"):
        raise Bad(f"unknown state '{one(n)}' (MASTER|BACKUP)")
    acc["state"] = v


_HEX = frozenset("0123456789abcdefABCDEF")


def _mac(text: str) -> bool:
    """``([0-9a-fA-F]{1,2}:){4,5}[0-9a-fA-F]{1,2}`` in full, without ``re`` (-t's start-up)."""
    parts = text.split(":")
    return 5 <= len(parts) <= 6 and all(0 < len(p) <= 2 and _HEX.issuperset(p) for p in parts)


def _use_ipvlan(b: Builder, n: Node, acc: dict) -> None:
    """keepalived 2.2.7's reading: a mode word, an address (with or without a prefix length),
    else the interface's name; a second one of a kind is refused."""
    if "use_ipvlan" in acc:
        b.diags.warning(n.file, n.line, f"({acc.get('name')}) use_ipvlan already specified")
        return
    kw: dict = {}
    for a in n.args:
        if a in ("bridge", "private", "vepa"):
            if "mode" in kw:
                b.diags.warning(n.file, n.line, f"({acc.get('name')}) ipvlan type already specified - ignoring '{a}'")
            else:
                kw["mode"] = a
            continue
        try:
            addr, plen, fam = parse_prefix(a)
        except Bad:
            addr = None
        if addr is not None:
            if "address" in kw:
                b.diags.warning(n.file, n.line, f"({acc.get('name')}) ipvlan address already specified - ignoring '{a}'")
            else:
                kw.update(address=addr, prefix=plen, family=fam)
        elif "name" in kw:
            b.diags.warning(n.file, n.line, f"({acc.get('name')}) IPVLAN interface already specified - ignoring '{a}'")
        elif len(a) >= 16:
            b.diags.warning(n.file, n.line, f"({acc.get('name')}) IPVLAN interface name '{a}' too long - ignoring")
        else:
            kw["name"] = a
    acc["use_ipvlan"] = m.Ipvlan(**kw)


def _use_vmac(b: Builder, n: Node, acc: dict) -> None:
    name = mac = None
    for a in n.args:
        if _mac(a):
            mac = a.lower()
        else:
            name = a
    acc["use_vmac"] = m.Vmac(name, mac)


def _preempt(b: Builder, n: Node, acc: dict) -> None:
    acc["nopreempt"] = False


def _version(b: Builder, n: Node, acc: dict) -> None:
    acc["version"] = parse_int(one(n), 2, 3)


def _lvs_sync_iface(b: Builder, n: Node, acc: dict) -> None:
    acc["lvs_sync_daemon_interface"] = one(n)
    b.diags.warning(n.file, n.line, "specifying lvs_sync_daemon_interface against a vrrp_instance is deprecated; "
                    "use global_defs' lvs_sync_daemon")


def _instance_handlers() -> dict[str, Handler]:
    h: dict[str, Handler] = {
        "state": _state,
        "interface": STR("interface"),
        "vrf": STR("vrf"),
        "virtual_router_id": INT("virtual_router_id", 1, 255),
        "priority": INT("priority", 1, 255),
        "advert_int": FLOAT("advert_int", 0.01, 255),
        "version": _version,
        "authentication": _authentication,
        "virtual_ipaddress": address_list,
        "virtual_ipaddress_excluded": address_list,
        "virtual_routes": route_list,
        "virtual_rules": rule_list,
        "mcast_src_ip": IP("mcast_src_ip"),
        "unicast_src_ip": IP("unicast_src_ip"),
        "mcast_dst_ip": IP("mcast_dst_ip"),
        "unicast_peer": _unicast_peers,
        "unicast_fault_no_peer": CONST("unicast_fault_no_peer", True),
        "unicast_ttl": INT("unicast_ttl", 0, 255),
        "check_unicast_src": BOOL("check_unicast_src"),
        "track_src_ip": CONST("track_src_ip", True),
        "old_unicast_checksum": OPT_STR("old_unicast_checksum"),
        **tracking_handlers(),
        "bfd_master_down": STR("bfd_master_down"),
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
        "use_ipvlan": _use_ipvlan,
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
    for k in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify", "notify_master_rx_lower_pri"):
        h[k] = SCRIPT(k)
    h["notify_deleted"] = _notify_deleted
    return h


def _notify_deleted(b: Builder, n: Node, acc: dict) -> None:
    # The script is optional: a bare notify_deleted only turns the FAULT of a deleted instance into DELETED.
    if n.args:
        SCRIPT("notify_deleted")(b, n, acc)
    elif acc.get("notify_deleted") is None:
        acc["notify_deleted"] = m.Script("", file=n.file, line=n.line)


def _script_handlers() -> dict[str, Handler]:
    return {
        "script": lambda b, n, acc: acc.__setitem__("script", m.Script(" ".join(n.args), file=n.file, line=n.line)
                                                    if n.args else fail(f"'{n.keyword}' needs a script")),
        "interval": FLOAT("interval", 0.000001, 2**31),
        "timeout": FLOAT("timeout", 0.000001, 2**31),
        "weight": WEIGHT(-253, 253),
        "rise": INT("rise", 1, 2**31 - 1),
        "fall": INT("fall", 1, 2**31 - 1),
        "user": USER,
        "init_fail": CONST("init_fail", True),
    }


def _sync_group_handlers() -> dict[str, Handler]:
    def group(b: Builder, n: Node, acc: dict) -> None:
        names = list(acc.get("group", ()))
        for c in n.children or ():
            names.append(c.keyword)
            names.extend(c.args)
        names.extend(n.args)
        acc["group"] = tuple(names)
    h: dict[str, Handler] = {
        "group": group,
        **tracking_handlers(),
        "notify_priority_changes": BOOL("notify_priority_changes"),
        "smtp_alert": BOOL("smtp_alert"),
        "global_tracking": CONST("global_tracking", True),
        "sync_group_tracking_weight": CONST("sync_group_tracking_weight", True),
    }
    for k in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify", "notify_deleted"):
        h[k] = SCRIPT(k)
    return h


INSTANCE = _instance_handlers()
_SCRIPT = _script_handlers()
SYNC_GROUP = _sync_group_handlers()


def vrrp_script(b: Builder, n: Node, name: str) -> m.VrrpScript | None:
    """A vrrp_script block; None (with a warning) when it has no script, as keepalived drops it."""
    acc = take_user(b.fill(n, _SCRIPT, {"name": name}))
    if "_user_name" in acc and acc.get("script"):
        s = acc["script"]
        acc["script"] = m.Script(s.command, acc["_user_name"], acc["_group_name"], s.file, s.line)
    if not acc.get("script"):
        b.diags.warning(n.file, n.end_line or n.line,
                        f"no script set for vrrp_script {name} (line {n.line}) - removing")
        return None
    return make(m.VrrpScript, acc, n)
