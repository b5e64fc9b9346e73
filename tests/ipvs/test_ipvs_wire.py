"""The IPVS encoder, byte for byte: against pyroute2's ipvsmsg where pyroute2 is right, and
against golden hex dumps (from include/uapi/linux/ip_vs.h) where it is wrong or silent."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st
from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST
from pyroute2.netlink.generic.ipvs import ipvsmsg

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey
from lvsfast.ipvs import wire

FAM = 0x23
SEQ = 7


def pyroute2_msg(cmd: int, attrs: list) -> bytes:
    m = ipvsmsg()
    m["cmd"] = cmd
    m["version"] = 1
    m["attrs"] = attrs
    m["header"]["type"] = FAM
    m["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
    m["header"]["sequence_number"] = SEQ
    m.encode()
    return bytes(m.data)


def pr_svc_key(addr: str = "10.0.0.1", port: int = 80, proto: int = 6) -> list:
    return [("IPVS_SVC_ATTR_AF", 2), ("IPVS_SVC_ATTR_PROTOCOL", proto), ("IPVS_SVC_ATTR_ADDR", addr),
            ("IPVS_SVC_ATTR_PORT", port)]


def pr_svc_full(sched: str, flags: int, timeout: int, netmask: str, **kw) -> list:
    return pr_svc_key(**kw) + [("IPVS_SVC_ATTR_SCHED_NAME", sched),
                               ("IPVS_SVC_ATTR_FLAGS", {"flags": flags, "mask": 0xFFFFFFFF}),
                               ("IPVS_SVC_ATTR_TIMEOUT", timeout), ("IPVS_SVC_ATTR_NETMASK", netmask)]


def pr_dest(addr: str, port: int, fwd: int, weight: int, u: int = 0, l: int = 0) -> list:
    return [("IPVS_DEST_ATTR_ADDR", addr), ("IPVS_DEST_ATTR_PORT", port), ("IPVS_DEST_ATTR_FWD_METHOD", fwd),
            ("IPVS_DEST_ATTR_WEIGHT", weight), ("IPVS_DEST_ATTR_U_THRESH", u), ("IPVS_DEST_ATTR_L_THRESH", l),
            ("IPVS_DEST_ATTR_ADDR_FAMILY", 2)]


V4 = ServiceKey(4, "tcp", "10.0.0.1", 80)


@pytest.mark.parametrize("sched", ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"])
def test_ipvs_new_service_matches_pyroute2(sched: str) -> None:
    svc = Service(V4, sched)
    ours = wire.service_msg(FAM, wire.IPVS_CMD_NEW_SERVICE, svc, seq=SEQ)
    theirs = pyroute2_msg(1, [("IPVS_CMD_ATTR_SERVICE", {"attrs": pr_svc_full(sched, 0, 0, "255.255.255.255")})])
    assert ours == theirs


@pytest.mark.parametrize(("flags", "bits"), [
    (frozenset({"sh-port", "sh-fallback"}), 0x18),
    (frozenset({"ops"}), 0x4),
    (frozenset({"flag-3"}), 0x20),
])
def test_ipvs_service_flags_and_persistence_match_pyroute2(flags: frozenset[str], bits: int) -> None:
    svc = Service(ServiceKey(4, "udp", "192.0.2.9", 53), "sh", flags, persistence_timeout=300, persistence_granularity=24)
    ours = wire.service_msg(FAM, wire.IPVS_CMD_SET_SERVICE, svc, seq=SEQ)
    theirs = pyroute2_msg(2, [("IPVS_CMD_ATTR_SERVICE", {"attrs": pr_svc_full(
        "sh", bits | wire.IP_VS_SVC_F_PERSISTENT, 300, "255.255.255.0", addr="192.0.2.9", port=53, proto=17)})])
    assert ours == theirs


def test_ipvs_fwmark_and_del_service_match_pyroute2() -> None:
    ours = wire.del_service_msg(FAM, ServiceKey(4, "tcp", None, 0, 42), seq=SEQ)
    theirs = pyroute2_msg(3, [("IPVS_CMD_ATTR_SERVICE", {"attrs": [("IPVS_SVC_ATTR_AF", 2), ("IPVS_SVC_ATTR_FWMARK", 42)]})])
    assert ours == theirs
    ours = wire.del_service_msg(FAM, V4, seq=SEQ)
    assert ours == pyroute2_msg(3, [("IPVS_CMD_ATTR_SERVICE", {"attrs": pr_svc_key()})])


@pytest.mark.parametrize(("fwd", "code"), [("nat", 0), ("dr", 3)])
@pytest.mark.parametrize("cmd", [wire.IPVS_CMD_NEW_DEST, wire.IPVS_CMD_SET_DEST])
def test_ipvs_dest_matches_pyroute2(fwd: str, code: int, cmd: int) -> None:
    d = Dest(DestKey("10.1.0.2", 8080), weight=5, forward=fwd, u_threshold=100, l_threshold=10)
    ours = wire.dest_msg(FAM, cmd, V4, d, seq=SEQ)
    theirs = pyroute2_msg(cmd, [("IPVS_CMD_ATTR_SERVICE", {"attrs": pr_svc_key()}),
                                ("IPVS_CMD_ATTR_DEST", {"attrs": pr_dest("10.1.0.2", 8080, code, 5, 100, 10)})])
    assert ours == theirs


def test_ipvs_del_dest_matches_pyroute2() -> None:
    ours = wire.del_dest_msg(FAM, V4, DestKey("10.1.0.2", 8080), seq=SEQ)
    theirs = pyroute2_msg(7, [("IPVS_CMD_ATTR_SERVICE", {"attrs": pr_svc_key()}),
                              ("IPVS_CMD_ATTR_DEST", {"attrs": [
                                  ("IPVS_DEST_ATTR_ADDR", "10.1.0.2"), ("IPVS_DEST_ATTR_PORT", 8080),
                                  ("IPVS_DEST_ATTR_ADDR_FAMILY", 2)]})])
    assert ours == theirs


# Golden dumps: hand-checked against ip_vs.h. pyroute2 cannot produce these (v6 netmask as a
# prefix length, big-endian tunnel port, the sync-daemon attributes).
GOLDEN_V6_SERVICE = (
    "70000000230005000700000000000000" "01010000" "5c000100"
    "060001000a000000" "0600020006000000" "1400030020010db8000000000000000000000001" "0600040000500000"
    "0700060072720000" "0c00070001000000ffffffff" "080008002c010000"
    "0800090040000000"  # NETMASK: prefix length 64, host order
    "08000b0073697000"  # PE_NAME "sip"
)
GOLDEN_TUN_DEST = (
    "8c000000230005000700000000000000" "05010000"
    "24000100" "0600010002000000" "0600020006000000" "080003000a000001" "0600040000500000"
    "54000200" "080001000a010002" "0600020000000000" "0800030002000000" "0800040001000000"
    "0800050000000000" "0800060000000000" "06000b0002000000"
    "05000d0001000000"  # TUN_TYPE gue
    "06000e0017c10000"  # TUN_PORT 6081, big-endian
    "06000f0001000000"  # TUN_FLAGS csum (nocsum is no bit)
)
GOLDEN_NEW_DAEMON = (
    "54000000230005000700000000000000" "09010000" "40000300"
    "0800010001000000" "0900020065746830" "00000000" "0800030007000000" "0600040078050000"
    "08000500e0000052" "0600070091220000" "0500080002000000"
)


def test_ipvs_golden_v6_persistent_service_with_pe() -> None:
    svc = Service(ServiceKey(6, "tcp", "2001:db8::1", 80), "rr", persistence_timeout=300,
                  persistence_granularity=64, persistence_engine="sip")
    msg = wire.service_msg(FAM, wire.IPVS_CMD_NEW_SERVICE, svc, seq=SEQ)
    # The netmask attribute is the prefix length 64 in host order, not an address.
    assert struct.pack("=HHI", 8, wire.IPVS_SVC_ATTR_NETMASK, 64) in msg
    assert msg.hex() == GOLDEN_V6_SERVICE


def test_ipvs_golden_tun_dest_gue_port_big_endian() -> None:
    d = Dest(DestKey("10.1.0.2", 0), weight=1, forward="tun", tun_type="gue", tun_port=6081, tun_csum=True,
             tun_nocsum=True)
    msg = wire.dest_msg(FAM, wire.IPVS_CMD_NEW_DEST, V4, d, seq=SEQ)
    assert struct.pack("=HH", 6, wire.IPVS_DEST_ATTR_TUN_PORT) + b"\x17\xc1" in msg
    assert msg.hex() == GOLDEN_TUN_DEST


def test_ipvs_golden_sync_daemon_and_timeouts() -> None:
    d = wire.SyncDaemon("master", "eth0", sync_id=7, maxlen=1400, mcast_group="224.0.0.82", mcast_port=8849,
                        mcast_ttl=2)
    msg = wire.daemon_msg(FAM, wire.IPVS_CMD_NEW_DAEMON, d, seq=SEQ)
    assert msg.hex() == GOLDEN_NEW_DAEMON
    body = wire.attrs(memoryview(msg)[20:])
    daemon = wire.attrs(body[wire.IPVS_CMD_ATTR_DAEMON])
    assert bytes(daemon[wire.IPVS_DAEMON_ATTR_STATE]) == struct.pack("=I", 1)
    assert bytes(daemon[wire.IPVS_DAEMON_ATTR_MCAST_IFN]) == b"eth0\0"
    assert bytes(daemon[wire.IPVS_DAEMON_ATTR_SYNC_ID]) == struct.pack("=I", 7)
    assert bytes(daemon[wire.IPVS_DAEMON_ATTR_SYNC_MAXLEN]) == struct.pack("=H", 1400)
    assert bytes(daemon[wire.IPVS_DAEMON_ATTR_MCAST_GROUP]) == bytes([224, 0, 0, 82])
    assert bytes(daemon[wire.IPVS_DAEMON_ATTR_MCAST_PORT]) == b"\x91\x22"
    assert bytes(daemon[wire.IPVS_DAEMON_ATTR_MCAST_TTL]) == b"\x02"
    dm = wire.daemon_msg(FAM, wire.IPVS_CMD_DEL_DAEMON, d, seq=SEQ)
    assert dm.hex() == "20000000230005000700000000000000" + "0a010000" + "0c000300" + "0800010001000000"
    t = wire.timeouts_msg(FAM, wire.Timeouts(900, 120, 300), seq=SEQ)
    assert t.hex() == ("2c000000230005000700000000000000" + "0c010000" + "0800040084030000"
                       + "0800050078000000" + "080006002c010000")


def _kernel_style_reply(cmd_attr: int, body: bytes) -> memoryview:
    """A dump entry as the kernel writes it (payload after nlmsghdr: genl header + attrs)."""
    return memoryview(struct.pack("=BBH", wire.IPVS_CMD_NEW_SERVICE, 1, 0) + wire._nest(cmd_attr, body))


def test_ipvs_decode_service_as_kernel_dumps_it() -> None:
    # The kernel dumps a 16-byte address, the HASHED flag and stats; none of that leaks out.
    body = (wire._u16(wire.IPVS_SVC_ATTR_AF, 2) + wire._u16(wire.IPVS_SVC_ATTR_PROTOCOL, 17)
            + wire._raw(wire.IPVS_SVC_ATTR_ADDR, bytes([192, 0, 2, 9]) + b"\0" * 12)
            + wire._be16(wire.IPVS_SVC_ATTR_PORT, 53) + wire._str(wire.IPVS_SVC_ATTR_SCHED_NAME, "mh")
            + wire._raw(wire.IPVS_SVC_ATTR_FLAGS, struct.pack("=II", 0x1 | 0x2 | 0x4 | 0x10, 0xFFFFFFFF))
            + wire._u32(wire.IPVS_SVC_ATTR_TIMEOUT, 120) + wire._raw(wire.IPVS_SVC_ATTR_NETMASK, b"\xff\xff\xff\x00")
            + wire._nest(wire.IPVS_SVC_ATTR_STATS, wire._u32(1, 5)))
    svc = wire.decode_service(_kernel_style_reply(wire.IPVS_CMD_ATTR_SERVICE, body))
    assert svc == Service(ServiceKey(4, "udp", "192.0.2.9", 53), "mh", frozenset({"ops", "mh-port"}), 120, 24)


def test_ipvs_decode_roundtrip_v6_service_and_tun_dest() -> None:
    svc = Service(ServiceKey(6, "sctp", "2001:db8::5", 9), "wrr", frozenset({"flag-3"}), 30, 64, "sip")
    msg = wire.service_msg(FAM, wire.IPVS_CMD_NEW_SERVICE, svc)
    assert wire.decode_service(next(wire.parse_messages(msg)).payload) == svc
    d = Dest(DestKey("2001:db8::7", 0), 3, "tun", "gre", 0, False, False, True, 9, 2)
    msg = wire.dest_msg(FAM, wire.IPVS_CMD_NEW_DEST, svc.key, d)
    payload = next(wire.parse_messages(msg)).payload
    state = wire.decode_dest(memoryview(bytes(payload[:4]) + wire._nest(
        wire.IPVS_CMD_ATTR_DEST, wire.dest_attrs(d) + wire._u32(wire.IPVS_DEST_ATTR_ACTIVE_CONNS, 4))), 6)
    assert state.dest == d and state.active_conns == 4


def test_ipvs_bad_values_raise_wire_error() -> None:
    with pytest.raises(wire.WireError):
        wire.service_msg(FAM, 1, Service(V4, "rr", frozenset({"nonsense"})))
    with pytest.raises(wire.WireError):
        wire.dest_msg(FAM, 5, V4, Dest(DestKey("not-an-ip", 1)))
    with pytest.raises(wire.WireError):
        wire.service_msg(FAM, 1, Service(ServiceKey(6, "tcp", "::1", 1), persistence_granularity=0))


def test_ipvs_parse_messages_splits_acks() -> None:
    ack = struct.pack("=IHHII", 36, wire.NLMSG_ERROR, 0, 5, 0) + struct.pack("=i", -17) + b"\0" * 16
    done = struct.pack("=IHHII", 20, wire.NLMSG_DONE, 2, 6, 0) + b"\0" * 4
    replies = list(wire.parse_messages(ack + done + b"\x01\x02"))
    assert [(r.type, r.seq) for r in replies] == [(wire.NLMSG_ERROR, 5), (wire.NLMSG_DONE, 6)]
    assert wire.error_code(replies[0]) == -17


@given(st.integers(0, 2**16 - 1), st.integers(0, 2**31), st.sampled_from(["nat", "dr"]), st.booleans(),
       st.booleans(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_ipvs_one_pack_dest_message_equals_attribute_by_attribute(port, weight, fwd, v6, fwmark, uth, lth) -> None:
    addr = "2001:db8::7" if v6 else "10.9.8.7"
    key = (ServiceKey(6 if v6 else 4, "tcp", None, 0, fwmark=77) if fwmark
           else ServiceKey(6 if v6 else 4, "udp", "2001:db8::1" if v6 else "10.0.0.1", 53))
    d = Dest(DestKey(addr, port), weight, fwd, u_threshold=uth, l_threshold=lth)
    slow = wire.message(0x23, wire.IPVS_CMD_SET_DEST, wire._nest(wire.IPVS_CMD_ATTR_SERVICE, wire.service_key_attrs(key))
                        + wire._nest(wire.IPVS_CMD_ATTR_DEST, wire.dest_attrs(d)), seq=5)
    assert wire.dest_msg(0x23, wire.IPVS_CMD_SET_DEST, key, d, seq=5) == slow
