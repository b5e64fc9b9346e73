"""BFD control packets: every field decoded, every RFC 5880 §6.8.6 drop reason, encode; both twins,
a differential fuzz, and the guard that the compiled module loaded."""
from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lvsfast import _native
from lvsfast.bfd import wire
from lvsfast.bfd.wire_types import REASONS, BfdWireError, ControlPacket
from support.impls import compiled_and_twin, implementations, resolve_impl, resolve_pair

N = int(os.environ.get("LVSFAST_FUZZ_EXAMPLES", "12000")) // 2
PAIR = pytest.mark.parametrize("pair", compiled_and_twin("bfd_wire"))
HEADER = struct.Struct("!BBBBIIIII")


@pytest.fixture(params=implementations("bfd_wire"), scope="module")
def bw(request):
    return resolve_impl(request.param)


def raw(b0=0x20, b1=0xC0, mult=3, length=24, my=0x01020304, your=0x0A0B0C0D, tx=10_000, rx=20_000, echo=0,
        tail=b"") -> bytes:
    return HEADER.pack(b0, b1, mult, length, my, your, tx, rx, echo) + tail


# What FRR's bfdd sends while Up with a Poll: version 1, diag 0, Up|P, mult 3, 300 ms both ways.
GOLDEN_UP_POLL = bytes.fromhex("20e00318" "2a7c9b01" "00000001" "000493e0" "000493e0" "00000000")


def test_golden_packet_all_fields(bw):
    p = bw.decode(GOLDEN_UP_POLL)
    assert type(p) is ControlPacket
    assert p == ControlPacket(version=1, diag=0, state=wire.UP, poll=True, final=False, cpi=False, auth=False,
                              demand=False, multipoint=False, detect_mult=3, length=24, my_disc=0x2A7C9B01, your_disc=1,
                              desired_min_tx=300_000, required_min_rx=300_000, required_min_echo_rx=0)
    assert bw.encode(wire.UP, 0, 3, 0x2A7C9B01, 1, 300_000, 300_000, poll=True) == GOLDEN_UP_POLL


def test_every_flag_and_field(bw):
    p = bw.decode(raw(b0=0x20 | 31, b1=0x40 | 0x10 | 0x08 | 0x02, mult=255, my=2**32 - 1, your=2**32 - 1,
                      tx=2**32 - 1, rx=0, echo=7))
    assert (p.diag, p.state, p.poll, p.final, p.cpi, p.auth, p.demand, p.multipoint) == \
        (31, wire.DOWN, False, True, True, False, True, False)
    assert (p.detect_mult, p.my_disc, p.your_disc, p.desired_min_tx, p.required_min_rx, p.required_min_echo_rx) == \
        (255, 2**32 - 1, 2**32 - 1, 2**32 - 1, 0, 7)


@pytest.mark.parametrize("reason, packet", [
    ("version", raw(b0=0x40)),
    ("version", raw(b0=0x00)),
    ("version", b"\x40"),
    ("length", b""),
    ("length", raw()[:23]),
    ("length", raw(length=23)),
    ("length", raw(length=25)),  # more than the 24 bytes there are
    ("length", raw(b1=0xC4, length=24)),  # with the A bit the least is 26
    ("detect_mult", raw(mult=0)),
    ("multipoint", raw(b1=0xC1)),
    ("my_disc", raw(my=0)),
    ("your_disc_zero_state", raw(b1=0x80, your=0)),  # Init
    ("your_disc_zero_state", raw(b1=0xC0, your=0)),  # Up
    ("auth_mismatch", raw(b1=0xC4, length=26, tail=b"\x01\x02")),
    ("poll_final", raw(b1=0xF0)),
])
def test_each_drop_reason(bw, reason, packet):
    assert reason in REASONS
    with pytest.raises(BfdWireError) as e:
        bw.decode(packet)
    assert e.value.reason == reason and isinstance(e.value, ValueError)
    assert bw.reject_reason(packet) == reason
    assert bw.decode_batch([packet, raw()])[0] == reason


