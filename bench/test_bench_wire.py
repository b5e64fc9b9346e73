"""VRRP wire hot paths: compiled core vs pure twin vs scapy (and a plain struct parser).

decode+validate+checksum of a v3 IPv4 advert with 8 addresses; encode+checksum; GARP build.
Batch groups decode 1,000 packets per call (as recvmmsg delivers them), so the per-call overhead
of pytest-benchmark does not hide the per-packet cost: ``per_call`` divides it back out.
"""
from __future__ import annotations

import socket
import struct
import sys
from pathlib import Path

import pytest

from lvsfast import _native
from lvsfast.vrrp.wire_types import InstanceWire

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.vrrp_packets import ipv4, vrrp  # noqa: E402

VIPS = [f"192.0.2.{i}" for i in range(1, 9)]
PACKET = ipv4(vrrp(3, 51, 150, VIPS))
INST = [InstanceWire("VI_1", 51, 3, 4, 100, tuple(VIPS))]
BATCH = [PACKET] * 1000


def impl(name: str):
    mod = _native.compiled_module("vrrp_wire") if name == "compiled" else _native.twin_module("vrrp_wire")
    if mod is None:
        pytest.skip("compiled core not built")
    return mod


def _struct_decode(pkt: bytes):
    """A plain struct parser with its checksum: the fastest pure-Python form (issue's 1.4 us)."""
    ihl = (pkt[0] & 15) * 4
    ver_type, vrid, prio, count, interval, cs = struct.unpack_from("!BBBBHH", pkt, ihl)
    body = pkt[ihl:]
    s = sum(struct.unpack(f"!{len(body) // 2}H", body)) + sum(struct.unpack("!4H", pkt[12:20])) + 112 + len(body)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (ver_type >> 4, vrid, prio, count, interval & 0xFFF, s == 0xFFFF)


@pytest.mark.parametrize("which", ["compiled", "python", "scapy", "struct"])
def test_decode_v3_ipv4_8_addresses(benchmark, which):
    benchmark.group = "decode+validate v3 IPv4 8 addrs"
    benchmark.extra_info["impl"] = which
    if which == "scapy":
        from scapy.layers.inet import IP
        import scapy.layers.vrrp  # noqa: F401  (binds VRRPv3 to IP proto 112)

        def dissect(p=PACKET):
            pkt = IP(p)
            v = pkt.payload
            return v.vrid, v.priority, v.addrlist, v.chksum

        benchmark(dissect)
    elif which == "struct":
        assert _struct_decode(PACKET)[5]
        benchmark(_struct_decode, PACKET)
    else:
        rx = impl(which).Receiver("eth0", 4, INST)
        adv = benchmark(rx.decode, PACKET)
        assert adv.priority == 150


@pytest.mark.parametrize("which", ["compiled", "python"])
def test_decode_batch_1000(benchmark, which):
    benchmark.group = "decode+validate batch (per packet)"
    benchmark.extra_info["impl"] = which
    benchmark.extra_info["per_call"] = len(BATCH)
    rx = impl(which).Receiver("eth0", 4, INST)
    out = benchmark(rx.decode_batch, BATCH)
    assert out[-1].priority == 150


@pytest.mark.parametrize("which", ["compiled", "python", "scapy"])
def test_encode_v3(benchmark, which):
    benchmark.group = "encode+checksum v3 IPv4 8 addrs"
    benchmark.extra_info["impl"] = which
    if which == "scapy":
        from scapy.layers.inet import IP
        from scapy.layers.vrrp import VRRPv3

        def build():
            return bytes(IP(src="10.0.0.2", dst="224.0.0.18", ttl=255) / VRRPv3(vrid=51, priority=150, ipcount=8, addrlist=VIPS))

        benchmark(build)
    else:
        b = impl(which).AdvertBuilder(3, 51, 100, VIPS, 4, "10.0.0.2", "224.0.0.18")
        assert benchmark(b.build, 150) == PACKET[20:]


@pytest.mark.parametrize("which", ["compiled", "python", "scapy"])
def test_garp_build(benchmark, which):
    benchmark.group = "GARP build"
    benchmark.extra_info["impl"] = which
    mac = bytes.fromhex("00005e000133")
    if which == "scapy":
        from scapy.layers.l2 import ARP, Ether

        benchmark(lambda: bytes(Ether(src="00:00:5e:00:01:33", dst="ff:ff:ff:ff:ff:ff") /
                               ARP(op=1, hwsrc="00:00:5e:00:01:33", psrc="192.0.2.100", pdst="192.0.2.100")))
    else:
        benchmark(impl(which).build_garp, mac, "192.0.2.100")
