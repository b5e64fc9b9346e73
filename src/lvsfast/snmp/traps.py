"""The notifications keepalived 2.2.7 sends for a relayed child event, as AgentX varbind lists.

vrrpInstanceStateChange and vrrpSyncGroupStateChange name their objects without an index
(keepalived's way), then routerId; on becoming master, vrrpTrapNewMaster (VRRPv2 IPv4
instances) and vrrpv3NewMaster (every instance with a VIP) follow.
"""
from __future__ import annotations

from typing import Any

from lvsfast.snmp import agentx as ax
from lvsfast.snmp.agentx import OID, VarBind
from lvsfast.snmp.mib import INSTANCE_ENTRY, KEEPALIVED, ROUTER_ID, STATES, SYNC_GROUP_ENTRY, Snapshot
from lvsfast.snmp.rfc import (TRAP_NEW_MASTER, V3_OPER_ENTRY, V3_STATS_ENTRY, V3_TRAP_NEW_MASTER, VRRP_MIB,
                              new_master_reason)
from lvsfast.snmp.settings import Settings
from lvsfast.snmp.view import integer, ip, packed, string

SNMP_TRAP_OID: OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
GROUP_CHANGE: OID = KEEPALIVED + (2, 10, 0, 1)
INSTANCE_CHANGE: OID = KEEPALIVED + (2, 10, 0, 2)
REAL_SERVER_CHANGE: OID = KEEPALIVED + (3, 10, 0, 1)


def _trap(oid: OID, *varbinds: VarBind) -> list[VarBind]:
    return [VarBind(SNMP_TRAP_OID, ax.OBJECT_IDENTIFIER, oid), *varbinds]


def _initial(s: Snapshot, name: str) -> int:
    for inst in s.config.vrrp_instances:
        if inst.name == name:
            return 2 if inst.state == "MASTER" else 1
    return 1


def for_event(event: dict[str, Any], s: Snapshot, settings: Settings) -> list[list[VarBind]]:
    """The notifications for one event (none when traps are off or the event says nothing to SNMP)."""
    if not settings.traps:
        return []
    kind = event.get("event")
    router = string(ROUTER_ID, s.router_id)
    out: list[list[VarBind]] = []
    if kind == "vrrp_group" and settings.vrrp:
        out.append(_trap(GROUP_CHANGE, string(SYNC_GROUP_ENTRY + (2,), str(event.get("group", ""))),
                         integer(SYNC_GROUP_ENTRY + (3,), STATES.get(str(event.get("state")), 0)), router))
    if kind != "vrrp_state":
        return out
    name, state = str(event.get("instance", "")), str(event.get("state", ""))
    if settings.vrrp:
        out.append(_trap(INSTANCE_CHANGE, string(INSTANCE_ENTRY + (2,), name),
                         integer(INSTANCE_ENTRY + (4,), STATES.get(state, 0)),
                         integer(INSTANCE_ENTRY + (5,), _initial(s, name)), router))
    st = s.instance(name)
    if state != "MASTER" or st is None or not st["keepalived"]["data"]["vips"]:
        return out
    d, text = st["keepalived"]["data"], st["keepalived"]["text"]
    src = text.get("src_ip") or ""
    ifindex = s.link(d["ifp_ifname"])[0]
    family = 2 if ":" in src else 1
    if settings.rfcv2 and d["version"] == 2 and family == 1:
        out.append(_trap(TRAP_NEW_MASTER, ip(VRRP_MIB + (1, 3, 1, 7, ifindex, d["vrid"]), src)))
    if settings.rfcv3:
        idx = (ifindex, d["vrid"], family)
        reason = new_master_reason(s, name, "MASTER")
        out.append(_trap(V3_TRAP_NEW_MASTER, string(V3_OPER_ENTRY + (3, *idx), packed(src) if src else b""),
                         integer(V3_STATS_ENTRY + (2, *idx), reason)))
    return out