def test_checks_run_in_the_rfcs_order(bw):
    # Version before length, length before the rest, and so on down §6.8.6.
    assert bw.reject_reason(raw(b0=0x40, mult=0)[:10]) == "version"
    assert bw.reject_reason(raw(length=40, mult=0)) == "length"
    assert bw.reject_reason(raw(mult=0, b1=0xC1, my=0)) == "detect_mult"
    assert bw.reject_reason(raw(b1=0xC1, my=0)) == "multipoint"
    assert bw.reject_reason(raw(my=0, your=0)) == "my_disc"


def test_down_and_admin_down_may_carry_your_disc_zero(bw):
    assert bw.decode(raw(b1=0x40, your=0)).your_disc == 0
    assert bw.decode(raw(b1=0x00, your=0)).state == wire.ADMIN_DOWN


def test_length_below_the_payload_is_accepted(bw):
    # §6.8.6 drops a Length past the payload, not a payload past the Length.
    p = bw.decode(raw(length=28, tail=b"\0\0\0\0\0"))
    assert p.length == 28 and p.your_disc == 0x0A0B0C0D


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_buffers_other_than_bytes(bw, kind):
    assert bw.decode(kind(GOLDEN_UP_POLL)) == bw.decode(GOLDEN_UP_POLL)
    assert bw.reject_reason(kind(raw(mult=0))) == "detect_mult"
    with pytest.raises(BfdWireError):
        bw.decode(kind(raw(my=0)))
    assert bw.decode_batch([kind(raw(my=0)), (kind(GOLDEN_UP_POLL), "src", 255)]) == \
        ["my_disc", bw.decode(GOLDEN_UP_POLL)]


def test_decode_batch_takes_recv_tuples(bw):
    items = [(GOLDEN_UP_POLL, b"\x7f\0\0\1", None, 255, 1), raw(b0=0), GOLDEN_UP_POLL]
    out = bw.decode_batch(items)
    assert out[0] == out[2] == bw.decode(GOLDEN_UP_POLL) and out[1] == "version"


def test_a_packet_held_is_never_changed_by_later_decodes(bw):
    # The compiled side reuses a tuple nobody else holds: one still referenced must stay as it was.
    kept = [bw.decode(raw(my=i + 1, your=i + 2, tx=i)) for i in range(300)]
    for i in range(2000):
        bw.decode(raw(my=i + 1, your=i + 2, tx=i + 5))
    assert [k.desired_min_tx for k in kept] == list(range(300))
    assert [(k.my_disc, k.your_disc) for k in kept] == [(i + 1, i + 2) for i in range(300)]
    again = bw.decode(raw(my=1, your=2, tx=99, b1=0x48))
    assert (again.desired_min_tx, again.state, again.cpi, again.poll) == (99, wire.DOWN, True, False)


def test_encode_fields(bw):
    pkt = bw.encode(wire.INIT, wire.DIAG_TIME_EXPIRED, 5, 7, 0, 1_000_000, 10_000, final=True,
                    required_min_echo_rx=50_000)
    assert pkt == raw(b0=0x21, b1=0x90, mult=5, my=7, your=0, tx=1_000_000, rx=10_000, echo=50_000)
    assert len(pkt) == wire.PACKET_LEN and type(pkt) is bytes


@pytest.mark.parametrize("args, kw", [
    ((4, 0, 3, 1, 0, 1, 1), {}), ((-1, 0, 3, 1, 0, 1, 1), {}), ((1, 32, 3, 1, 0, 1, 1), {}),
    ((1, 0, 256, 1, 0, 1, 1), {}), ((1, 0, 3, 2**32, 0, 1, 1), {}), ((1, 0, 3, 1, -1, 1, 1), {}),
    ((1, 0, 3, 1, 0, 2**32, 1), {}), ((1, 0, 3, 1, 0, 1, -5), {}), ((1, 0, 3, 1, 0, 1, 1), {"required_min_echo_rx": 2**40}),
])
def test_encode_refuses_out_of_range(bw, args, kw):
    with pytest.raises(ValueError, match="out of range"):
        bw.encode(*args, **kw)


def test_names():
    assert wire.diag_name(1) == "Control Detection Time Expired"
    assert wire.diag_name(3) == "Neighbor Signaled Session Down"
    assert wire.diag_name(7) == "Administratively Down"
    assert wire.diag_name(9) == "Reserved (9)"
    assert [wire.state_name(s) for s in (wire.ADMIN_DOWN, wire.DOWN, wire.INIT, wire.UP)] == \
        ["AdminDown", "Down", "Init", "Up"]


