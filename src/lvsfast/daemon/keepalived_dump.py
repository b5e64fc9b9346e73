"""keepalived 2.2.7's dump files, rendered from the VRRP child's status (sans-IO).

A monitoring exporter built for keepalived sends the JSON signal and reads keepalived.json, or
USR1/USR2 and reads keepalived.data/keepalived.stats; these functions give it keepalived's keys,
nesting, value types and line layout for the VRRP part. Each takes the VRRP child's ``status``
answer (``{"instances": {name: {..., "keepalived": {"data", "stats", "text"}}}}``); the parent
imports this module only when a dump signal arrives.
"""
from __future__ import annotations

import json
import time
from typing import Any

STATE_NAMES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT"}
_TRUE, _FALSE = {"true", "on", "yes"}, {"false", "off", "no"}


def use_instance(config: Any) -> bool:
    """global_defs' ``data_use_instance [true|false]`` (bare: true; keepalived ignores a bad value)."""
    g = getattr(config, "global_defs", None)
    on = False
    for keyword, args in (g.extra if g is not None else ()):
        if keyword == "data_use_instance":
            word = args[0].lower() if args else "true"
            on = True if word in _TRUE else False if word in _FALSE else on
    return on


def dump_path(options: Any, config: Any, dump_dir: str, kind: str) -> str:
    """Where keepalived writes ``kind`` (data, stats, json, check_data): its temporary directory,
    with ``.NS_INSTANCE`` before the extension under ``data_use_instance``."""
    from lvsfast.paths import DaemonPaths

    where = DaemonPaths(dump_dir=dump_dir, namespace=getattr(options, "namespace", None),
                        instance=getattr(options, "instance", None))
    return where.dump_file(kind, use_instance(config))
AUTH_NAMES = {0: "none", 1: "SIMPLE_PASSWORD", 2: "IPSEC_AH"}


