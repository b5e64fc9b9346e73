"""Every compiled module against its pure twin on the same inputs.

The API guard: each twin's public names exist in its compiled module. Then each module's
functions fed to both forms: ipvs_dest's encode_run, track_run and all_canonical; vrrp_wire's
AdvertBuilder, build_garp and build_na; slots' plans and field_hash; vrrp_socket's timers and
recv_batch; tcp_probe's one-shot and scheduled connects. Fed both elsewhere, through the same
support.impls.compiled_and_twin: checksum (test_checksum.py), vrrp_wire's decoding
(vrrp/test_wire_codec.py, vrrp/test_wire_fuzz.py), conf_scan (config/test_config_scan.py),
real_servers (config/test_config_real_servers.py), ipvs_dest's messages (ipvs/test_ipvs_dest_msg.py).
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


def outcome(f, *args, **kw):
    """A call's result, or its exception's type name and message (the twins raise alike)."""
    try:
        return f(*args, **kw)
    except Exception as exc:
        return type(exc).__name__, str(exc)


# ---- vrrp_wire: the packets we send (decoding is fed both in vrrp/test_wire_codec.py and fuzz) ----

v4 = st.sampled_from(["192.0.2.1", "10.0.0.1", "0.0.0.0", "255.255.255.255", "1.2.3", "bogus"])
v6 = st.sampled_from(["2001:db8::1", "fe80::1", "ff02::12", "::", "::ffff:10.0.0.1", "2001:db8::g"])
macs = st.binary(min_size=5, max_size=7)


@pytest.mark.parametrize("pair", compiled_and_twin("vrrp_wire"))
@settings(max_examples=300, deadline=None)
@given(st.sampled_from([2, 3, 4]), st.integers(0, 256), st.sampled_from([0, 1, 50, 100, 250, 4095, 4096, 25500, 25600]),
       st.booleans(), st.lists(st.integers(0, 5), min_size=0, max_size=4), st.sampled_from([0, 1, 2]),
       st.binary(max_size=10), st.booleans(), st.integers(-1, 256))
def test_advert_builder(pair, version, vrid, adver_int_cs, six, picks, auth_type, auth_pass, as_v2, priority) -> None:
    comp, twin = resolve_pair(pair)
    pool = ["2001:db8::1", "2001:db8::2", "fe80::9", "::1", "2001:db8::ffff", "bad::addr::"] if six else \
        ["192.0.2.1", "192.0.2.2", "10.0.0.9", "0.0.0.0", "255.255.255.255", "300.1.1.1"]
    args = (version, vrid, adver_int_cs, [pool[i] for i in picks], 6 if six else 4,
            "fe80::1" if six else "10.0.0.1", "ff02::12" if six else "224.0.0.18")
    kw = dict(auth_type=auth_type, auth_pass=auth_pass, checksum_as_v2=as_v2)
    a, b = outcome(comp.AdvertBuilder, *args, **kw), outcome(twin.AdvertBuilder, *args, **kw)
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    assert outcome(a.build, priority) == outcome(b.build, priority)
    assert outcome(a.build, 100) == outcome(b.build, 100)  # the template is reused


@pytest.mark.parametrize("pair", compiled_and_twin("vrrp_wire"))
@settings(max_examples=200, deadline=None)
@given(macs, v4, v6, v6, st.booleans())
def test_garp_and_na(pair, mac, ip4, src, target, router) -> None:
    comp, twin = resolve_pair(pair)
    assert outcome(comp.build_garp, mac, ip4) == outcome(twin.build_garp, mac, ip4)
    assert outcome(comp.build_na, mac, src, target, router=router) == \
        outcome(twin.build_na, mac, src, target, router=router)


# ---- slots: plans that fill frozen dataclasses -----------------------------------------------

import dataclasses  # noqa: E402


values = st.one_of(st.integers(), st.text(max_size=3), st.none(), st.tuples(st.integers()))


def failure(f, *args):
    """A call's result, or its exception's type: the pure plan's messages are Python's own."""
    try:
        return f(*args)
    except Exception as exc:
        return type(exc)


def planned(mod, hashed: tuple = (0, 1)):
    """A fresh frozen dataclass whose slot plan (and hash) is ``mod``'s, as lvsfast.frozen sets one up."""
    @dataclasses.dataclass(frozen=True, slots=True)
    class Three:
        a: object
        b: object = "x"
        c: object = dataclasses.field(default_factory=list)

    m = mod.missing()
    plan = mod.SlotPlan(Three, ("a", "b", "c"), (m, "x", m), (None, None, list))
    plan.hash_fields(hashed)
    Three.__slot_plan__ = plan
    return Three, plan


