"""KEEPALIVED-MIB's checker part: the virtual server group, virtual server and real server
tables, realServerStateChange and virtualServerQuorumStateChange, from the configuration model
and the checker child's status.

Served: the groups, and the configuration and state columns (type, address, port, protocol,
scheduler, forwarding, persistence, quorum, timers, real servers up and total, each real
server's state, weight, thresholds and failed checks). Not served: the kernel's connection and
byte counters (the *Stats* and *Rate* columns); lvsfast keeps no per-service kernel counters.
"""
from __future__ import annotations

from typing import Any, Iterator

from lvsfast.snmp import agentx as ax
from lvsfast.snmp.agentx import OID, VarBind
from lvsfast.snmp.mib import CHECK, ROUTER_ID, Snapshot, script_text
from lvsfast.snmp.view import gauge, integer, packed, string, truth

VS_ENTRY, RS_ENTRY = CHECK + (3, 1), CHECK + (4, 1)
REAL_SERVER_CHANGE: OID = CHECK + (10, 0, 1)
QUORUM_CHANGE: OID = CHECK + (10, 0, 2)
SNMP_TRAP_OID: OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
ALGOS = {"rr": 1, "wrr": 2, "lc": 3, "wlc": 4, "lblc": 5, "lblcr": 6, "dh": 7, "sh": 8, "sed": 9, "nq": 10,
         "fo": 11, "ovf": 12, "mh": 13, "twos": 14}
KINDS = {"NAT": 1, "DR": 2, "TUN": 3}
PROTOCOLS = {"TCP": 1, "UDP": 2, "SCTP": 3}


def _real_name(address: str, port: int | None) -> str:
    return f"[{address}]:{port or 0}" if ":" in address else f"{address}:{port or 0}"


def _reals(s: Snapshot, vs: Any) -> dict[str, Any]:
    return ((s.checker.get("virtual_servers") or {}).get(vs.name) or {}).get("real_servers") or {}


def _up_count(s: Snapshot, vs: Any) -> int:
    reals = _reals(s, vs)
    return sum(1 for rs in vs.real_servers if (reals.get(_real_name(rs.address, rs.port)) or {}).get("up"))


def _quorum_met(s: Snapshot, vs: Any) -> bool:
    up = sum(rs.weight for rs in vs.real_servers
             if (_reals(s, vs).get(_real_name(rs.address, rs.port)) or {}).get("up"))
    return up >= vs.quorum


def _alert(obj: Any, g: Any) -> bool:
    for v in (obj.smtp_alert, g.smtp_alert_checker, g.smtp_alert):
        if v is not None:
            return bool(v)
    return False


def group_rows(s: Snapshot) -> Iterator[VarBind]:
    """virtualServerGroupTable and its member table: fwmarks first, then addresses and ranges,
    keepalived's order."""
    for gi, grp in enumerate(getattr(s.config, "virtual_server_groups", ()), 1):
        yield string(CHECK + (1, 1, 2, gi), grp.name)
        members = [m for m in grp.entries if m.fwmark is not None] + [m for m in grp.entries if m.fwmark is None]
        for mi, m in enumerate(members, 1):
            e = CHECK + (2, 1)
            if m.fwmark is not None:
                yield integer(e + (2, gi, mi), 1)
                yield gauge(e + (3, gi, mi), m.fwmark)
                continue
            ranged = m.last is not None and m.last != m.address
            a = packed(m.address or "0.0.0.0")
            yield integer(e + (2, gi, mi), 3 if ranged else 2)
            yield integer(e + (4, gi, mi), 1 if len(a) == 4 else 2)
            if ranged:
                yield string(e + (6, gi, mi), a)
                yield string(e + (7, gi, mi), packed(m.last))
            else:
                yield string(e + (5, gi, mi), a)
            yield gauge(e + (8, gi, mi), m.port or 0)


