"""VRRP adverts: every field decoded, every RFC 5798 §7.1 drop reason, built packets valid; both twins."""
from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings, strategies as st

from lvsfast.vrrp.reasons import Reason, describe
from lvsfast.vrrp.wire_types import InstanceWire, WireError
from support.impls import compiled_and_twin, implementations, resolve_impl, resolve_pair
from support.vrrp_packets import ipv4, vrrp

VIPS = [f"192.0.2.{i}" for i in range(1, 9)]
V6SRC, V6DST = socket.inet_pton(socket.AF_INET6, "fe80::1"), socket.inet_pton(socket.AF_INET6, "ff02::12")


@pytest.fixture(params=implementations("vrrp_wire"), scope="module")
def wire(request):
    return resolve_impl(request.param)


def v4rx(wire, **kw):
    insts = kw.pop("instances", None) or [
        InstanceWire("VI_3", 51, 3, 4, 100, tuple(VIPS)),
        InstanceWire("VI_2", 52, 2, 4, 100, ("192.0.2.50",), auth_type=1, auth_pass=b"secret"),
    ]
    return wire.Receiver("eth1", 4, insts)


def test_v3_ipv4_all_fields(wire):
    rx = v4rx(wire)
    adv = rx.decode(ipv4(vrrp(3, 51, 150, VIPS, interval=25)))
    assert not isinstance(adv, int), Reason(adv)
    assert (adv.version, adv.vrid, adv.priority, adv.count, adv.interval_cs) == (3, 51, 150, 8, 25)
    assert adv.src == "10.0.0.2" and adv.ttl == 255 and adv.instance == "VI_3"
    assert adv.pseudo_header == 1 and adv.addresses_match
    assert adv.addresses == tuple(VIPS)
    assert rx.counters()["accepted"] == 1


def test_v3_ipv4_without_pseudo_header_accepted_and_recorded(wire):
    adv = v4rx(wire).decode(ipv4(vrrp(3, 51, 100, VIPS, pseudo_header=False)))
    assert adv.pseudo_header == 0


def test_v2_with_password(wire):
    adv = v4rx(wire).decode(ipv4(vrrp(2, 52, 100, ["192.0.2.50"], auth_type=1, auth=b"secret")))
    assert (adv.version, adv.auth_type, adv.interval_cs) == (2, 1, 100)


def test_v3_ipv6(wire):
    rx = wire.Receiver("eth1", 6, [InstanceWire("VI_6", 7, 3, 6, 100, ("2001:db8::1", "fe80::100"))])
    body = vrrp(3, 7, 200, ["2001:db8::1", "fe80::100"], family=6, src="fe80::1", dst="ff02::12")
    adv = rx.decode(body, V6SRC, V6DST, 255)
    assert (adv.vrid, adv.priority, adv.src, adv.addresses) == (7, 200, "fe80::1", ("2001:db8::1", "fe80::100"))
    assert rx.decode(body, V6SRC, V6DST, 64) == Reason.TTL
    gsrc = socket.inet_pton(socket.AF_INET6, "2001:db8::9")
    body = vrrp(3, 7, 200, ["2001:db8::1", "fe80::100"], family=6, src="2001:db8::9", dst="ff02::12")
    assert rx.decode(body, gsrc, V6DST, 255) == Reason.IPV6_LINK_LOCAL


DROPS = [
    (Reason.IP_HEADER, lambda: b"\x45\x00" + b"\0" * 10),
    (Reason.IP_HEADER, lambda: ipv4(vrrp(3, 51, 1, VIPS), proto=6)),
    (Reason.TTL, lambda: ipv4(vrrp(3, 51, 1, VIPS), ttl=254)),
    (Reason.TOO_SHORT, lambda: ipv4(b"\x31\x33\x01")),
    (Reason.VERSION, lambda: ipv4(b"\x41" + vrrp(3, 51, 1, VIPS)[1:])),
    (Reason.ADDRESS_COUNT, lambda: ipv4(vrrp(3, 51, 1, [], count=0))),
    (Reason.LENGTH, lambda: ipv4(vrrp(3, 51, 1, VIPS, count=7))),
    (Reason.CHECKSUM, lambda: ipv4(vrrp(3, 51, 1, VIPS, bad_checksum=True))),
    (Reason.VRID, lambda: ipv4(vrrp(3, 99, 1, VIPS))),
    (Reason.TYPE, lambda: ipv4(vrrp(3, 51, 1, VIPS, typ=2))),
    (Reason.INTERVAL_ZERO, lambda: ipv4(vrrp(3, 51, 1, VIPS, interval=0))),
    (Reason.INTERVAL, lambda: ipv4(vrrp(2, 52, 1, ["192.0.2.50"], interval=200, auth_type=1, auth=b"secret"))),
    (Reason.AUTH, lambda: ipv4(vrrp(2, 52, 1, ["192.0.2.50"], auth_type=1, auth=b"wrong"))),
    (Reason.AUTH, lambda: ipv4(vrrp(2, 52, 1, ["192.0.2.50"], auth_type=0))),
]


