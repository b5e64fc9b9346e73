"""VRRP-MIB (RFC 2787) and VRRPv3-MIB (RFC 6527) rows, as keepalived 2.2.7 fills them.

keepalived lists its VRRPv2 instances in VRRP-MIB and every instance (v2 ones too) in
VRRPv3-MIB; tables are indexed by (ifIndex, VRID[, address type]), and the associated
address index is the address's bytes without a length octet (keepalived's choice).
"""
from __future__ import annotations

from typing import Any, Iterator

from lvsfast.snmp.agentx import OID, VarBind
from lvsfast.snmp.mib import Snapshot
from lvsfast.snmp.view import counter, counter64, gauge, integer, ip, packed, string, ticks, truth

VRRP_MIB: OID = (1, 3, 6, 1, 2, 1, 68)
VRRPV3_MIB: OID = (1, 3, 6, 1, 2, 1, 207)
OPER_ENTRY = VRRP_MIB + (1, 3, 1)
V3_OPER_ENTRY = VRRPV3_MIB + (1, 1, 1, 1)
V3_STATS_ENTRY = VRRPV3_MIB + (1, 2, 5, 1)
TRAP_NEW_MASTER: OID = VRRP_MIB + (0, 1)
V3_TRAP_NEW_MASTER: OID = VRRPV3_MIB + (0, 1)
# vrrpOperState / vrrpv3OperationsStatus: initialize(1), backup(2), master(3).
RFC_STATES = {"INIT": 1, "BACKUP": 2, "MASTER": 3, "FAULT": 1}


def new_master_reason(s: Snapshot, name: str, state: str | None = None) -> int:
    """vrrpv3StatisticsNewMasterReason: notMaster(0), priority(1), preempted(2), masterNoResponse(3),
    as keepalived gives them: priority when the master left (its priority 0 advert), preempted
    for an address owner or a lower priority master preempted, masterNoResponse for silence
    (and for an initial state MASTER: keepalived starts as a backup and times out). A sync
    group's follower has the reason of the member it follows."""
    st = s.instance(name) or {}
    if (state or st.get("state")) != "MASTER":
        return 0
    why = st.get("last_reason", "")
    if why.startswith("sync group ") and " is " in why:  # "sync group G: VI_1 is MASTER"
        leader = why.split(": ", 1)[1].rsplit(" is ", 1)[0]
        why = (s.instance(leader) or {}).get("last_reason", why)
    if "priority 0" in why:
        return 1
    if "address owner" in why or "preempting" in why:
        return 2
    return 3


def _instances(s: Snapshot) -> Iterator[tuple[Any, dict[str, Any], int]]:
    """The instances the RFC tables list: keepalived leaves out one without a VIP."""
    for inst in s.config.vrrp_instances:
        st = s.instance(inst.name)
        if st is not None and inst.virtual_ipaddress:
            yield inst, st, s.link(st["keepalived"]["data"]["ifp_ifname"])[0]


def _master_ip(st: dict[str, Any]) -> str:
    return st.get("master") or ""