# ---- the selector ------------------------------------------------------------------------------


def test_compiled_bfd_wire_loaded_when_expected():
    if _native.extensions_wanted():
        assert _native.compiled_module("bfd_wire") is not None, "lvsfast._core.bfd_wire was not built"
        assert wire.decode is _native.compiled_module("bfd_wire").decode


def test_env_forces_the_twin():
    code = "import lvsfast.bfd.wire as w; print(w.decode.__module__)"
    env = dict(os.environ, LVSFAST_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "lvsfast.bfd._wire_py"


# ---- fuzz: random and mutated packets never raise anything but BfdWireError, and what decode
# accepts obeys §6.8.6; both twins agree on every input ------------------------------------------

SEEDS = [GOLDEN_UP_POLL, raw(b1=0x40, your=0), raw(b1=0x90), raw(b1=0xC4, length=26, tail=b"\1\2")]
mutated = st.builds(lambda seed, edits, cut: _mutate(seed, edits)[:cut], st.sampled_from(SEEDS),
                    st.lists(st.tuples(st.integers(0, 27), st.integers(0, 255)), max_size=3), st.integers(0, 40))


def _mutate(seed: bytes, edits) -> bytes:
    b = bytearray(seed)
    for pos, val in edits:
        if pos < len(b):
            b[pos] = val
    return bytes(b)


def violates(buf: bytes) -> bool:
    """An independent reading of the §6.8.6 rules (and §4.1's P+F): True when buf must be dropped."""
    if len(buf) < 24:
        return True
    vers, sta = buf[0] >> 5, buf[1] >> 6
    a_bit, m_bit = buf[1] & 4, buf[1] & 1
    mult, length = buf[2], buf[3]
    my, your = int.from_bytes(buf[4:8], "big"), int.from_bytes(buf[8:12], "big")
    return (vers != 1 or length < (26 if a_bit else 24) or length > len(buf) or mult == 0 or m_bit or my == 0
            or (your == 0 and sta not in (0, 1)) or a_bit or buf[1] & 0x30 == 0x30)


def outcome(mod, data):
    try:
        return mod.decode(data)
    except BfdWireError as e:
        return e.reason, str(e)


@pytest.mark.parametrize("param", implementations("bfd_wire"))
@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=64), mutated))
def test_fuzz_decode_only_drops_and_never_accepts_a_violation(param, data):
    mod = resolve_impl(param)
    try:
        p = mod.decode(data)
    except BfdWireError as e:
        assert e.reason in REASONS and violates(data)
        return
    assert not violates(data)
    assert HEADER.pack(p.version << 5 | p.diag, p.state << 6 | p.poll << 5 | p.final << 4 | p.cpi << 3 | p.auth << 2 |
                       p.demand << 1 | p.multipoint, p.detect_mult, p.length, p.my_disc, p.your_disc,
                       p.desired_min_tx, p.required_min_rx, p.required_min_echo_rx) == data[:24]


@PAIR
@settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(st.binary(max_size=40), mutated), max_size=6))
def test_fuzz_twins_agree(pair, items):
    comp, twin = resolve_pair(pair)
    for data in items:
        assert outcome(comp, data) == outcome(twin, data)
        assert comp.reject_reason(data) == twin.reject_reason(data)
    assert comp.decode_batch(items) == twin.decode_batch(items)


@PAIR
@settings(max_examples=500, deadline=None)
@given(st.integers(-1, 4), st.sampled_from([-1, 0, 31, 32, 2**70]), st.integers(-1, 256), st.sampled_from([0, 1, 2**32 - 1, 2**32, -1, 2**70]),
       st.sampled_from([0, 5, 2**32]), st.integers(0, 2**32), st.integers(-1, 2**32 - 1), st.booleans(), st.booleans(),
       st.sampled_from([0, 50_000, 2**32]))
def test_encode_twins_agree(pair, state, diag, mult, my, your, tx, rx, poll, final, echo):
    comp, twin = resolve_pair(pair)

    def enc(mod):
        try:
            return mod.encode(state, diag, mult, my, your, tx, rx, poll=poll, final=final, required_min_echo_rx=echo)
        except ValueError as e:
            return str(e)

    assert enc(comp) == enc(twin)