@pytest.mark.parametrize("reason,make", DROPS, ids=[f"{r.name}-{i}" for i, (r, _) in enumerate(DROPS)])
def test_each_drop_reason_is_counted(wire, reason, make):
    rx = v4rx(wire)
    assert rx.decode(make()) == reason
    c = rx.counters()
    assert c["received"] == 1 and c["accepted"] == 0
    assert sum(v for k, v in c.items() if k not in ("received", "accepted")) == 1


def test_version_mismatch_is_named_plainly(wire):
    rx = v4rx(wire)
    assert rx.decode(ipv4(vrrp(2, 51, 100, VIPS))) == Reason.VERSION
    reason, vrid, version, inst = rx.last
    assert describe(reason, ifname=rx.ifname, vrid=vrid, got_version=version, instance=inst, our_version=3) == \
        "received VRRPv2 advert for VRID 51 on eth1, instance VI_3 runs VRRPv3"
    assert rx.counters()["version_mismatch"] == 1


def test_address_list_differs_is_flagged_not_dropped(wire):
    rx = v4rx(wire)
    adv = rx.decode(ipv4(vrrp(3, 51, 100, list(reversed(VIPS)))))
    assert adv.addresses_match  # same set, other order
    adv = rx.decode(ipv4(vrrp(3, 51, 100, VIPS[:7] + ["198.51.100.1"])))
    assert not adv.addresses_match and rx.counters()["address_list_mismatch"] == 1


@pytest.mark.parametrize("version,family,pseudo", [(2, 4, True), (3, 4, True), (3, 4, False), (3, 6, True)])
def test_builder_output_is_accepted(wire, version, family, pseudo):
    if family == 4:
        src, dst, vips = "10.0.0.2", "224.0.0.18", VIPS
        inst = InstanceWire("VI", 51, version, 4, 100, tuple(vips))
    else:
        src, dst, vips = "fe80::1", "ff02::12", ["2001:db8::1"]
        inst = InstanceWire("VI", 51, 3, 6, 100, tuple(vips))
    b = wire.AdvertBuilder(version, 51, 100, vips, family, src, dst, checksum_as_v2=not pseudo)
    rx = wire.Receiver("eth0", family, [inst])
    for prio in (0, 1, 100, 255):
        pkt = b.build(prio)
        assert pkt == vrrp(version, 51, prio, vips, family=family, src=src, dst=dst, pseudo_header=pseudo)
        adv = rx.decode(ipv4(pkt, src=src, dst=dst)) if family == 4 else rx.decode(pkt, V6SRC, V6DST, 255)
        assert adv.priority == prio and adv.pseudo_header == (1 if pseudo and version == 3 else 0)


def test_builder_refuses_bad_parameters(wire):
    with pytest.raises(WireError):
        wire.AdvertBuilder(2, 51, 150, VIPS, 4, "10.0.0.2", "224.0.0.18")  # v2 needs whole seconds
    with pytest.raises(WireError):
        wire.AdvertBuilder(2, 51, 100, ["2001:db8::1"], 6, "fe80::1", "ff02::12")
    with pytest.raises(WireError):
        wire.AdvertBuilder(3, 0, 100, VIPS, 4, "10.0.0.2", "224.0.0.18")
    with pytest.raises(WireError):
        wire.AdvertBuilder(3, 51, 100, VIPS, 4, "10.0.0.2", "224.0.0.18").build(256)


def test_garp_and_na_frames(wire):
    mac = bytes.fromhex("00005e000133")
    f = wire.build_garp(mac, "192.0.2.100")
    assert f[:6] == b"\xff" * 6 and f[6:12] == mac and f[12:14] == b"\x08\x06"
    assert f[20:22] == b"\x00\x01" and f[28:32] == f[38:42] == socket.inet_aton("192.0.2.100")
    na = wire.build_na(mac, "fe80::1", "2001:db8::100", router=True)
    assert na[:6] == bytes.fromhex("333300000001") and na[12:14] == b"\x86\xdd" and na[54] == 136
    assert na[58] == 0xA0  # router + override
    from support.vrrp_packets import csum, pseudo
    ip6 = na[14:54]
    assert csum(na[54:], pseudo(ip6[8:24], ip6[24:40], 32) - 112 + 58) == 0


