"""A table made from another says which services it changed; backends and the pool honour the hint
only when it is about the very table they hold, and it never changes what a table is."""
from __future__ import annotations

import gc
import pickle
import random

from lvsfast.dataplane.diff import diff
from lvsfast.dataplane.model import Delta, Dest, DestKey, Service, ServiceKey, Table
from lvsfast.dataplane.pool import Override, Pool
from lvsfast.nft.backend import changed_part

KEYS = [ServiceKey(4, "tcp", f"10.0.{i // 250}.{i % 250 + 1}", 80) for i in range(50)]


def table(weights: dict[ServiceKey, int]) -> Table:
    return Table({k: Service(k, "wrr") for k in weights},
                 {k: {DestKey("10.9.0.1", 80): Dest(DestKey("10.9.0.1", 80), weight=w)} for k, w in weights.items()})


def test_the_hint_is_not_part_of_the_table():
    a = table({k: 1 for k in KEYS})
    b = Table(a.services, a.dests, Delta(a, frozenset(KEYS[:1])))
    assert a == b and "delta" not in repr(b)
    assert b.changed_since(a) == frozenset(KEYS[:1])
    assert b.changed_since(table({k: 1 for k in KEYS})) is None  # equal, but not the same object
    assert pickle.loads(pickle.dumps(b)) == a and pickle.loads(pickle.dumps(b)).delta is None


def test_the_base_is_held_weakly():
    b = Table({}, {}, Delta(table({KEYS[0]: 1}), frozenset()))
    gc.collect()
    assert b.delta is not None and b.delta.base() is None and b.changed_since(Table()) is None


def test_changed_part_from_a_delta_equals_the_full_comparison():
    rng = random.Random(5)
    weights = {k: 1 for k in KEYS}
    cur = table(weights)
    for _ in range(30):
        new = dict(weights)
        touched = set(rng.sample(KEYS, 3))
        for k in touched:
            if rng.random() < 0.3:
                new.pop(k, None)
            else:
                new[k] = rng.randint(0, 5)
        plain = table(new)
        hinted = Table(plain.services, plain.dests, Delta(cur, frozenset(touched)))
        # The hint may name more than changed (a weight set to what it was): the same operations.
        assert sorted(map(str, diff(*changed_part(cur, hinted)))) == sorted(map(str, diff(*changed_part(cur, plain))))
        assert set(changed_part(cur, hinted)[1].services) <= touched
        cur, weights = hinted, new


def test_pool_hands_the_healthy_table_through_untouched_when_no_operator_acted():
    healthy = table({k: 1 for k in KEYS[:3]})
    pairs = frozenset((k, DestKey("10.9.0.1", 80)) for k in KEYS[:3])
    pool = Pool()
    pool.update(healthy, pairs, {}, 0.0)
    assert pool.table() is healthy
    pool.set_override((KEYS[0], DestKey("10.9.0.1", 80)), Override(weight=4), 0.0)
    t = pool.table()
    assert t is not healthy and t.delta is None and t.dests[KEYS[0]][DestKey("10.9.0.1", 80)].weight == 4