def rows(s: Snapshot) -> Iterator[VarBind]:
    yield from group_rows(s)
    g = s.config.global_defs
    for i, vs in enumerate(s.config.virtual_servers, 1):
        e = VS_ENTRY
        if vs.group is not None:
            yield integer(e + (2, i), 3)
            yield string(e + (3, i), vs.group)
        elif vs.fwmark is not None:
            yield integer(e + (2, i), 1)
            yield gauge(e + (4, i), vs.fwmark)
        else:
            yield integer(e + (2, i), 2)
        yield integer(e + (5, i), 1 if vs.family == 4 else 2)
        if vs.fwmark is None and vs.group is None and vs.address:
            yield string(e + (6, i), packed(vs.address))
            yield gauge(e + (7, i), vs.port or 0)
        if vs.fwmark is None:
            yield integer(e + (8, i), PROTOCOLS.get(vs.protocol, 4))
        yield integer(e + (9, i), ALGOS.get(vs.lb_algo, 99))
        yield integer(e + (10, i), KINDS.get(vs.forwarding.kind, 1))
        met = _quorum_met(s, vs)
        yield integer(e + (11, i), truth(met))
        if vs.virtualhost:
            yield string(e + (12, i), vs.virtualhost)
        yield integer(e + (13, i), truth(vs.persistence_timeout is not None))
        if vs.persistence_timeout is not None:
            yield gauge(e + (14, i), vs.persistence_timeout)
        yield gauge(e + (16, i), int(vs.delay_loop))
        yield integer(e + (17, i), truth(vs.ha_suspend))
        yield integer(e + (18, i), truth(vs.alpha))
        yield integer(e + (19, i), truth(vs.omega))
        yield gauge(e + (20, i), len(vs.real_servers))
        yield gauge(e + (21, i), _up_count(s, vs))
        yield gauge(e + (22, i), vs.quorum)
        yield integer(e + (23, i), truth(met))
        if vs.quorum_up is not None:
            yield string(e + (24, i), script_text(vs.quorum_up))
        if vs.quorum_down is not None:
            yield string(e + (25, i), script_text(vs.quorum_down))
        yield gauge(e + (26, i), vs.hysteresis)
        yield integer(e + (37, i), truth(vs.ops))
        yield integer(e + (56, i), 2 if vs.inhibit_on_failure else 1)
        # keepalived's "unset" is 0 for these (its checkers then use their own defaults).
        yield gauge(e + (57, i), vs.retry or 0)
        yield gauge(e + (58, i), int(vs.delay_before_retry or 0))
        yield gauge(e + (59, i), int(vs.warmup or 0))
        yield integer(e + (61, i), truth(_alert(vs, g)))
        yield gauge(e + (64, i), round(vs.delay_loop * 1_000_000))
        yield gauge(e + (65, i), round((vs.delay_before_retry or 0) * 1_000_000))
        yield gauge(e + (66, i), round((vs.warmup or 0) * 1_000_000))
        yield from _real_rows(s, vs, i)


def _real_rows(s: Snapshot, vs: Any, i: int) -> Iterator[VarBind]:
    reals = _reals(s, vs)
    listed = [(rs, 1) for rs in vs.real_servers]
    if vs.sorry_server is not None:  # keepalived lists it first
        listed.insert(0, (vs.sorry_server, 2))
    for j, (rs, kind) in enumerate(listed, 1):
        e = RS_ENTRY
        st = reals.get(_real_name(rs.address, rs.port)) or {}
        a = packed(rs.address)
        yield integer(e + (2, i, j), kind)
        yield integer(e + (3, i, j), 1 if len(a) == 4 else 2)
        yield string(e + (4, i, j), a)
        yield gauge(e + (5, i, j), rs.port or vs.port or 0)
        if kind == 2:
            continue
        yield integer(e + (6, i, j), truth(st.get("up")))
        weight = st.get("weight")
        yield integer(e + (7, i, j), rs.weight if weight is None else weight)
        if rs.uthreshold:
            yield gauge(e + (8, i, j), rs.uthreshold)
        if rs.lthreshold:
            yield gauge(e + (9, i, j), rs.lthreshold)
        yield integer(e + (10, i, j), 2 if rs.inhibit_on_failure else 1)
        if rs.notify_up is not None:
            yield string(e + (11, i, j), script_text(rs.notify_up))
        if rs.notify_down is not None:
            yield string(e + (12, i, j), script_text(rs.notify_down))
        yield gauge(e + (13, i, j), sum(1 for c in st.get("checkers", ()) if not c.get("up")))


def trap(event: dict[str, Any], s: Snapshot) -> list[VarBind] | None:
    """realServerStateChange for a ``real_server`` event, virtualServerQuorumStateChange for a
    ``quorum`` one (their objects indexed, as keepalived's)."""
    for i, vs in enumerate(s.config.virtual_servers, 1):
        if vs.name != event.get("virtual"):
            continue
        vtype = 3 if vs.group is not None else 1 if vs.fwmark is not None else 2
        if event.get("event") == "quorum":
            return [VarBind(SNMP_TRAP_OID, ax.OBJECT_IDENTIFIER, QUORUM_CHANGE), integer(VS_ENTRY + (2, i), vtype),
                    integer(VS_ENTRY + (8, i), PROTOCOLS.get(vs.protocol, 4)),
                    integer(VS_ENTRY + (23, i), truth(event.get("up"))), gauge(VS_ENTRY + (22, i), vs.quorum),
                    gauge(VS_ENTRY + (21, i), _up_count(s, vs)), gauge(VS_ENTRY + (20, i), len(vs.real_servers)),
                    string(ROUTER_ID, s.router_id)]
        first = 2 if vs.sorry_server is not None else 1
        for j, rs in enumerate(vs.real_servers, first):
            if _real_name(rs.address, rs.port) != event.get("real"):
                continue
            a = packed(rs.address)
            return [VarBind(SNMP_TRAP_OID, ax.OBJECT_IDENTIFIER, REAL_SERVER_CHANGE),
                    integer(RS_ENTRY + (3, i, j), 1 if len(a) == 4 else 2), string(RS_ENTRY + (4, i, j), a),
                    gauge(RS_ENTRY + (5, i, j), rs.port or vs.port or 0),
                    integer(RS_ENTRY + (6, i, j), truth(event.get("up"))),
                    integer(VS_ENTRY + (2, i), vtype), integer(VS_ENTRY + (8, i), PROTOCOLS.get(vs.protocol, 4)),
                    gauge(VS_ENTRY + (21, i), _up_count(s, vs)), gauge(VS_ENTRY + (20, i), len(vs.real_servers)),
                    string(ROUTER_ID, s.router_id)]
    return None