@pytest.mark.parametrize("pair", compiled_and_twin("vrrp_wire"))
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 255))
def test_twins_agree_on_arbitrary_bytes(pair, data, ttl_byte):
    comp, twin = resolve_pair(pair)
    insts = [InstanceWire("VI_3", 51, 3, 4, 100, tuple(VIPS)), InstanceWire("VI_2", 52, 2, 4, 100, ("192.0.2.50",))]
    for blob in (data, ipv4(data[:100]), ipv4(vrrp(3, 51, 1, VIPS)[:8] + data[:40], ttl=ttl_byte)):
        a = twin.Receiver("e", 4, insts).decode(blob)
        rb = comp.Receiver("e", 4, insts)
        b = rb.decode(blob)
        if isinstance(a, int):
            assert a == b
        else:
            assert (a.vrid, a.priority, a.interval_cs, a.addresses_raw, a.addresses_match, a.pseudo_header) == \
                (b.vrid, b.priority, b.interval_cs, b.addresses_raw, b.addresses_match, b.pseudo_header)
    six = [InstanceWire("V6", 7, 3, 6, 100, ("2001:db8::1",))]
    a = twin.Receiver("e", 6, six).decode(data, V6SRC, V6DST, ttl_byte)
    b = comp.Receiver("e", 6, six).decode(data, V6SRC, V6DST, ttl_byte)
    assert (a if isinstance(a, int) else a.vrid) == (b if isinstance(b, int) else b.vrid)


# An advert captured from keepalived 2.2.7 with auth_type AH, auth_pass secret (VRID 51, prio 120).
KEEPALIVED_AH = bytes.fromhex(
    "45c0004000010000ff33d0b60a000001e0000012700400000a000001000000013500630d3bf57a16637c6ffc"
    "213378010201a265c00002640000000000000000")


def test_ah_advert_from_keepalived(wire):
    from lvsfast.vrrp import ah

    inst = InstanceWire("VI_AH", 51, 2, 4, 100, ("192.0.2.100",), auth_type=2, auth_pass=b"secret")
    adv = wire.Receiver("eth0", 4, [inst]).decode(KEEPALIVED_AH)
    assert not isinstance(adv, int), Reason(adv)
    assert (adv.vrid, adv.priority, adv.auth_type, adv.src) == (51, 120, 2, "10.0.0.1")
    wrong = InstanceWire("VI_AH", 51, 2, 4, 100, ("192.0.2.100",), auth_type=2, auth_pass=b"other")
    assert wire.Receiver("eth0", 4, [wrong]).decode(KEEPALIVED_AH) == Reason.AUTH
    plain = InstanceWire("VI", 51, 2, 4, 100, ("192.0.2.100",))
    assert wire.Receiver("eth0", 4, [plain]).decode(KEEPALIVED_AH) == Reason.AUTH
    # Our AH packets are byte-identical to keepalived's for the same inputs.
    vrrp_payload = wire.AdvertBuilder(2, 51, 100, ["192.0.2.100"], 4, "10.0.0.1", "224.0.0.18", auth_type=2).build(120)
    assert ah.wrap(vrrp_payload, "10.0.0.1", "224.0.0.18", b"secret", seq=1, ip_id=1) == KEEPALIVED_AH


@pytest.mark.parametrize("ttl", [1, 10, 254])
def test_unicast_instances_take_any_ttl_multicast_ones_only_255(wire, ttl):
    # keepalived takes unicast_peer adverts whatever their TTL (unicast_ttl, routed peers);
    # the RFC's TTL 255 rule stays for multicast instances on the same receiver.
    rx = wire.Receiver("eth1", 4, [InstanceWire("UNI", 51, 3, 4, 100, tuple(VIPS), unicast=True),
                                   InstanceWire("MC", 52, 3, 4, 100, ("192.0.2.50",))])
    adv = rx.decode(ipv4(vrrp(3, 51, 150, VIPS), ttl=ttl))
    assert not isinstance(adv, int), Reason(adv)
    assert adv.ttl == ttl and adv.instance == "UNI"
    assert rx.decode(ipv4(vrrp(3, 52, 150, ["192.0.2.50"]), ttl=ttl)) == Reason.TTL
    assert rx.decode(ipv4(b"\x31\x33\x01", ttl=ttl)) == Reason.TTL  # too short to name an instance
