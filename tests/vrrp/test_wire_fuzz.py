"""A bounded fuzz run over decode: arbitrary bytes never crash, hang or disagree between twins.

Bounded for CI: LVSFAST_FUZZ_EXAMPLES (default 12,000 for the IPv4 target, half for IPv6, a quarter
for AH; about 18 s in all) keeps the area under 3 minutes of CI. Raise it for a long local run.
"""
from __future__ import annotations

import os
import socket

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lvsfast.vrrp.wire_types import InstanceWire
from support.impls import compiled_and_twin, resolve_pair
from support.vrrp_packets import ipv4, vrrp

N = int(os.environ.get("LVSFAST_FUZZ_EXAMPLES", "12000"))
PAIR = pytest.mark.parametrize("pair", compiled_and_twin("vrrp_wire"))
V4 = [InstanceWire("A", 51, 3, 4, 100, ("192.0.2.1", "192.0.2.2")),
      InstanceWire("B", 52, 2, 4, 100, ("192.0.2.3",), auth_type=1, auth_pass=b"pw")]
V6 = [InstanceWire("C", 51, 3, 6, 100, ("2001:db8::1",))]
SEED = ipv4(vrrp(3, 51, 100, ["192.0.2.1", "192.0.2.2"]))
LL = socket.inet_pton(socket.AF_INET6, "fe80::1")
MC = socket.inet_pton(socket.AF_INET6, "ff02::12")


def same(a, b) -> bool:
    if isinstance(a, int) or isinstance(b, int):
        return a == b
    return (a.version, a.vrid, a.priority, a.count, a.interval_cs, a.addresses_raw, a.addresses_match,
            a.pseudo_header, a.src, a.auth_type) == \
        (b.version, b.vrid, b.priority, b.count, b.interval_cs, b.addresses_raw, b.addresses_match,
         b.pseudo_header, b.src, b.auth_type)


# Mutations of a valid packet reach the deep checks far more often than random bytes.
mutated = st.builds(lambda pos, val, cut: (SEED[:pos] + bytes([val]) + SEED[pos + 1:])[:cut],
                    st.integers(0, len(SEED) - 1), st.integers(0, 255), st.integers(0, len(SEED) + 4))


@PAIR
@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=300), mutated, st.builds(ipv4, st.binary(max_size=80))))
def test_fuzz_decode_ipv4(pair, data):
    COMP, TWIN = resolve_pair(pair)
    rt, rc = TWIN.Receiver("f", 4, V4), COMP.Receiver("f", 4, V4)
    assert same(rt.decode(data), rc.decode(data))
    assert rt.counters() == rc.counters() and rt.last == rc.last


@PAIR
@settings(max_examples=N // 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=120), st.integers(-1, 256))
def test_fuzz_decode_ipv6(pair, data, ttl):
    COMP, TWIN = resolve_pair(pair)
    rt, rc = TWIN.Receiver("f", 6, V6), COMP.Receiver("f", 6, V6)
    assert same(rt.decode(data, LL, MC, ttl), rc.decode(data, LL, MC, ttl))
    assert rt.counters() == rc.counters()


# keepalived 2.2.7's AH advert (tests/vrrp/test_wire_codec.py): mutations exercise the AH path.
AH_SEED = bytes.fromhex(
    "45c0004000010000ff33d0b60a000001e0000012700400000a000001000000013500630d3bf57a16637c6ffc"
    "213378010201a265c00002640000000000000000")
V4_AH = [InstanceWire("AH", 51, 2, 4, 100, ("192.0.2.100",), auth_type=2, auth_pass=b"secret")]
mutated_ah = st.builds(lambda pos, val, cut: (AH_SEED[:pos] + bytes([val]) + AH_SEED[pos + 1:])[:cut],
                       st.integers(0, len(AH_SEED) - 1), st.integers(0, 255), st.integers(0, len(AH_SEED) + 4))


@PAIR
@settings(max_examples=N // 4, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_ah)
def test_fuzz_decode_ah(pair, data):
    COMP, TWIN = resolve_pair(pair)
    rt, rc = TWIN.Receiver("f", 4, V4_AH), COMP.Receiver("f", 4, V4_AH)
    assert same(rt.decode(data), rc.decode(data))
    assert rt.counters() == rc.counters() and rt.last == rc.last
