"""Drain before removal, operator overrides, and their persistence (sans-IO, no kernel)."""
from __future__ import annotations

from lvsfast.dataplane import runtime_state
from lvsfast.dataplane.diff import diff
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.dataplane.pool import Override, Pool

S = ServiceKey(4, "tcp", "192.0.2.100", 80)
A, B = DestKey("10.10.0.11", 80), DestKey("10.10.0.12", 80)


def healthy(*dests: Dest) -> Table:
    return Table({S: Service(S, "rr")}, {S: {d.key: d for d in dests}})


def configured(*keys: DestKey) -> frozenset:
    return frozenset((S, k) for k in keys)


def weights(t: Table) -> dict:
    return {k.address: d.weight for k, d in t.dests[S].items()}


def test_removed_by_config_drains_then_leaves_when_idle():
    pool = Pool()
    pool.update(healthy(Dest(A, 3), Dest(B, 1)), configured(A, B), {}, now=0)
    pool.update(healthy(Dest(A, 3)), configured(A), {}, now=10)
    assert weights(pool.table()) == {"10.10.0.11": 3, "10.10.0.12": 0}
    assert pool.tick(11, {(S, B): 2}) == []
    assert weights(pool.table())["10.10.0.12"] == 0
    assert pool.tick(12, {(S, B): 0}) == [(S, B)]
    assert weights(pool.table()) == {"10.10.0.11": 3}
    # Draining is one SET (weight 0) and later one DEL: never a flush.
    assert any("drained (no connections left)" in line for line in pool.log)


def test_drain_timeout_and_zero_timeout():
    pool = Pool()
    pool.update(healthy(Dest(A), Dest(B)), configured(A, B), {(S, B): 5}, now=0)
    pool.update(healthy(Dest(A)), configured(A), {(S, B): 5}, now=0)
    assert pool.tick(4, {(S, B): 9}) == []
    assert pool.tick(5, {(S, B): 9}) == [(S, B)]
    pool = Pool()
    pool.update(healthy(Dest(A), Dest(B)), configured(A, B), {(S, B): 0}, now=0)
    pool.update(healthy(Dest(A)), configured(A), {(S, B): 0}, now=0)
    assert weights(pool.table()) == {"10.10.0.11": 1}  # keepalived's immediate removal


def test_failed_check_leaves_at_once():
    pool = Pool()
    pool.update(healthy(Dest(A), Dest(B)), configured(A, B), {}, now=0)
    pool.update(healthy(Dest(A)), configured(A, B), {}, now=1)  # B still configured, but down
    assert weights(pool.table()) == {"10.10.0.11": 1}


def test_operator_overrides_win_until_enable():
    pool = Pool()
    pool.update(healthy(Dest(A, 2), Dest(B, 1)), configured(A, B), {}, now=0)
    pool.set_override((S, A), Override(weight=7), now=0)
    assert weights(pool.table())["10.10.0.11"] == 7
    pool.update(healthy(Dest(A, 4), Dest(B, 1)), configured(A, B), {}, now=1)  # reload changes config weight
    assert weights(pool.table())["10.10.0.11"] == 7
    pool.set_override((S, B), Override("disable"), now=1)
    assert "10.10.0.12" not in weights(pool.table())
    pool.set_override((S, B), Override(), now=2)
    assert weights(pool.table())["10.10.0.12"] == 1
    pool.set_override((S, A), Override("drain"), now=3)
    assert weights(pool.table())["10.10.0.11"] == 0
    pool.tick(4, {})
    assert "10.10.0.11" not in weights(pool.table())  # drained, then kept out until enable


def test_inhibited_server_stays_at_zero_with_weight_override():
    pool = Pool()
    pool.update(healthy(Dest(A, 0)), configured(A), {}, now=0)  # inhibit_on_failure: weight 0 while down
    pool.set_override((S, A), Override(weight=5), now=0)
    assert weights(pool.table())["10.10.0.11"] == 0
    pool.update(healthy(Dest(A, 1)), configured(A), {}, now=1)
    assert weights(pool.table())["10.10.0.11"] == 5


def test_drain_is_a_weight_edit_not_a_delete():
    pool = Pool()
    pool.update(healthy(Dest(A), Dest(B)), configured(A, B), {}, now=0)
    before = pool.table()
    pool.update(healthy(Dest(A)), configured(A), {}, now=1)
    assert [(o.kind, o.dest.weight) for o in diff(before, pool.table())] == [("edit_dest", 0)]


def test_runtime_state_roundtrip(tmp_path):
    path = tmp_path / "state.json"
    ovs = {(S, A): Override("drain"), (S, B): Override(weight=3)}
    runtime_state.save(path, ovs)
    assert runtime_state.load(path) == ovs
    assert runtime_state.load(tmp_path / "missing.json") == {}
    path.write_text("{\n bad")
    try:
        runtime_state.load(path)
    except ValueError as exc:
        assert str(exc).startswith(f"{path}:2: error:")
    else:
        raise AssertionError("corrupt state accepted")