def v2_rows(s: Snapshot) -> Iterator[VarBind]:
    yield integer(VRRP_MIB + (1, 1, 0), 2)  # vrrpNodeVersion
    yield integer(VRRP_MIB + (1, 2, 0), truth(s.traps))  # vrrpNotificationCntl
    stats: list[VarBind] = []
    for inst, st, ifindex in _instances(s):
        d, k, text = st["keepalived"]["data"], st["keepalived"]["stats"], st["keepalived"]["text"]
        if d["version"] != 2 or ":" in (text.get("src_ip") or ""):
            continue
        idx = (ifindex, d["vrid"])
        e = OPER_ENTRY
        yield string(e + (2, *idx), _mac(s, d))
        yield integer(e + (3, *idx), RFC_STATES.get(st["state"], 1))
        yield integer(e + (4, *idx), 1)
        yield integer(e + (5, *idx), d["base_priority"])  # keepalived: the configured priority
        yield integer(e + (6, *idx), len(inst.virtual_ipaddress))
        # keepalived's master address for a master is none (its v3 row names itself).
        yield ip(e + (7, *idx), _master_ip(st) if st["state"] == "BACKUP" else "")
        yield ip(e + (8, *idx), text.get("src_ip") or "")
        yield integer(e + (9, *idx), d["auth_type"] + 1)
        yield integer(e + (11, *idx), int(float(d["adver_int"])))
        yield integer(e + (12, *idx), truth(not d["nopreempt"]))
        yield ticks(e + (13, *idx), s.uptime(d["last_transition"]))
        yield integer(e + (14, *idx), 1)
        yield integer(e + (15, *idx), 1)
        for v in inst.virtual_ipaddress:
            if ":" not in v.address:
                yield integer(VRRP_MIB + (1, 4, 1, 2, *idx, *packed(v.address)), 1)
        r = VRRP_MIB + (2, 4, 1)
        for col, key in enumerate(("become_master", "advert_rcvd", "advert_interval_err", "auth_failure",
                                   "ip_ttl_err", "pri_zero_rcvd", "pri_zero_sent", "invalid_type_rcvd",
                                   "addr_list_err", "invalid_authtype", "authtype_mismatch", "packet_len_err"), 1):
            stats.append(counter(r + (col, *idx), k[key]))
    for col in (1, 2, 3):  # checksum, version and VRID errors: not counted per router here
        yield counter(VRRP_MIB + (2, col, 0), 0)
    yield from stats


def _mac(s: Snapshot, d: dict[str, Any]) -> bytes:
    return s.link(d["vmac_ifname"] or d["ifp_ifname"])[1]


def v3_rows(s: Snapshot) -> Iterator[VarBind]:
    stats: list[VarBind] = []
    for inst, st, ifindex in _instances(s):
        d, k, text = st["keepalived"]["data"], st["keepalived"]["stats"], st["keepalived"]["text"]
        src = text.get("src_ip") or ""
        family = 2 if ":" in src else 1
        idx = (ifindex, d["vrid"], family)
        e = V3_OPER_ENTRY
        master = _master_ip(st)
        yield string(e + (3, *idx), packed(master) if master else bytes(16 if family == 2 else 4))
        yield string(e + (4, *idx), packed(src) if src else bytes(16 if family == 2 else 4))
        yield string(e + (5, *idx), _mac(s, d))
        yield integer(e + (6, *idx), RFC_STATES.get(st["state"], 1))
        yield gauge(e + (7, *idx), d["base_priority"])
        yield integer(e + (8, *idx), len(inst.virtual_ipaddress))
        yield integer(e + (9, *idx), round(float(d["adver_int"]) * 100))
        yield integer(e + (10, *idx), truth(not d["nopreempt"]))
        yield integer(e + (11, *idx), truth(d["accept"]))
        yield ticks(e + (12, *idx), s.uptime(d["last_transition"]))
        yield integer(e + (13, *idx), 1)
        for v in inst.virtual_ipaddress:
            yield integer(VRRPV3_MIB + (1, 1, 2, 1, 2, *idx, *packed(v.address)), 1)
        r = V3_STATS_ENTRY
        stats += [counter(r + (1, *idx), k["become_master"]), integer(r + (2, *idx), new_master_reason(s, inst.name))]
        for col, key in ((3, "advert_rcvd"), (4, "advert_interval_err"), (5, "ip_ttl_err")):
            stats.append(counter64(r + (col, *idx), k[key]))
        stats.append(integer(r + (6, *idx), 0))
        for col, key in ((7, "pri_zero_rcvd"), (8, "pri_zero_sent"), (9, "invalid_type_rcvd"),
                         (10, "addr_list_err"), (11, "packet_len_err")):
            stats.append(counter64(r + (col, *idx), k[key]))
        stats.append(ticks(r + (12, *idx), 0))
        stats.append(gauge(r + (13, *idx), round(float(d["adver_int"]) * 1000)))
    for col in (1, 2, 3):
        yield counter64(VRRPV3_MIB + (1, 2, col, 0), 0)
    yield ticks(VRRPV3_MIB + (1, 2, 4, 0), 0)
    yield from stats


def rows(s: Snapshot, v2: bool = True, v3: bool = True) -> Iterator[VarBind]:
    if v2:
        yield from v2_rows(s)
    if v3:
        yield from v3_rows(s)
