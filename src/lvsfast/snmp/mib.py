"""KEEPALIVED-MIB's global scalars and VRRP tables, with keepalived 2.2.7's values and its
choice of which cells exist (a script not configured is no cell, not an empty string).

Sans-IO: :func:`rows` takes a :class:`Snapshot` (the parent's configuration model, the VRRP
child's status answer and the interfaces' index and MAC) and returns the rows.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from lvsfast.config.model.common import Script
from lvsfast.config.track_rules import instance_tracks, tracking_weight
from lvsfast.snmp.agentx import OID, VarBind
from lvsfast.snmp.view import gauge, integer, packed, string, truth

KEEPALIVED: OID = (1, 3, 6, 1, 4, 1, 9586, 100, 5)
GLOBAL, VRRP, CHECK = KEEPALIVED + (1,), KEEPALIVED + (2,), KEEPALIVED + (3,)
ROUTER_ID: OID = GLOBAL + (2, 0)
SYNC_GROUP_ENTRY, INSTANCE_ENTRY = VRRP + (1, 1), VRRP + (3, 1)
SCOPES = {"global": 14, "host": 1, "link": 2, "site": 5, "nowhere": 0}
STATES = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3}
# keepalived's instance/sync group script columns, by notify keyword.
INSTANCE_SCRIPTS = {"notify_master": 22, "notify_backup": 23, "notify_fault": 24, "notify_stop": 25, "notify": 26,
                    "notify_master_rx_lower_pri": 31}
GROUP_SCRIPTS = {"notify_master": 6, "notify_backup": 7, "notify_fault": 8, "notify": 9, "notify_stop": 11}


@dataclass(frozen=True)
class Snapshot:
    config: Any
    vrrp: dict[str, Any]
    links: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # ifname -> (ifindex, MAC)
    router_id: str = ""
    version: str = ""
    traps: bool = False
    started: float = 0.0  # time.monotonic() at the agent's start: TimeTicks count from it
    checker: dict[str, Any] = field(default_factory=dict)

    def instance(self, name: str) -> dict[str, Any] | None:
        inst = (self.vrrp.get("instances") or {}).get(name)
        return inst if isinstance(inst, dict) and "keepalived" in inst else None

    def link(self, ifname: str) -> tuple[int, bytes]:
        return self.links.get(ifname, (0, b"\0" * 6))

    def uptime(self, since: float | None = None) -> int:
        """Centiseconds from the agent's start (or from ``since``, a wall-clock time) to now."""
        if since:
            return max(0, int((time.time() - since) * 100))
        return max(0, int((time.monotonic() - self.started) * 100))


def link_facts(names: set[str]) -> dict[str, tuple[int, bytes]]:
    """Index and MAC of each interface (this process runs in the daemon's namespace)."""
    out = {}
    for name in names:
        try:
            index = socket.if_nametoindex(name)
            with open(f"/sys/class/net/{name}/address") as f:
                mac = bytes.fromhex(f.read().strip().replace(":", ""))
        except OSError:
            continue
        out[name] = (index, mac)
    return out


def script_text(script: Script | str) -> str:
    from lvsfast.vrrp.dump_fields import command_line

    return command_line(script.command if isinstance(script, Script) else str(script))


def _tristate(flag: bool | None) -> int:
    return 3 if flag is None else truth(flag)


