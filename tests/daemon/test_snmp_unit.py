"""The AgentX codec, the MIB view's GetNext/GetBulk answers and the SNMP settings, without snmpd."""
from __future__ import annotations

import struct
import types

from lvsfast.snmp import agentx as ax
from lvsfast.snmp.settings import DEFAULT_SOCKET, address, from_config
from lvsfast.snmp.view import View, integer, string

BASE = (1, 3, 6, 1, 4, 1, 9586, 100, 5)


def _request(kind: int, ranges: list[tuple[tuple[int, ...], tuple[int, ...], bool]], *, little: bool = True,
             bulk: tuple[int, int] | None = None) -> bytes:
    """A master's request as net-snmp writes it on x86: host byte order, no NETWORK_BYTE_ORDER flag."""
    order = "<" if little else "!"
    payload = struct.pack(order + "HH", *bulk) if bulk else b""
    for start, end, include in ranges:
        for oid, inc in ((start, include), (end, False)):
            prefix = 0
            if len(oid) > 4 and oid[:4] == (1, 3, 6, 1):
                prefix, oid = oid[4], oid[5:]
            payload += struct.pack(f"{order}BBBx{len(oid)}I", len(oid), prefix, int(inc), *oid)
    flags = 0 if little else ax.NETWORK_BYTE_ORDER
    return struct.pack(order[0] + "BBBxIIII", 1, kind, flags, 7, 8, 9, len(payload)) + payload


def _parse(data: bytes) -> ax.Pdu:
    buf = bytearray(data)
    [(h, payload)] = ax.split(buf)
    assert not buf
    return ax.parse_pdu(h, payload)


def test_request_decoding_in_both_byte_orders():
    for little in (True, False):
        pdu = _parse(_request(ax.GETNEXT, [(BASE + (1,), BASE + (2,), True), ((1, 3), (), False)], little=little))
        assert (pdu.header.type, pdu.header.session, pdu.header.transaction, pdu.header.packet) == (ax.GETNEXT, 7, 8, 9)
        assert pdu.ranges == (ax.SearchRange(BASE + (1,), BASE + (2,), True), ax.SearchRange((1, 3), (), False))
    bulk = _parse(_request(ax.GETBULK, [(BASE, (), False)], bulk=(0, 5)))
    assert (bulk.non_repeaters, bulk.max_repetitions) == (0, 5)


def test_response_encoding_round_trips():
    req = _parse(_request(ax.GET, [(BASE + (1, 1, 0), (), False)])).header
    vbs = [string(BASE + (1, 1, 0), "lvsfast"), integer(BASE + (1, 4, 0), -1),
           ax.VarBind(BASE + (9,), ax.COUNTER64, 2**40), ax.VarBind(BASE + (8,), ax.NO_SUCH_OBJECT),
           ax.VarBind((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), ax.OBJECT_IDENTIFIER, BASE + (2, 10, 0, 2))]
    out = _parse(ax.response_pdu(req, vbs))
    assert out.header.flags & ax.NETWORK_BYTE_ORDER and (out.header.session, out.header.packet) == (7, 9)
    assert out.varbinds == (ax.VarBind(BASE + (1, 1, 0), ax.OCTET_STRING, b"lvsfast"), *vbs[1:])


def test_split_keeps_a_partial_pdu():
    data = ax.ping_pdu(3, 4) + ax.ping_pdu(3, 5)
    buf = bytearray(data[:30])
    assert len(ax.split(buf)) == 1 and len(buf) == 10
    buf += data[30:]
    assert [h.packet for h, _ in ax.split(buf)] == [5]


def test_view_get_getnext_and_getbulk():
    v = View([integer(BASE + (2, 3, 1, 4, i), i) for i in (1, 2, 3)] + [string(BASE + (1, 2, 0), "r1")])
    assert v.get(BASE + (1, 2, 0)).value == b"r1" and v.get(BASE + (1, 3, 0)).type == ax.NO_SUCH_OBJECT
    r = ax.SearchRange
    assert v.next(r(BASE + (1, 2, 0), (), True)).oid == BASE + (1, 2, 0)
    assert v.next(r(BASE + (1, 2, 0), (), False)).oid == BASE + (2, 3, 1, 4, 1)
    assert v.next(r(BASE + (2, 3, 1, 4, 3), (), False)).type == ax.END_OF_MIB_VIEW
    assert v.next(r(BASE + (1,), BASE + (1, 2), False)).type == ax.END_OF_MIB_VIEW  # the end bounds it
    bulk = _parse(_request(ax.GETBULK, [(BASE + (1,), (), False), (BASE + (2,), (), False)], bulk=(1, 3)))
    assert [b.oid[-1] for b in v.answer(bulk)] == [0, 1, 2, 3]


def _config(*extra: tuple[str, tuple[str, ...]]):
    return types.SimpleNamespace(global_defs=types.SimpleNamespace(extra=tuple(extra)))


