"""Batch decode: one call per recvmmsg batch, same results as one decode per packet; both twins."""
from __future__ import annotations

import socket

import pytest

from lvsfast.vrrp.reasons import Reason
from lvsfast.vrrp.wire_types import InstanceWire
from support.impls import implementations, resolve_impl
from support.vrrp_packets import ipv4, vrrp

VIPS = ["192.0.2.1", "192.0.2.2"]
LL = socket.inet_pton(socket.AF_INET6, "fe80::1")
GLOBAL = socket.inet_pton(socket.AF_INET6, "2001:db8::9")
MC = socket.inet_pton(socket.AF_INET6, "ff02::12")


@pytest.fixture(params=implementations("vrrp_wire"), scope="module")
def wire(request):
    return resolve_impl(request.param)


def test_ipv4_batch_of_bare_packets_and_recv_tuples(wire):
    rx = wire.Receiver("eth0", 4, [InstanceWire("VI_1", 51, 3, 4, 100, tuple(VIPS))])
    good = ipv4(vrrp(3, 51, 150, VIPS))
    bad = ipv4(vrrp(3, 51, 150, VIPS, bad_checksum=True))
    items = [good, bytearray(good), (good, None, None, -1, 3), bad, (bad, None, None, -1, 3), b"", ("short",)]
    out = wire.Receiver("eth0", 4, [InstanceWire("VI_1", 51, 3, 4, 100, tuple(VIPS))]).decode_batch(items)
    assert [o if isinstance(o, int) else o.priority for o in out] == [
        150, 150, 150, Reason.CHECKSUM, Reason.CHECKSUM, Reason.IP_HEADER, Reason.IP_HEADER]
    one_by_one = [rx.decode(i) for i in items[:2]] + [rx.decode(*items[2][:4])]
    assert all(o.priority == 150 for o in one_by_one)


def test_ipv6_batch_uses_per_packet_metadata(wire):
    rx = wire.Receiver("eth0", 6, [InstanceWire("VI_6", 7, 3, 6, 100, ("2001:db8::1",))])
    body = vrrp(3, 7, 200, ["2001:db8::1"], family=6, src="fe80::1", dst="ff02::12")
    gbody = vrrp(3, 7, 200, ["2001:db8::1"], family=6, src="2001:db8::9", dst="ff02::12")
    out = rx.decode_batch([(body, LL, MC, 255, 2), (body, LL, MC, 64, 2), (gbody, GLOBAL, MC, 255, 2),
                           (body, None, MC, 255, 2)])
    assert out[0].src == "fe80::1" and out[0].priority == 200
    assert out[1:] == [Reason.TTL, Reason.IPV6_LINK_LOCAL, Reason.IP_HEADER]
    c = rx.counters()
    assert (c["received"], c["accepted"], c["bad_ttl"], c["ipv6_source_not_link_local"]) == (4, 1, 1, 1)


def test_describe_last_names_both_versions(wire):
    rx = wire.Receiver("eth1", 4, [InstanceWire("VI_1", 51, 2, 4, 100, tuple(VIPS))])
    assert rx.decode(ipv4(vrrp(3, 51, 150, VIPS, src="10.0.0.9"), src="10.0.0.9")) == Reason.VERSION
    assert rx.describe_last() == "received VRRPv3 advert for VRID 51 on eth1, instance VI_1 runs VRRPv2"
    assert rx.describe_last("10.0.0.9") == \
        "received VRRPv3 advert for VRID 51 on eth1 from 10.0.0.9, instance VI_1 runs VRRPv2"
    assert rx.decode(ipv4(vrrp(3, 52, 150, VIPS))) == Reason.VRID
    assert rx.describe_last() == "dropped VRRP packet for VRID 52 on eth1: VRID 52 is not configured on this interface"


def test_ipv6_unicast_instance_accepts_a_global_source(wire):
    gbody = vrrp(3, 7, 200, ["2001:db8::1"], family=6, src="2001:db8::9", dst="2001:db8::2")
    dst = socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    multicast = wire.Receiver("eth0", 6, [InstanceWire("VI_6", 7, 3, 6, 100, ("2001:db8::1",))])
    assert multicast.decode(gbody, GLOBAL, dst, 255) == Reason.IPV6_LINK_LOCAL
    unicast = wire.Receiver("eth0", 6, [InstanceWire("VI_6", 7, 3, 6, 100, ("2001:db8::1",), unicast=True)])
    adv = unicast.decode(gbody, GLOBAL, dst, 255)
    assert adv.src == "2001:db8::9" and adv.priority == 200


def test_src_packed_for_tie_breaks(wire):
    rx = wire.Receiver("eth0", 4, [InstanceWire("VI_1", 51, 3, 4, 100, tuple(VIPS))])
    adv = rx.decode(ipv4(vrrp(3, 51, 150, VIPS, src="10.0.0.9"), src="10.0.0.9"))
    assert adv.src_packed == socket.inet_aton("10.0.0.9")
    rx6 = wire.Receiver("eth0", 6, [InstanceWire("VI_6", 7, 3, 6, 100, ("2001:db8::1",))])
    adv = rx6.decode(vrrp(3, 7, 200, ["2001:db8::1"], family=6, src="fe80::1", dst="ff02::12"), LL, MC, 255)
    assert adv.src_packed == LL
