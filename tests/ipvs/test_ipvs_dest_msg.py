"""NEW_DEST/SET_DEST messages, compiled and pure: the same bytes as wire's struct encoder for
every real server, and the same errors where it refuses one. The struct encoder itself is
pinned against the kernel's layout by test_ipvs_wire.py and the IPVS VM tests."""
from __future__ import annotations

import random

import pytest
from support.impls import implementations, resolve_impl

from lvsfast.dataplane.model import Dest, DestKey, ServiceKey
from lvsfast.ipvs import wire


@pytest.fixture(params=implementations("ipvs_dest"))
def encoder(request):
    impl = resolve_impl(request.param)
    return impl.DestMessages(wire.service_key_attrs, wire._packed_addr, wire.FWD, wire.struct_dest_msg)


def outcome(f, *args):
    try:
        return f(*args)
    except Exception as exc:  # the same exception, with the same message
        return type(exc), str(exc)


def random_case(rnd: random.Random, wild: bool):
    fam = rnd.choice([4, 6])
    key = rnd.choice([ServiceKey(fam, rnd.choice(["tcp", "udp", "sctp"]), "10.0.0.1" if fam == 4 else "2001:db8::1",
                                 rnd.randint(0, 65535)),
                      ServiceKey(fam, "tcp", None, 0, rnd.randint(1, 2**32 - 1))])
    address = rnd.choice(["10.1.2.3", f"192.168.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}",
                          f"2001:db8::{rnd.randint(1, 0xffff):x}", "::ffff:10.0.0.1"] + (["bogus"] if wild else []))
    u32 = [0, 1, 7, 2**32 - 1] + ([2**32, -1, True] if wild else [])
    dest = Dest(DestKey(address, rnd.choice([0, 80, 65535] + ([65536, -1] if wild else []))), rnd.choice(u32),
                rnd.choice(["nat", "dr", "tun"] + (["bogus"] if wild else [])), rnd.choice(["ipip", "gue", "gre"]),
                rnd.randint(0, 65535), rnd.random() < .5, rnd.random() < .5, rnd.random() < .5,
                rnd.choice(u32), rnd.choice(u32))
    fid = rnd.choice([0, 28, 65535] + ([65536] if wild else []))
    seq = rnd.choice([0, 1, 2**32 - 1] + ([2**32] if wild else []))
    return fid, rnd.choice([wire.IPVS_CMD_NEW_DEST, wire.IPVS_CMD_SET_DEST]), key, dest, seq


@pytest.mark.parametrize("wild", [False, True], ids=["valid", "anything"])
def test_the_same_bytes_and_errors_as_the_struct_encoder(encoder, wild: bool) -> None:
    rnd = random.Random(5 + wild)
    for _ in range(5000):
        args = random_case(rnd, wild)
        assert outcome(encoder, *args) == outcome(wire.struct_dest_msg, *args), args


def test_the_service_attributes_follow_the_key(encoder) -> None:
    """Consecutive messages reuse the last service's attributes: a new key must not."""
    a, b = ServiceKey(4, "tcp", "10.0.0.1", 80), ServiceKey(4, "tcp", "10.0.0.2", 81)
    d = Dest(DestKey("10.1.1.1", 80), 3)
    for key in (a, a, b, a, b, b):
        assert encoder(28, wire.IPVS_CMD_NEW_DEST, key, d) == wire.struct_dest_msg(28, wire.IPVS_CMD_NEW_DEST, key, d)


def test_wire_hands_out_the_selected_encoder() -> None:
    from lvsfast import _native
    assert type(wire.dest_msg) is _native.load("ipvs_dest").DestMessages


def test_service_messages_are_the_attribute_by_attribute_bytes() -> None:
    """service_msg packs a service in one go; the bytes and errors are those of service_attrs."""
    from lvsfast.dataplane.model import Service

    def by_attributes(fid, cmd, svc, seq=0):
        return wire.message(fid, cmd, wire._nest(wire.IPVS_CMD_ATTR_SERVICE, wire.service_attrs(svc)), seq=seq)

    rnd = random.Random(2)
    made = 0
    for _ in range(5000):
        fam = rnd.choice([4, 6])
        key = rnd.choice([ServiceKey(fam, rnd.choice(["tcp", "udp", "sctp", "bogus"]),
                                     rnd.choice(["10.0.0.1", "2001:db8::1", "bad"]), rnd.randint(0, 65535)),
                          ServiceKey(fam, "tcp", None, 0, rnd.randint(1, 2**32 - 1))])
        svc = Service(key, rnd.choice(["rr", "wrr", "lblcr", "sh", "mh", "x" * rnd.randint(0, 9)]),
                      frozenset(rnd.sample(["flag-1", "flag-2", "flag-3", "sh-port", "ops", "bogus"], rnd.randint(0, 2))),
                      rnd.choice([0, 0, 300, 2**32 - 1, 2**32]), rnd.choice([0, 24, 32, 64, 128, 129, -1]),
                      rnd.choice(["", "", "sip"]))
        args = (rnd.choice([0, 28, 65535]), rnd.choice([wire.IPVS_CMD_NEW_SERVICE, wire.IPVS_CMD_SET_SERVICE]), svc,
                rnd.choice([0, 5, 2**32 - 1]))
        got = outcome(wire.service_msg, *args)
        assert got == outcome(by_attributes, *args), args
        made += isinstance(got, bytes)
    assert made > 500