def test_settings_follow_keepalived():
    assert not from_config(_config()).enabled
    assert not from_config(_config(("enable_traps", ()))).enabled
    s = from_config(_config(("enable_snmp_rfc", ()), ("snmp_socket", ("tcp:localhost:705",)),
                            ("snmp_socket", ("/second",))))
    assert (s.vrrp, s.checker, s.rfcv2, s.rfcv3, s.socket) == (False, False, True, True, "tcp:localhost:705")
    s = from_config(_config(("enable_snmp_keepalived", ()), ("snmp_socket", ("/x",))),
                    types.SimpleNamespace(snmp=True, snmp_agent_socket="/a"))
    assert (s.vrrp, s.checker, s.rfcv2, s.rfcv3, s.socket) == (True, True, True, True, "/a")
    assert from_config(_config(("enable_snmp_vrrp", ()))).socket == DEFAULT_SOCKET
    assert address("unix:/var/agentx/master") == ("unix", "/var/agentx/master")
    assert address("tcp:[::1]:705") == ("tcp", ("::1", 705)) and address("localhost:7") == ("tcp", ("localhost", 7))


def test_the_daemon_imports_no_snmp_code_until_asked():
    import subprocess
    import sys

    code = ("import sys, lvsfast.daemon.main, lvsfast.daemon.supervisor, lvsfast.cli; "
            "print([m for m in sys.modules if 'snmp' in m])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _snapshot(last_reason: str, state: str = "MASTER"):
    from lvsfast.snmp.mib import Snapshot

    inst = types.SimpleNamespace(name="VI_1", state="BACKUP")
    data = {"vips": ["10.0.0.100/24 dev eth0"], "ifp_ifname": "eth0", "vrid": 51, "version": 2}
    status = {"instances": {
        "VI_1": {"state": state, "last_reason": last_reason,
                 "keepalived": {"data": data, "stats": {}, "text": {"src_ip": "10.0.0.2"}}},
        "VI_3": {"state": state, "last_reason": "sync group G1: VI_1 is MASTER",
                 "keepalived": {"data": data, "stats": {}, "text": {"src_ip": "10.0.0.2"}}}}}
    cfg = types.SimpleNamespace(vrrp_instances=(inst,))
    return Snapshot(config=cfg, vrrp=status, links={"eth0": (7, b"\0" * 6)}, router_id="r2")


def test_new_master_reasons_and_notifications_as_keepalived():
    from lvsfast.snmp.rfc import new_master_reason
    from lvsfast.snmp.settings import Settings
    from lvsfast.snmp.traps import for_event

    cases = {"the master left (priority 0 advert)": 1, "preempting a lower priority 100 master": 2,
             "address owner (priority 255)": 2, "no advert from a master within the master down interval": 3,
             "initial state MASTER": 3}
    for why, reason in cases.items():
        s = _snapshot(why)
        assert new_master_reason(s, "VI_1") == reason, why
        assert new_master_reason(s, "VI_3") == reason, why  # a sync group follower takes its leader's
    assert new_master_reason(_snapshot("start", "BACKUP"), "VI_1") == 0
    everything = Settings(vrrp=True, rfcv2=True, rfcv3=True, traps=True)
    sent = for_event({"event": "vrrp_state", "instance": "VI_1", "state": "MASTER"},
                     _snapshot("the master left (priority 0 advert)"), everything)
    assert [t[0].value[-3:] for t in sent] == [(10, 0, 2), (68, 0, 1), (207, 0, 1)]
    assert sent[0][1:] == [string(BASE + (2, 3, 1, 2), "VI_1"), integer(BASE + (2, 3, 1, 4), 2),
                           integer(BASE + (2, 3, 1, 5), 1), string(BASE + (1, 2, 0), "r2")]
    assert sent[2][1:] == [string((1, 3, 6, 1, 2, 1, 207, 1, 1, 1, 1, 3, 7, 51, 1), bytes([10, 0, 0, 2])),
                           integer((1, 3, 6, 1, 2, 1, 207, 1, 2, 5, 1, 2, 7, 51, 1), 1)]
    assert for_event({"event": "vrrp_state", "instance": "VI_1", "state": "MASTER"},
                     _snapshot(""), Settings(vrrp=True)) == []  # no enable_traps, no notification


def test_virtual_server_group_rows_in_keepalived_order():
    from lvsfast.config.model import VirtualServerGroup, VsgEntry
    from lvsfast.snmp.checker_mib import group_rows
    from lvsfast.snmp.mib import Snapshot

    grp = VirtualServerGroup("web", (VsgEntry("10.0.0.1", None, 80), VsgEntry(fwmark=7),
                                     VsgEntry("10.0.0.10", "10.0.0.12", 443)))
    snap = Snapshot(config=types.SimpleNamespace(virtual_server_groups=(grp,)), vrrp={})
    got = {v.oid[len(BASE) + 1:]: v.value for v in group_rows(snap)}
    assert got == {(1, 1, 2, 1): b"web",
                   (2, 1, 2, 1, 1): 1, (2, 1, 3, 1, 1): 7,  # the fwmark first, as keepalived lists them
                   (2, 1, 2, 1, 2): 2, (2, 1, 4, 1, 2): 1, (2, 1, 5, 1, 2): bytes([10, 0, 0, 1]), (2, 1, 8, 1, 2): 80,
                   (2, 1, 2, 1, 3): 3, (2, 1, 4, 1, 3): 1, (2, 1, 6, 1, 3): bytes([10, 0, 0, 10]),
                   (2, 1, 7, 1, 3): bytes([10, 0, 0, 12]), (2, 1, 8, 1, 3): 443}