def _instances(vrrp_status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    insts = (vrrp_status or {}).get("instances") or {}
    return [(n, i) for n, i in insts.items() if isinstance(i, dict) and "keepalived" in i]


def render_json(vrrp_status: dict[str, Any]) -> str:
    """keepalived.json: a list of ``{"data": {...}, "stats": {...}}``, one per instance, written as
    keepalived writes it (compact, ``/`` escaped as ``\\/``)."""
    out = [{"data": i["keepalived"]["data"], "stats": i["keepalived"]["stats"]} for _, i in _instances(vrrp_status)]
    if not out:
        return ""  # keepalived writes no keepalived.json without a VRRP instance
    return json.dumps(out, separators=(",", ":")).replace("/", "\\/") + "\n"


def _when(t: float) -> str:
    frac = f"{t:.6f}".split(".")[1]
    return f"{t:.6f} ({time.strftime('%a %b %e %H:%M:%S', time.localtime(t))}.{frac} {time.localtime(t).tm_year})"


def _interval(seconds: float) -> str:
    return f"{seconds} sec" if isinstance(seconds, int) else f"{round(seconds * 1000)} milli-sec"


def _yes(flag: Any, yes: str = "enabled", no: str = "disabled") -> str:
    return yes if flag else no


def render_data(vrrp_status: dict[str, Any]) -> str:
    """keepalived.data's VRRP Topology section (global definitions and interfaces are the
    parent's and the kernel's business; an exporter reads the instance lines)."""
    lines = ["------< VRRP Topology >------"]
    for name, inst in _instances(vrrp_status):
        d, t = inst["keepalived"]["data"], inst["keepalived"]["text"]
        state = STATE_NAMES.get(d["state"], "INIT")
        lines += [f" VRRP Instance = {name}", f"   VRRP Version = {d['version']}", f"   State = {state}"]
        if state == "BACKUP" and inst.get("master"):
            lines += [f"   Master router = {inst['master']}", f"   Master priority = {d['master_priority']}"]
        lines += ["   Flags: none", f"   Wantstate = {STATE_NAMES.get(d['wantstate'], 'INIT')}",
                  f"   Last transition = {_when(d['last_transition'])}",
                  f"   Interface = {d['ifp_ifname']}"]
        if d["vmac_ifname"]:
            lines.append(f"   Use VMAC, i/f {d['vmac_ifname']}")
        lines.append(f"   Using src_ip = {t['src_ip']}")
        if t["peers"]:
            lines.append("   Unicast Peer :")
            lines += [f"     {p}" for p in t["peers"]]
        elif t["mcast"]:
            lines.append(f"   Multicast address {t['mcast']}")
        lines += [
            f"   Gratuitous ARP delay = {d['garp_delay']}",
            f"   Gratuitous ARP repeat = {d['garp_rep']}",
            f"   Gratuitous ARP refresh = {d['garp_refresh']}",
            f"   Gratuitous ARP refresh repeat = {d['garp_refresh_rep']}",
            f"   Gratuitous ARP lower priority delay = {d['garp_lower_prio_delay']}",
            f"   Gratuitous ARP lower priority repeat = {d['garp_lower_prio_rep']}",
            f"   Down timer adverts = {t['down_timer_adverts']}",
            f"   Send advert after receive lower priority advert = {_yes(not d['lower_prio_no_advert'], 'true', 'false')}",
            f"   Send advert after receive higher priority advert = "
            f"{_yes(d['higher_prio_send_advert'], 'true', 'false')}",
            f"   Virtual Router ID = {d['vrid']}",
            f"   Priority = {d['base_priority']}",
            f"   Effective priority = {d['effective_priority']}",
            f"   Total priority = {d['effective_priority']}",
            f"   Advert interval = {_interval(d['adver_int'])}",
            f"   Accept = {_yes(d['accept'])}",
            f"   Preempt = {_yes(not d['nopreempt'])}",
        ]
        if d["preempt_delay"]:
            lines.append(f"   Preempt delay = {d['preempt_delay']} secs")
        lines += [f"   Promote_secondaries = {_yes(d['promote_secondaries'])}",
                  f"   Authentication type = {AUTH_NAMES.get(d['auth_type'], 'none')}"]
        if d["auth_type"] == 1:
            lines.append(f"   Password = {d.get('auth_data', '')}")
        lines.append(f"   Virtual IP ({len(d['vips'])}):")
        lines += [f"     {v}" for v in d["vips"]]
        if d.get("evips"):
            lines.append("   Virtual IP Excluded :")
            lines += [f"     {v}" for v in d["evips"]]
        lines += [f"   Using smtp notification = {_yes(d['smtp_alert'], 'yes', 'no')}",
                  f"   Notify deleted = {'Deleted' if d['notify_deleted'] else 'Fault'}"]
    return "\n".join(lines) + "\n"


def render_stats(vrrp_status: dict[str, Any]) -> str:
    """keepalived.stats: one block of counters per instance, in keepalived's layout."""
    lines: list[str] = []
    for name, inst in _instances(vrrp_status):
        s = inst["keepalived"]["stats"]
        lines += [
            f"VRRP Instance: {name}",
            "  Advertisements:",
            f"    Received: {s['advert_rcvd']}",
            f"    Sent: {s['advert_sent']}",
            f"  Became master: {s['become_master']}",
            f"  Released master: {s['release_master']}",
            "  Packet Errors:",
            f"    Length: {s['packet_len_err']}",
            f"    TTL: {s['ip_ttl_err']}",
            f"    Invalid Type: {s['invalid_type_rcvd']}",
            f"    Advertisement Interval: {s['advert_interval_err']}",
            f"    Address List: {s['addr_list_err']}",
            "  Authentication Errors:",
            f"    Invalid Type: {s['invalid_authtype']}",
            f"    Type Mismatch: {s['authtype_mismatch']}",
            f"    Failure: {s['auth_failure']}",
            "  Priority Zero:",
            f"    Received: {s['pri_zero_rcvd']}",
            f"    Sent: {s['pri_zero_sent']}",
        ]
    return "\n".join(lines) + ("\n" if lines else "")


RENDERERS = {"json": render_json, "data": render_data, "stats": render_stats}
