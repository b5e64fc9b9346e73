"""The reconcile plan: only differences, weight changes as edits, nothing foreign deleted."""
from __future__ import annotations

from lvsfast.dataplane.diff import diff
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table

S = ServiceKey(4, "tcp", "10.0.0.1", 80)
S2 = ServiceKey(4, "tcp", "10.0.0.2", 80)
R1, R2 = DestKey("192.168.1.1", 80), DestKey("192.168.1.2", 80)


def table(dests: dict, svcs=(S,)) -> Table:
    return Table({s: Service(s, "rr") for s in svcs}, {s: dests for s in svcs})


def test_identical_is_empty():
    t = table({R1: Dest(R1)})
    assert diff(t, t) == []


def test_weight_change_is_edit():
    ops = diff(table({R1: Dest(R1, weight=1)}), table({R1: Dest(R1, weight=5)}))
    assert [(o.kind, o.dest.weight) for o in ops] == [("edit_dest", 5)]


def test_add_and_remove_order():
    ops = diff(table({R1: Dest(R1)}), table({R2: Dest(R2)}))
    assert [o.kind for o in ops] == ["add_dest", "del_dest"]


def test_foreign_service_untouched_when_owned_given():
    cur = table({R1: Dest(R1)}, svcs=(S, S2))
    want = table({R1: Dest(R1)}, svcs=(S,))
    assert diff(cur, want, owned=frozenset({S})) == []
    assert [o.kind for o in diff(cur, want)] == ["del_service"]