def global_rows(s: Snapshot) -> Iterator[VarBind]:
    g = s.config.global_defs
    yield string(GLOBAL + (1, 0), s.version)
    yield string(ROUTER_ID, s.router_id)
    mail = GLOBAL + (3,)
    server = g.smtp_server
    try:
        addr = packed(server) if server else b"\0\0\0\0"
    except ValueError:  # a name: keepalived resolves it at start; the address is not kept here
        addr = b"\0\0\0\0"
    yield integer(mail + (1, 0), 1 if len(addr) == 4 and server else 2)
    yield string(mail + (2, 0), addr)
    yield gauge(mail + (3, 0), int(g.smtp_connect_timeout) if server else 0)
    if g.notification_email_from:
        yield string(mail + (4, 0), g.notification_email_from)
    for i, address in enumerate(g.notification_email, 1):
        yield string(mail + (5, 1, 2, i), address)
    yield gauge(mail + (6, 0), g.smtp_server_port if server else 0)
    yield integer(mail + (7, 0), truth(not g.no_email_faults))
    yield integer(mail + (8, 0), _tristate(g.smtp_alert))
    yield integer(mail + (9, 0), _tristate(g.smtp_alert_vrrp))
    yield integer(mail + (10, 0), _tristate(g.smtp_alert_checker))
    yield integer(GLOBAL + (4, 0), truth(s.traps))
    polling = any(k == "linkbeat_use_polling" for k, _ in g.extra) or any(
        k == "linkbeat_use_polling" for k, _ in getattr(s.config, "extra", ()))
    yield integer(GLOBAL + (5, 0), 2 if polling else 1)
    yield integer(GLOBAL + (6, 0), truth(g.lvs_flush))
    yield integer(GLOBAL + (7, 0), 1)
    yield string(GLOBAL + (8, 0), g.net_namespace or "")
    yield integer(GLOBAL + (9, 0), 2)  # no D-Bus interface
    yield integer(GLOBAL + (10, 0), truth(g.dynamic_interfaces))
    flush = {"RS": 1, "VS": 3}.get(g.lvs_flush_on_stop or "", 2)
    yield integer(GLOBAL + (11, 0), flush)


def group_state(s: Snapshot, members: tuple[str, ...]) -> int:
    """A sync group's state from its members': all the same is that state, a FAULT is FAULT."""
    states = [(s.instance(m) or {}).get("state", "INIT") for m in members]
    if states and all(x == states[0] for x in states):
        return STATES.get(states[0], 0)
    if "FAULT" in states:
        return 3
    return 1 if "BACKUP" in states else 0


def _alert(instance_or_group: Any, g: Any) -> bool:
    for v in (instance_or_group.smtp_alert, g.smtp_alert_vrrp, g.smtp_alert):
        if v is not None:
            return bool(v)
    return False


def _has_notify(obj: Any, keys: Any) -> bool:
    return any(getattr(obj, k, None) is not None for k in keys)


def vrrp_rows(s: Snapshot) -> Iterator[VarBind]:
    cfg, g = s.config, s.config.global_defs
    names = [i.name for i in cfg.vrrp_instances]
    index = {n: i for i, n in enumerate(names, 1)}
    group_of: dict[str, str] = {}
    for gi, grp in enumerate(cfg.vrrp_sync_groups, 1):
        e = SYNC_GROUP_ENTRY
        yield string(e + (2, gi), grp.name)
        yield integer(e + (3, gi), group_state(s, grp.group))
        yield integer(e + (4, gi), truth(_alert(grp, g)))
        yield integer(e + (5, gi), truth(_has_notify(grp, (*GROUP_SCRIPTS, "notify_deleted"))))
        for key, col in GROUP_SCRIPTS.items():
            if getattr(grp, key, None) is not None:
                yield string(e + (col, gi), script_text(getattr(grp, key)))
        yield integer(e + (10, gi), truth(tracking_weight(grp)))
        for mi, member in enumerate(grp.group, 1):
            group_of[member] = grp.name
            yield string(VRRP + (2, 1, 2, gi, mi), member)
    # static_ipaddress: keepalived lists them first, under instance index 0, set, not advertised.
    statics = [(v, False) for v in getattr(cfg, "static_ipaddress", ())]
    yield from _address_rows(s, 0, statics, default_dev="", installed=True)
    for inst in cfg.vrrp_instances:
        st = s.instance(inst.name)
        if st is None:
            continue
        yield from _instance(s, inst, index[inst.name], st, group_of.get(inst.name), g)
        yield from _addresses(s, inst, index[inst.name], st)


