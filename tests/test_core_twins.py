"""Every compiled module against its pure twin on the same inputs.

The API guard: each twin's public names exist in its compiled module. The differential tests
here cover the functions no other file feeds both forms (ipvs_dest's encode_run, track_run and
all_canonical); the others are fed both in their own files (checksum, vrrp_wire, conf_scan,
slots, real_servers, tcp_probe, vrrp_socket), through support.impls.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from support.impls import compiled_and_twin, resolve_pair

from lvsfast import _native
from lvsfast.dataplane.diff import Op
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey
from lvsfast.ipvs import wire
from lvsfast.ipvs.backend import canonical_dest


def public(mod) -> set[str]:
    return {k for k, v in vars(mod).items() if not k.startswith("_") and getattr(v, "__module__", None) == mod.__name__}


@pytest.mark.parametrize("name", sorted(_native.TWINS))
@pytest.mark.compiled
def test_the_compiled_module_has_the_twins_public_names(name: str) -> None:
    comp, twin = resolve_pair(name)
    missing = sorted(public(twin) - set(dir(comp)))
    assert not missing, f"lvsfast._core.{name} lacks {missing}"


KEYS = [ServiceKey(4, "tcp", "10.0.0.1", 80), ServiceKey(6, "udp", "2001:db8::1", 53), ServiceKey(4, "tcp", None, 0, 7)]
u32 = st.sampled_from([0, 1, 100, 2**32 - 1, 2**32, -1])  # the last two refused by the encoder
dests = st.builds(
    lambda addr, port, w, fwd, tun, tport, flags, uth, lth: Dest(DestKey(addr, port), w, fwd, tun, tport, *flags, uth, lth),
    st.sampled_from(["10.1.0.1", "10.1.0.2", "2001:db8::5", "::ffff:10.0.0.1", "bogus"]),
    st.sampled_from([0, 80, 65535, 65536]), u32, st.sampled_from(["nat", "dr", "tun", "nat", "bogus"]),
    st.sampled_from(["ipip", "ipip", "gue", "gre"]), st.sampled_from([0, 0, 6080]),
    st.sampled_from([(False, False, False)] * 3 + [(True, False, False), (False, True, False), (False, False, True)]),
    u32, u32)
ops = st.lists(st.one_of(
    st.builds(lambda k, d: Op("add_dest", k, None, d), st.sampled_from(KEYS), dests),
    st.builds(lambda k, d: Op("edit_dest", k, None, d), st.sampled_from(KEYS), dests),
    st.builds(lambda k, d: Op("del_dest", k, None, None, d.key), st.sampled_from(KEYS), dests),
    st.builds(lambda k: Op("add_service", k, Service(k)), st.sampled_from(KEYS))), max_size=12)

DIFF = pytest.mark.parametrize("pair", compiled_and_twin("ipvs_dest"))


@DIFF
@settings(max_examples=300, deadline=None)
@given(ops, st.integers(0, 13), st.integers(0, 400), st.sampled_from([0, 28, 65535]))
def test_encode_run(pair, run: list, start: int, limit: int, family_id: int) -> None:
    comp, twin = resolve_pair(pair)
    args = (wire.service_key_attrs, wire._packed_addr, wire.FWD, wire.struct_dest_msg)
    got: list = []
    want: list = []
    assert comp.DestMessages(*args).encode_run(family_id, run, start, got, 5, limit) == \
        twin.DestMessages(*args).encode_run(family_id, run, start, want, 5, limit)
    assert got == want


@DIFF
@settings(max_examples=300, deadline=None)
@given(ops, st.integers(0, 13))
def test_track_run(pair, run: list, start: int) -> None:
    comp, twin = resolve_pair(pair)
    before = {KEYS[0]: {DestKey("10.9.9.9", 1): Dest(DestKey("10.9.9.9", 1))}}
    got = {k: dict(v) for k, v in before.items()}
    want = {k: dict(v) for k, v in before.items()}
    assert comp.track_run(run, start, got) == twin.track_run(run, start, want)
    assert list(got) == list(want)
    assert all(list(got[k].items()) == list(want[k].items()) for k in want)


@DIFF
@settings(max_examples=300, deadline=None)
@given(st.lists(dests, max_size=8))
def test_all_canonical(pair, ds: list) -> None:
    comp, twin = resolve_pair(pair)
    assert comp.all_canonical(iter(ds), canonical_dest) == twin.all_canonical(iter(ds), canonical_dest) == \
        all(canonical_dest(d) is d for d in ds)
