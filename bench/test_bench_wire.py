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


TITLE = "VRRP wire"


def summary(medians) -> list[str]:
    """The issue's targets: per packet in a batch against the twin, scapy and struct."""
    out = []
    single = medians.ns("decode v3 IPv4 8 addrs", "compiled")
    batch = medians.ns("decode batch, per packet", "compiled")
    twin = medians.ns("decode batch, per packet", "python")
    scapy = medians.ns("decode v3 IPv4 8 addrs", "scapy")
    struct_ = medians.ns("decode v3 IPv4 8 addrs", "struct")
    for name, other in (("twin (batch)", twin), ("scapy", scapy), ("struct", struct_)):
        if batch and other:
            out.append(f"  decode per packet in a batch: compiled {batch:.1f} ns; {name} is {other / batch:.0f}x slower")
    if single and batch:
        out.append(f"  (single-call decode {single:.1f} ns includes pytest-benchmark's call overhead)")
    if batch:
        out.append(f"  issue targets: <=150 ns {'met' if batch <= 150 else 'MISSED'}; "
                   f">=10x twin {'met' if twin and twin / batch >= 10 else 'MISSED'}; "
                   f">=300x scapy {'met' if scapy and scapy / batch >= 300 else 'MISSED'}")
    return out


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
def test_decode_v3_ipv4_8_addresses(benchmark, medians, which):
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
    medians.record(benchmark, "decode v3 IPv4 8 addrs", which)


@pytest.mark.parametrize("which", ["compiled", "python"])
def test_decode_batch_1000(benchmark, medians, which):
    benchmark.group = "decode+validate batch (per packet)"
    benchmark.extra_info["impl"] = which
    benchmark.extra_info["per_call"] = len(BATCH)
    rx = impl(which).Receiver("eth0", 4, INST)
    out = benchmark(rx.decode_batch, BATCH)
    assert out[-1].priority == 150
    medians.record(benchmark, "decode batch, per packet", which, len(BATCH))


@pytest.mark.parametrize("which", ["compiled", "python"])
def test_decode_batch_recv_tuples_1000(benchmark, medians, which):
    """The form the engine uses: recv_batch's (packet, src, dst, ttl, ifindex) tuples."""
    benchmark.group = "decode+validate batch of recv tuples (per packet)"
    benchmark.extra_info["impl"] = which
    benchmark.extra_info["per_call"] = len(BATCH)
    rx = impl(which).Receiver("eth0", 4, INST)
    items = [(p, None, None, -1, 2) for p in BATCH]
    out = benchmark(rx.decode_batch, items)
    assert out[-1].priority == 150
    medians.record(benchmark, "decode batch of recv tuples, per packet", which, len(BATCH))


@pytest.mark.parametrize("which", ["compiled", "python", "scapy"])
def test_encode_v3(benchmark, medians, which):
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
    medians.record(benchmark, "encode+checksum v3 IPv4 8 addrs", which)


@pytest.mark.parametrize("which", ["compiled", "python", "scapy"])
def test_garp_build(benchmark, medians, which):
    benchmark.group = "GARP build"
    benchmark.extra_info["impl"] = which
    mac = bytes.fromhex("00005e000133")
    if which == "scapy":
        from scapy.layers.l2 import ARP, Ether

        benchmark(lambda: bytes(Ether(src="00:00:5e:00:01:33", dst="ff:ff:ff:ff:ff:ff") /
                               ARP(op=1, hwsrc="00:00:5e:00:01:33", psrc="192.0.2.100", pdst="192.0.2.100")))
    else:
        assert len(benchmark(impl(which).build_garp, mac, "192.0.2.100")) == 42
    medians.record(benchmark, "GARP build", which)


@pytest.mark.parametrize("which", ["compiled", "python", "scapy"])
def test_na_build(benchmark, medians, which):
    benchmark.group = "unsolicited NA build"
    benchmark.extra_info["impl"] = which
    mac = bytes.fromhex("00005e000233")
    if which == "scapy":
        from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
        from scapy.layers.l2 import Ether

        benchmark(lambda: bytes(Ether(src="00:00:5e:00:02:33", dst="33:33:00:00:00:01") /
                               IPv6(src="fe80::1", dst="ff02::1", hlim=255) /
                               ICMPv6ND_NA(tgt="2001:db8::100", R=1, S=0, O=1) /
                               ICMPv6NDOptDstLLAddr(lladdr="00:00:5e:00:02:33")))
    else:
        assert len(benchmark(impl(which).build_na, mac, "fe80::1", "2001:db8::100", True)) == 86
    medians.record(benchmark, "unsolicited NA build", which)


@pytest.mark.parametrize("which", ["compiled", "python"])
def test_recv_batch_64(benchmark, medians, which):
    """Draining 64 waiting datagrams: one recvmmsg (compiled) against 64 recvmsg calls (twin).

    A UDP socket on loopback stands in for the raw VRRP socket (same ancillary-data path, no root);
    each round's setup queues 64 packets, so only the receive is timed.
    """
    benchmark.group = "receive batch of 64 (per packet)"
    benchmark.extra_info["impl"] = which
    mod = _native.compiled_module("vrrp_socket") if which == "compiled" else _native.twin_module("vrrp_socket")
    if mod is None:
        pytest.skip("compiled core not built")
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    rx.setsockopt(socket.IPPROTO_IP, 8, 1)  # IP_PKTINFO, as the VRRP socket sets it
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    addr = rx.getsockname()
    payload = PACKET[20:]

    def fill():
        for _ in range(64):
            tx.sendto(payload, addr)
        return (rx.fileno(), 4, 64), {}

    try:
        out = benchmark.pedantic(mod.recv_batch, setup=fill, rounds=2000, warmup_rounds=20)
        assert len(out) == 64 and out[0][0] == payload and out[0][4] == 1  # ifindex of lo
    finally:
        rx.close()
        tx.close()
    medians.record(benchmark, "receive batch of 64, per packet", which, 64)