@pytest.mark.parametrize("pair", compiled_and_twin("slots"))
@settings(max_examples=200, deadline=None)
@given(st.lists(values, max_size=4), st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), values, max_size=4),
       st.lists(st.integers(0, 3), max_size=3))
def test_slot_plans(pair, vals, mapping, hashed) -> None:
    comp, twin = resolve_pair(pair)
    (cc, pc), (ct, pt) = planned(comp), planned(twin)
    assert pc.names == pt.names

    def seen(x):  # instances of the two classes compared field by field
        return tuple(getattr(x, f, None) for f in "abc") if isinstance(x, (cc, ct)) else x
    assert seen(failure(pc.new, tuple(vals))) == seen(failure(pt.new, tuple(vals)))
    assert seen(failure(pc.from_mapping, dict(mapping))) == seen(failure(pt.from_mapping, dict(mapping)))
    oc, ot = pc.new((0, 0, 0)), pt.new((0, 0, 0))
    assert failure(pc.fill, oc, tuple(vals)) == failure(pt.fill, ot, tuple(vals))
    assert seen(oc) == seen(ot)
    assert failure(pc.hash_fields, tuple(hashed)) == failure(pt.hash_fields, tuple(hashed))
    if len(vals) == 3:
        assert comp.field_hash(pc.new(tuple(vals))) == twin.field_hash(pt.new(tuple(vals)))
    # Each refuses an instance planned by the other.
    assert failure(comp.field_hash, ot) == failure(twin.field_hash, oc) == TypeError


# ---- vrrp_socket: timerfd deadlines and batched receive ----------------------------------------

@pytest.mark.compiled
def test_timers_and_recv_batch() -> None:
    import os
    import select
    import socket
    import time

    comp, twin = resolve_pair("vrrp_socket")
    fds = [comp.timer_open(), twin.timer_open()]
    try:
        at = time.monotonic() + 0.02
        for mod, fd in zip((comp, twin), fds):
            mod.timer_set(fd, at)
        assert [m.timer_expired(fd) for m, fd in zip((comp, twin), fds)] == [0, 0]
        end = time.monotonic() + 5
        while len(select.select(fds, [], [], 1)[0]) < 2 and time.monotonic() < end:
            pass  # both readable once the deadline passed
        assert [m.timer_expired(fd) for m, fd in zip((comp, twin), fds)] == [1, 1]
    finally:
        for fd in fds:
            os.close(fd)
    socks = []
    try:
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, 8, 1)  # IP_PKTINFO (not in Python's socket module)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for s in socks:
                for i in range(5):
                    tx.sendto(bytes([i]) * (i * 700 + 1), s.getsockname())
        for s in socks:
            select.select([s], [], [], 5)
        got = [mod.recv_batch(s.fileno(), 4, 3) + mod.recv_batch(s.fileno(), 4, 64)
               for mod, s in zip((comp, twin), socks)]
        assert got[0] == got[1] and len(got[0]) == 5
    finally:
        for s in socks:
            s.close()


# ---- tcp_probe: connects and their results ---------------------------------------------------

@pytest.mark.compiled
def test_probe_results() -> None:
    import select
    import socket
    import time

    comp, twin = resolve_pair("tcp_probe")
    assert comp.CONNECTED == twin.CONNECTED
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    addr = socket.inet_aton("127.0.0.1")

    def run(mod) -> list:
        p = mod.TcpProber()
        out: list = []
        try:
            now = time.monotonic()
            for token, port in ((1, srv.getsockname()[1]), (2, closed_port)):
                rc = p.start(token, socket.AF_INET, addr, port, 2.0, now)
                if rc:
                    out.append((token, 0 if rc == mod.CONNECTED else rc))
            p.schedule(3, socket.AF_INET, addr, closed_port, 1.0, 0.05, now, report=True)
            p.tick(now, out)
            end = time.monotonic() + 5
            while len(out) < 3 and time.monotonic() < end:
                select.select([p.fileno()], [], [], 0.05)
                p.harvest(out, time.monotonic())
            return sorted(out) + [p.runs(3), len(p)]
        finally:
            p.close()
    try:
        assert run(comp) == run(twin) == [(1, 0), (2, 111), (3, 111), 1, 0]
    finally:
        srv.close()
