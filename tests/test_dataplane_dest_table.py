"""The full table's Dest loop: for every real server the Dest that from_config.dest() makes,
under its DestKey, and its drain_timeout by (service, real server); and the diff's add_dest ops."""
from __future__ import annotations

import random

import pytest

from lvsfast.config.model import ForwardingMethod, RealServer, VirtualServer
from lvsfast.dataplane import dest_table, from_config
from lvsfast.dataplane.model import Dest, DestKey, ServiceKey
from lvsfast.frozen import plan_of


@pytest.fixture
def maker():
    return dest_table.DestMaker(plan_of(DestKey), plan_of(Dest))


METHODS = [ForwardingMethod(), ForwardingMethod("DR"), ForwardingMethod("TUN", "gue", 6080, "remcsum"),
           ForwardingMethod("TUN", None, None, "nocsum")]


def test_the_dests_from_config_makes(maker) -> None:
    rnd = random.Random(7)
    for _ in range(200):
        vs = VirtualServer(address="10.0.0.1", port=80, family=4, forwarding=rnd.choice(METHODS))
        key = rnd.choice([ServiceKey(4, "tcp", "10.0.0.1", rnd.choice([0, 80])), ServiceKey(4, "tcp", None, 0, 5)])
        reals = [RealServer(rnd.choice(["10.1.0.1", "10.1.0.2", "2001:db8::1", "2001:DB8::2"]),
                            rnd.choice([None, 0, 80, 8080]), 4, weight=rnd.choice([0, 1, 100]),
                            forwarding=rnd.choice([None, *METHODS]), uthreshold=rnd.choice([0, 5]),
                            lthreshold=rnd.choice([0, 2]), drain_timeout=rnd.choice([0.0, 3.5]))
                 for _ in range(rnd.randint(0, 6))]
        rows = maker.rows(tuple(reals), from_config._forwarding(vs.forwarding), from_config.canonical_address,
                          from_config._forwarding)
        assert rows == [(rs, from_config.canonical_address(rs.address),
                         from_config._forwarding(rs.forwarding or vs.forwarding)) for rs in reals]
        inner, drains = {"kept": 1}, ({} if rnd.random() < .7 else None)
        maker.add_all(inner, rows, key, drains)
        want = {"kept": 1}
        want_drains = {}
        for rs in reals:
            d = from_config.dest(vs, rs, key)
            want[d.key] = d
            want_drains[(key, d.key)] = rs.drain_timeout
        assert inner == want
        assert list(inner) == list(want)  # the same order: the later of two equal keys wins in place
        assert drains is None or drains == want_drains
        assert all(type(k) is DestKey and type(v) is Dest for k, v in inner.items() if k != "kept")


def test_add_dest_ops_are_the_diffs_ops() -> None:
    from lvsfast.dataplane.diff import Op

    key = ServiceKey(4, "tcp", "10.0.0.1", 80)
    dests = [Dest(DestKey(f"10.1.0.{i}", 80), i) for i in range(5)]
    ops = [Op("add_service", key)]
    dest_table.add_dest_ops(ops, Op, key, iter(dests))
    assert ops[1:] == [Op("add_dest", key, None, d) for d in dests]
    assert all(type(op) is Op and op.dest_key is None and op.svc is None for op in ops[1:])
    assert ops[1].kind == "add_dest" and ops[1].dest is dests[0]
