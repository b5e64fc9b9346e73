"""Golden packets: adverts captured from Debian's keepalived 2.2.7 (tcpdump on a veth peer), and
frames built by scapy as an independent encoder. Both twins decode every field of the captures and
build byte-identical packets from the same parameters.
"""
from __future__ import annotations

import socket

import pytest

from lvsfast.vrrp.reasons import Reason
from lvsfast.vrrp.wire_types import InstanceWire
from support.impls import implementations, resolve_impl

# keepalived 2.2.7, vrid 51, priority 120, advert_int 1, sent from 10.0.0.1 / fe80::ff:fe00:1.
KA_V2 = bytes.fromhex("45c0002c00010000ff70d08d0a000001e00000122133780200"
                      "01e1fec0000264c00002650000000000000000")
KA_V2_PASS = bytes.fromhex("45c0002800010000ff70d0910a000001e00000122133780101016719c00002647365637265740000")
KA_V3 = bytes.fromhex("45c0002400010000ff70d0950a000001e000001231337802" "0064e707c0000264c0000265")
# IPv6: the whole packet as captured; a raw IPv6 socket delivers only the part after byte 40.
KA_V3_V6 = bytes.fromhex(
    "6c01f504002870fffe80000000000000000000fffe000001ff020000000000000000000000000012"
    "31337802" "0064fbc3" "20010db8000000000000000000000100" "20010db8000000000000000000000101")

V4_VIPS2 = ("192.0.2.100", "192.0.2.101")
V6_VIPS = ("2001:db8::100", "2001:db8::101")


@pytest.fixture(params=implementations("vrrp_wire"), scope="module")
def wire(request):
    return resolve_impl(request.param)


CASES = [
    pytest.param(KA_V2, InstanceWire("VI_1", 51, 2, 4, 100, V4_VIPS2), id="v2"),
    pytest.param(KA_V2_PASS, InstanceWire("VI_1", 51, 2, 4, 100, ("192.0.2.100",), auth_type=1, auth_pass=b"secret"),
                 id="v2-pass"),
    pytest.param(KA_V3, InstanceWire("VI_1", 51, 3, 4, 100, V4_VIPS2), id="v3-ipv4"),
]


@pytest.mark.parametrize("packet,inst", CASES)
def test_keepalived_ipv4_capture_decodes(wire, packet, inst):
    adv = wire.Receiver("eth0", 4, [inst]).decode(packet)
    assert not isinstance(adv, int), Reason(adv).name
    assert (adv.version, adv.vrid, adv.priority, adv.count, adv.interval_cs, adv.ttl) == \
        (inst.version, 51, 120, len(inst.addresses), 100, 255)
    assert (adv.src, adv.addresses, adv.addresses_match, adv.instance) == ("10.0.0.1", inst.addresses, True, "VI_1")
    assert adv.auth_type == inst.auth_type
    assert adv.pseudo_header == (1 if inst.version == 3 else 0)  # keepalived 2.2 sends the pseudo-header form


@pytest.mark.parametrize("packet,inst", CASES)
def test_builder_is_byte_identical_to_keepalived(wire, packet, inst):
    b = wire.AdvertBuilder(inst.version, 51, 100, inst.addresses, 4, "10.0.0.1", "224.0.0.18",
                           auth_type=inst.auth_type, auth_pass=inst.auth_pass)
    assert b.build(120) == packet[20:]


def test_keepalived_ipv6_capture_decodes_and_builds(wire):
    src, dst, hlim, payload = KA_V3_V6[8:24], KA_V3_V6[24:40], KA_V3_V6[7], KA_V3_V6[40:]
    rx = wire.Receiver("eth0", 6, [InstanceWire("VI_1", 51, 3, 6, 100, V6_VIPS)])
    adv = rx.decode(payload, src, dst, hlim)
    assert (adv.version, adv.vrid, adv.priority, adv.interval_cs, adv.src, adv.addresses, adv.pseudo_header) == \
        (3, 51, 120, 100, "fe80::ff:fe00:1", V6_VIPS, 1)
    assert wire.AdvertBuilder(3, 51, 100, V6_VIPS, 6, "fe80::ff:fe00:1", "ff02::12").build(120) == payload
    # The same payload seen from another source fails the pseudo-header checksum.
    other = socket.inet_pton(socket.AF_INET6, "fe80::2")
    assert rx.decode(payload, other, dst, hlim) == Reason.CHECKSUM


def test_v3_ipv4_without_pseudo_header_is_rfc9568_form(wire):
    """``checksum_as_v2`` (keepalived's old form, RFC 9568's wording): no pseudo-header."""
    from support.vrrp_packets import csum

    pkt = wire.AdvertBuilder(3, 51, 100, V4_VIPS2, 4, "10.0.0.1", "224.0.0.18", checksum_as_v2=True).build(120)
    assert csum(pkt) == 0 and pkt != KA_V3[20:]
    adv = wire.Receiver("eth0", 4, [InstanceWire("VI_1", 51, 3, 4, 100, V4_VIPS2)]).decode(KA_V3[:20] + pkt)
    assert adv.pseudo_header == 0 and adv.priority == 120


# scapy comes with the venv's [bench] extra (scripts/venv.sh installs it for CI too).
def test_adverts_equal_scapys(wire):
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.vrrp import VRRP, VRRPv3

    vips = ["192.0.2.1", "192.0.2.2"]
    ours = wire.AdvertBuilder(3, 51, 25, vips, 4, "10.0.0.2", "224.0.0.18").build(150)
    assert ours == bytes(IP(src="10.0.0.2", dst="224.0.0.18") / VRRPv3(vrid=51, priority=150, ipcount=2,
                                                                       addrlist=vips, adv=25))[20:]
    ours = wire.AdvertBuilder(3, 51, 100, ["2001:db8::1"], 6, "fe80::1", "ff02::12").build(150)
    assert ours == bytes(IPv6(src="fe80::1", dst="ff02::12") / VRRPv3(vrid=51, priority=150, ipcount=1,
                                                                     addrlist=["2001:db8::1"], adv=100))[40:]
    ours = wire.AdvertBuilder(2, 51, 300, vips, 4, "10.0.0.2", "224.0.0.18").build(0)
    assert ours == bytes(IP(src="10.0.0.2", dst="224.0.0.18") / VRRP(vrid=51, priority=0, ipcount=2,
                                                                     addrlist=vips, adv=3))[20:]


def test_garp_and_na_equal_scapys(wire):
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import ARP, Ether

    vmac, vmac6 = bytes.fromhex("00005e000133"), bytes.fromhex("00005e000233")
    assert wire.build_garp(vmac, "192.0.2.100") == bytes(
        Ether(src="00:00:5e:00:01:33", dst="ff:ff:ff:ff:ff:ff") /
        ARP(op=1, hwsrc="00:00:5e:00:01:33", psrc="192.0.2.100", pdst="192.0.2.100", hwdst="00:00:00:00:00:00"))
    for router in (False, True):
        assert wire.build_na(vmac6, "fe80::1", "2001:db8::100", router=router) == bytes(
            Ether(src="00:00:5e:00:02:33", dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1", hlim=255) /
            ICMPv6ND_NA(tgt="2001:db8::100", R=int(router), S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr="00:00:5e:00:02:33"))
