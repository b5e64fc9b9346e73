"""One instance's values under keepalived 2.2.7's names, for the dump files a keepalived exporter reads.

The parent renders them (``daemon/keepalived_dump.py``); here they are only gathered, with
keepalived's types: C ints where keepalived writes ints, booleans where it writes booleans,
whole seconds where it divides its timers by TIMER_HZ. A value lvsfast does not keep is
keepalived's "not in use" value (0, "", false).
"""
from __future__ import annotations

import os
import shlex
from typing import Any

from lvsfast.vrrp.machine import State

# keepalived's numeric states (vrrp.h): INIT 0, BACKUP 1, MASTER 2, FAULT 3.
STATE_CODES = {State.INIT: 0, State.BACKUP: 1, State.MASTER: 2, State.FAULT: 3}

# Notify scripts under keepalived's JSON names, in its order.
SCRIPT_KEYS = {"backup": "script_backup", "master": "script_master", "fault": "script_fault", "stop": "script_stop",
               "notify": "script", "rx_lower_pri": "script_master_rx_lower_pri"}

# keepalived counts receive errors per instance; lvsfast per link. A link with one instance
# gives that instance its link's counts; a shared link's counts cannot be split, so 0.
_LINK_ERRORS = {
    "packet_len_err": ("length_mismatch", "too_short"),
    "advert_interval_err": ("interval_mismatch",),
    "ip_ttl_err": ("bad_ttl",),
    "invalid_type_rcvd": ("unknown_type",),
    "addr_list_err": ("address_list_mismatch",),
    "invalid_authtype": (),
    "authtype_mismatch": (),
    "auth_failure": ("auth_failure",),
}


def command_line(command: str) -> str:
    """A script as keepalived shows it: the program's real path, each word in single quotes."""
    words = shlex.split(command)
    if words and words[0].startswith("/"):
        words[0] = os.path.realpath(words[0])
    return " ".join(f"'{w}'" for w in words)


def seconds(cs: int) -> int | float:
    """An interval in centiseconds as keepalived's JSON writes it: ``1`` or ``0.5``."""
    return cs // 100 if cs % 100 == 0 else cs / 100


def address_line(v: Any, default_dev: str, installed: bool) -> str:
    """A VIP as keepalived's dumps print it: ``10.0.0.1/24 dev eth0 scope global label eth0:1 set``
    (the prefix only when it is not a host address)."""
    host = 32 if ":" not in v.address else 128
    out = v.address if v.prefix == host else f"{v.address}/{v.prefix}"
    if v.brd:
        out += f" brd {v.brd}"
    out += f" dev {v.dev or default_dev} scope {v.scope or 'global'}"
    if v.label:
        out += f" label {v.label}"
    if v.peer:
        out += f" peer {v.peer}"
    return out + (" set" if installed else "")


def keepalived_fields(inst: Any) -> dict[str, Any]:
    """``{"data": ..., "stats": ...}`` of one runner Instance, in keepalived's key order."""
    s, m, g = inst.spec, inst.machine, inst.spec.garp
    p = s.params
    state = STATE_CODES.get(m.state, 0)
    vipset = m.state is State.MASTER or m.holding
    dev = s.vmac or s.interface
    data: dict[str, Any] = {
        "iname": s.name,
        "dont_track_primary": int(not s.track_primary),
        "skip_check_adv_addr": 0,
        "strict_mode": int(s.strict),
        "vmac_ifname": s.vmac,
        "ifp_ifname": s.interface,
        "master_priority": inst.master_priority if m.state is not State.MASTER else 0,
        "last_transition": round(inst.last_transition, 6),
        "garp_delay": int(g.master_delay),
        "garp_refresh": int(g.master_refresh),
        "garp_rep": g.master_repeat,
        "garp_refresh_rep": g.master_refresh_repeat,
        "garp_lower_prio_delay": int(g.master_delay if g.lower_prio_delay is None else g.lower_prio_delay),
        "garp_lower_prio_rep": g.master_repeat if g.lower_prio_repeat is None else g.lower_prio_repeat,
        "lower_prio_no_advert": int(p.lower_prio_no_advert),
        "higher_prio_send_advert": int(p.higher_prio_send_advert),
        "vrid": p.vrid,
        "base_priority": inst.base_priority,
        "effective_priority": m.priority,
        "vipset": vipset,
        "promote_secondaries": bool(s.promote_secondaries),
        "adver_int": seconds(p.adver_int_cs),
        "master_adver_int": seconds(m.master_adver_cs),
        "accept": int(s.accept),
        "nopreempt": not p.preempt,
        "preempt_delay": int(p.preempt_delay),
        "state": state,
        "wantstate": state,
        "version": p.version,
        "smtp_alert": False,
        "notify_deleted": False,
    }
    scripts = dict(s.notify)
    for kind, key in SCRIPT_KEYS.items():  # present only when configured, as keepalived's
        if kind in scripts:
            data[key] = command_line(scripts[kind].command)
    data["vips"] = [address_line(v, dev, vipset) for v in s.vips]
    if s.excluded:
        data["evips"] = [address_line(v, dev, vipset) for v in s.excluded]
    data["auth_type"] = s.auth_type
    if s.auth_type:
        data["auth_data"] = s.auth_pass.rstrip(b"\0").decode(errors="replace")
    link = inst.link
    shared = link is None or len(getattr(link, "instances", {})) != 1
    counts = {} if shared else link.receiver.counters()
    stats: dict[str, Any] = {
        "advert_rcvd": inst.received,
        "advert_sent": inst.sent,
        "become_master": inst.become_master,
        "release_master": inst.release_master,
    }
    for key, names in _LINK_ERRORS.items():
        stats[key] = sum(counts.get(n, 0) for n in names)
    stats["pri_zero_rcvd"] = inst.pri_zero_rcvd
    stats["pri_zero_sent"] = inst.pri_zero_sent
    # The .data file's extra lines (its "Master router", "Using src_ip", "Multicast address").
    extra = {"src_ip": s.src, "mcast": s.dst, "peers": list(s.peers),
             "down_timer_adverts": p.down_timer_adverts,
             # Each tracked object's last verdict and value ("script/chk"), for the SNMP tables.
             "track": {f"{k}/{n}": ok for (k, n), ok in inst.track_state.items()},
             "track_values": {f"{k}/{n}": v for (k, n), v in inst.track_values.items()}}
    return {"data": data, "stats": stats, "text": extra}