def _instance(s: Snapshot, inst: Any, i: int, st: dict[str, Any], group: str | None, g: Any) -> Iterator[VarBind]:
    d = st["keepalived"]["data"]
    e = INSTANCE_ENTRY
    v3 = d["version"] == 3
    yield string(e + (2, i), inst.name)
    yield gauge(e + (3, i), d["vrid"])
    yield integer(e + (4, i), d["state"])
    yield integer(e + (5, i), 2 if inst.state == "MASTER" else 1)
    yield integer(e + (6, i), d["wantstate"])
    yield integer(e + (7, i), d["base_priority"])
    yield integer(e + (8, i), d["effective_priority"])
    yield integer(e + (9, i), truth(d["vipset"]))
    yield string(e + (10, i), d["ifp_ifname"])
    yield integer(e + (11, i), truth(inst.track_interface))
    cs = round(float(d["adver_int"]) * 100)
    yield gauge(e + (12, i), cs if v3 else cs // 100)
    yield integer(e + (13, i), truth(not d["nopreempt"]))
    yield gauge(e + (14, i), 0 if d["nopreempt"] else d["preempt_delay"])  # keepalived drops it with nopreempt
    yield integer(e + (15, i), 0 if v3 else d["auth_type"])
    syncd = g.lvs_sync_daemon
    mine = syncd is not None and syncd.vrrp_instance == inst.name
    yield integer(e + (16, i), truth(mine))
    if mine:
        yield string(e + (17, i), syncd.interface)
    if group:
        yield string(e + (18, i), group)
    yield gauge(e + (19, i), d["garp_delay"])
    yield integer(e + (20, i), truth(_alert(inst, g)))
    yield integer(e + (21, i), truth(_has_notify(inst, (*INSTANCE_SCRIPTS, "notify_deleted"))))
    for key, col in INSTANCE_SCRIPTS.items():
        if getattr(inst, key, None) is not None:
            yield string(e + (col, i), script_text(getattr(inst, key)))
    yield integer(e + (27, i), truth(d["accept"]) if v3 else 0)
    yield integer(e + (28, i), truth(d["promote_secondaries"]))
    yield integer(e + (29, i), 2)
    yield integer(e + (30, i), d["version"])
    if inst.notify_deleted is not None:
        yield string(e + (32, i), script_text(inst.notify_deleted))
    yield integer(e + (33, i), truth(d["notify_deleted"]))
    mcast = st["keepalived"]["text"].get("mcast") or ""
    if mcast and not st["keepalived"]["text"].get("peers"):
        a = packed(mcast)
        yield integer(e + (34, i), 1 if len(a) == 4 else 2)
        yield string(e + (35, i), a)


def _addresses(s: Snapshot, inst: Any, i: int, st: dict[str, Any]) -> Iterator[VarBind]:
    d = st["keepalived"]["data"]
    listed = [(v, True) for v in inst.virtual_ipaddress] + [(v, False) for v in inst.virtual_ipaddress_excluded]
    yield from _address_rows(s, i, listed, d["vmac_ifname"] or d["ifp_ifname"], bool(d["vipset"]))


def _address_rows(s: Snapshot, i: int, listed: list[tuple[Any, bool]], default_dev: str,
                  installed: bool) -> Iterator[VarBind]:
    e = VRRP + (6, 1)
    for ai, (v, advertised) in enumerate(listed, 1):
        a = packed(v.address)
        v6 = len(a) == 16
        dev = v.dev or default_dev
        yield integer(e + (2, i, ai), 2 if v6 else 1)
        yield string(e + (3, i, ai), a)
        if not v6:
            yield string(e + (4, i, ai), packed(v.brd) if v.brd and v.brd not in ("+", "-") else b"\0\0\0\0")
        yield gauge(e + (5, i, ai), v.prefix)
        scope = v.scope or ("link" if v6 and ipaddress.ip_address(v.address).is_link_local else "global")
        yield integer(e + (6, i, ai), SCOPES.get(scope, 0))
        yield integer(e + (7, i, ai), s.link(dev)[0])
        yield string(e + (8, i, ai), dev)
        if v.label:
            yield string(e + (9, i, ai), v.label)
        yield integer(e + (10, i, ai), truth(installed))
        yield integer(e + (11, i, ai), truth(advertised))
        if v.peer:
            yield string(e + (12, i, ai), packed(v.peer.split("/")[0]))


def track_rows(s: Snapshot) -> Iterator[VarBind]:
    """vrrpTrackedInterfaceTable, vrrpTrackedScriptTable, vrrpTrackedFileTable (per instance, in
    its order), vrrpScriptTable and vrrpFileTable (every vrrp_script and vrrp_track_file, their
    results from the instances' last verdicts)."""
    scripts = {sc.name: sc for sc in s.config.vrrp_scripts}
    files = {f.name: f for f in s.config.vrrp_track_files}
    verdict: dict[str, bool] = {}
    values: dict[str, int] = {}
    for i, inst in enumerate(s.config.vrrp_instances, 1):
        st = (s.instance(inst.name) or {}).get("keepalived", {}).get("text", {})
        for name, ok in (st.get("track") or {}).items():
            kind, _, what = name.partition("/")
            if kind == "script":
                verdict[what] = ok
        for name, value in (st.get("track_values") or {}).items():
            kind, _, what = name.partition("/")
            if kind == "file":
                values[what] = value
        kept = instance_tracks(inst, s.config)[0]  # the lines keepalived keeps (sync groups, owner)
        for j, t in enumerate((t for kind, t, _, _ in kept if kind == "file"), 1):  # the file's own weight, as keepalived
            f = files.get(t.name)
            yield string(VRRP + (12, 1, 2, i, j), t.name)
            yield integer(VRRP + (12, 1, 3, i, j), f.weight if f else 0)
            yield integer(VRRP + (12, 1, 4, i, j), truth(f.weight_reverse if f else False))
        for j, (t, weight) in enumerate(((t, shown) for kind, t, _, shown in kept if kind == "interface"), 1):
            yield string(VRRP + (4, 1, 1, i, j), t.name)
            yield integer(VRRP + (4, 1, 2, i, j), weight)
            yield integer(VRRP + (4, 1, 3, i, j), truth(t.reverse))
        for j, t in enumerate((t for kind, t, _, _ in kept if kind == "script"), 1):
            sc = scripts.get(t.name)
            weight = t.weight if t.weight is not None else (sc.weight if sc else 0)
            yield string(VRRP + (5, 1, 2, i, j), t.name)
            yield integer(VRRP + (5, 1, 3, i, j), weight)
            yield integer(VRRP + (5, 1, 4, i, j), truth(t.reverse or (t.weight is None and sc and sc.weight_reverse)))
    for j, sc in enumerate(s.config.vrrp_scripts, 1):
        e = VRRP + (9, 1)
        yield string(e + (2, j), sc.name)
        if sc.script is not None:
            yield string(e + (3, j), script_text(sc.script))
        yield integer(e + (4, j), int(sc.interval))
        yield integer(e + (5, j), sc.weight)
        ok = verdict.get(sc.name)
        yield integer(e + (6, j), 1 if ok is None else 3 if ok else 2)  # init, bad, good
        yield gauge(e + (7, j), sc.rise)
        yield gauge(e + (8, j), sc.fall)
        yield integer(e + (9, j), truth(sc.weight_reverse))
    for j, f in enumerate(s.config.vrrp_track_files, 1):
        e = VRRP + (13, 1)
        yield string(e + (2, j), f.name)
        yield string(e + (3, j), f.path or "")
        yield integer(e + (4, j), values.get(f.name, 0))
        yield integer(e + (5, j), f.weight)
        yield integer(e + (6, j), truth(f.weight_reverse))


TABLES = {"main": 254, "local": 255, "default": 253}


def route_rows(s: Snapshot) -> Iterator[VarBind]:
    """vrrpRouteTable for the usual routes (destination, one gateway, source, metric, scope,
    device, table): static_routes under index 0, then each instance's virtual_routes."""
    listed = [(0, r, True) for r in getattr(s.config, "static_routes", ())]
    for i, inst in enumerate(s.config.vrrp_instances, 1):
        st = s.instance(inst.name)
        if st is not None:
            listed += [(i, r, bool(st["keepalived"]["data"]["vipset"])) for r in inst.virtual_routes]
    at: dict[int, int] = {}
    e = VRRP + (7, 1)
    for i, r, installed in listed:
        j = at[i] = at.get(i, 0) + 1
        dest = r.destination if r.destination != "default" else ("0.0.0.0/0" if r.family == 4 else "::/0")
        net = ipaddress.ip_network(dest, strict=False)
        yield integer(e + (2, i, j), 1 if net.version == 4 else 2)
        yield string(e + (3, i, j), net.network_address.packed)
        yield gauge(e + (4, i, j), net.prefixlen)
        if len(r.via) == 1:
            yield string(e + (5, i, j), packed(r.via[0]))
        if r.src:
            yield string(e + (7, i, j), packed(r.src))
        yield gauge(e + (8, i, j), r.metric or 0)
        yield integer(e + (9, i, j), SCOPES.get(r.scope or "global", 0))
        if r.route_type is None:
            yield integer(e + (10, i, j), 1)  # unicast
        if r.dev:
            yield integer(e + (11, i, j), s.link(r.dev)[0])
            yield string(e + (12, i, j), r.dev)
        table = r.table or "main"
        yield gauge(e + (13, i, j), int(table) if table.isdigit() else TABLES.get(table, 254))
        yield integer(e + (14, i, j), truth(installed))
        yield integer(e + (18, i, j), 19)  # protocol: keepalived's own (RTPROT_KEEPALIVED + 1)
        yield integer(e + (19, i, j), 2)  # no ECN
        yield integer(e + (20, i, j), 2)  # no quickack


def _net(text: str) -> Any:
    return ipaddress.ip_network(text, strict=False)


def rule_rows(s: Snapshot) -> Iterator[VarBind]:
    """vrrpRuleTable for rules selecting on from/to and looking up a table (keepalived's usual
    rule): static_rules under index 0, then each instance's virtual_rules."""
    listed = [(0, r, True) for r in getattr(s.config, "static_rules", ())]
    for i, inst in enumerate(s.config.vrrp_instances, 1):
        st = s.instance(inst.name)
        if st is not None:
            listed += [(i, r, bool(st["keepalived"]["data"]["vipset"])) for r in inst.virtual_rules]
    at: dict[int, int] = {}
    e = VRRP + (8, 1)
    for i, r, installed in listed:
        j = at[i] = at.get(i, 0) + 1
        main = _net(r.from_ or r.to) if (r.from_ or r.to) else None
        yield string(e + (2, i, j), "from" if r.from_ else "to")
        if main is not None:
            yield integer(e + (3, i, j), 1 if main.version == 4 else 2)
            yield string(e + (4, i, j), main.network_address.packed)
            yield gauge(e + (5, i, j), main.prefixlen)
        table = r.table if r.table and r.table.isdigit() else None
        if table is not None:
            yield gauge(e + (6, i, j), int(table))
        yield integer(e + (7, i, j), truth(installed))
        yield integer(e + (8, i, j), 2)  # not inverted
        for col, addr in ((9, r.to), (12, r.from_)):
            if addr:
                n = _net(addr)
                yield integer(e + (col, i, j), 1 if n.version == 4 else 2)
                yield string(e + (col + 1, i, j), n.network_address.packed)
                yield gauge(e + (col + 2, i, j), n.prefixlen)
        yield gauge(e + (15, i, j), 0)
        if table is not None and r.action is None:
            yield integer(e + (23, i, j), 1)  # to_tbl
            yield gauge(e + (24, i, j), int(table))
        # keepalived's preference when none is given
        yield gauge(e + (25, i, j), r.preference if r.preference is not None else 16384)


def rows(s: Snapshot, vrrp: bool = True) -> Iterator[VarBind]:
    """The KEEPALIVED-MIB rows: the global scalars, and the VRRP tables when ``vrrp``."""
    yield from global_rows(s)
    if vrrp:
        yield from vrrp_rows(s)
        yield from track_rows(s)
        yield from route_rows(s)
        yield from rule_rows(s)
