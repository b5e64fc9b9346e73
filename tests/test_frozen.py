"""lvsfast.frozen.quick: the faster __init__ behaves as the dataclass's own."""
from __future__ import annotations

import dataclasses
import pickle

import pytest

from lvsfast.config.model import RealServer
from lvsfast.dataplane.model import Dest, DestKey, Table
from lvsfast.frozen import quick


@quick
@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    a: int
    b: str = "x"
    c: dict = dataclasses.field(default_factory=dict)
    d: int = dataclasses.field(default=4, kw_only=True)


def test_positional_keyword_defaults_and_factories():
    s = Sample(1)
    assert (s.a, s.b, s.c, s.d) == (1, "x", {}, 4)
    assert Sample(1).c is not Sample(1).c  # a fresh default per instance, as dataclasses makes it
    assert Sample(2, "y", {"k": 1}, d=5) == Sample(a=2, b="y", c={"k": 1}, d=5)
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample(1, "y", {}, 5)  # type: ignore[misc]  # d is keyword-only


def test_instances_stay_frozen_hashable_and_picklable():
    k = DestKey("10.0.0.1", 80)
    d = Dest(k, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.weight = 4  # type: ignore[misc]
    assert hash(d) == hash(Dest(DestKey("10.0.0.1", 80), 3)) and d.forward == "nat"
    assert pickle.loads(pickle.dumps(d)) == d
    rs = RealServer("10.0.0.2", 80, 4, weight=2, line=7)
    assert pickle.loads(pickle.dumps(rs)) == rs and rs.checkers == () and rs.line == 7
    assert Table().services == {} and Table().services is not Table().services


def test_refuses_what_it_cannot_copy():
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    with pytest.raises(TypeError):
        quick(NoSlots)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Post:
        a: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError):
        quick(Post)


# ---- the slot plans: compiled (lvsfast._core.slots) and pure (lvsfast._slots_py) ----------

from support.impls import implementations, resolve_impl  # noqa: E402


@pytest.fixture(params=implementations("slots"))
def slots(request):
    return resolve_impl(request.param)


@dataclasses.dataclass(frozen=True, slots=True)
class Plain:
    a: object
    b: object = "x"
    c: list = dataclasses.field(default_factory=list)


def plan(slots, cls=Plain):
    m = slots.missing()
    return slots.SlotPlan(cls, ("a", "b", "c"), (m, "x", m), (None, None, list))


def test_plan_fills_news_and_builds_from_a_mapping(slots) -> None:
    p = plan(slots)
    obj = p.new((1, 2, [3]))
    assert obj == Plain(1, 2, [3]) and type(obj) is Plain
    got = p.from_mapping({"a": 5})
    assert got == Plain(5) and got.c == [] and got.c is not p.from_mapping({"a": 5}).c
    assert p.from_mapping({"a": 1, "b": None, "c": [2]}) == Plain(1, None, [2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.a = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.from_mapping({"b": 1})  # a is required
    with pytest.raises(TypeError):
        p.from_mapping({"a": 1, "nosuch": 2})
    with pytest.raises(TypeError):
        p.new((1, 2))  # one value per field
    with pytest.raises(TypeError):
        p.fill(Sample(1), (1, 2, 3))  # an instance of another class


def test_plan_refills_release_the_old_values(slots) -> None:
    import gc
    import weakref

    class Value:
        pass

    p = plan(slots)
    v = Value()
    ref = weakref.ref(v)
    obj = p.new((v, None, []))
    del v
    gc.collect()
    assert ref() is not None and obj.a is ref()
    p.fill(obj, (0, 1, [2]))  # __init__ called again on a live instance
    gc.collect()
    assert ref() is None and obj == Plain(0, 1, [2])
    del obj  # and the instance's own values go with it
    w = Value()
    wref = weakref.ref(w)
    p.new((w, w, []))
    del w
    gc.collect()
    assert wref() is None


def test_plan_refuses_what_is_not_a_slot(slots) -> None:
    m = slots.missing()

    class WithProperty:
        __slots__ = ()

        @property
        def a(self) -> int:
            return 1

    with pytest.raises(TypeError):
        slots.SlotPlan(WithProperty, ("a",), (m,), (None,))
    with pytest.raises(TypeError):
        slots.SlotPlan(Plain, ("nosuch",), (m,), (None,))
    with pytest.raises(ValueError):
        slots.SlotPlan(Plain, ("a", "b"), (m,), (None,))


def test_quick_classes_use_the_selected_plan_and_rebuild_on_unpickling() -> None:
    from lvsfast import _native
    from lvsfast.frozen import plan_of

    p = plan_of(RealServer)
    want = _native.compiled_module("slots") if _native.extensions_wanted() else None
    assert type(p).__module__ == (want.__name__ if want else "lvsfast._slots_py")
    rs = RealServer("10.0.0.2", 80, 4, weight=2, line=7)
    assert p.from_mapping({"address": "10.0.0.2", "port": 80, "family": 4, "weight": 2, "line": 7}) == rs
    assert pickle.loads(pickle.dumps(rs)).line == 7 and Sample(1, d=9).d == 9


def test_field_hash_is_the_dataclass_hash(slots) -> None:
    p = plan(slots)
    p.hash_fields((0, 1))
    obj = p.new((1, "y", []))
    # Plain's own plan is not the class's, so the module function is asked through a subclass
    # that carries it, as quick() arranges.
    sub = type("WithPlan", (Plain,), {"__slots__": (), "__slot_plan__": p})
    inst = sub.__new__(sub)
    p.fill(inst, (1, "y", []))
    assert slots.field_hash(inst) == hash((1, "y"))
    with pytest.raises(TypeError):
        slots.field_hash(obj)  # Plain has no plan of its own: the base's fields are not enough
    with pytest.raises(IndexError):
        p.hash_fields((3,))


def test_quick_hash_matches_fields_and_keeps_an_explicit_one() -> None:
    k = DestKey("10.0.0.1", 80)
    assert hash(k) == hash(("10.0.0.1", 80))
    rs = RealServer("10.0.0.2", 80, 4, weight=2, line=7)
    assert hash(rs) == hash(RealServer("10.0.0.2", 80, 4, weight=2, line=9))  # line is compare=False
    assert {k: 1}[DestKey("10.0.0.1", 80)] == 1

    @quick
    @dataclasses.dataclass(frozen=True, slots=True)
    class Own:
        a: int

        def __hash__(self) -> int:
            return 7

    assert hash(Own(1)) == 7


# ---- records: frozen slotted classes made without dataclasses' import-time work -----------

from lvsfast import frozen  # noqa: E402


@frozen.record
class Base:
    a: int
    b: str = "x"
    line: int = frozen.field(default=0, compare=False, repr=False)


@frozen.record
class Derived(Base):
    c: tuple = ()
    b: str = "y"  # a re-declared field keeps its place and takes the new default


@frozen.record
class WithFactory:
    items: list = frozen.field(default_factory=list)


def test_record_behaves_as_a_frozen_slotted_dataclass() -> None:
    d = Derived(1, c=(2,))
    assert (d.a, d.b, d.c, d.line) == (1, "y", (2,), 0)
    assert Derived.__match_args__ == ("a", "b", "line", "c") and Derived.__slots__ == ("c",)
    assert not hasattr(d, "__dict__")
    assert d == Derived(1, "y", 5, (2,)) and hash(d) == hash(Derived(1, "y", 7, (2,)))  # line not compared
    assert d != Base(1, "y") and Base(1) != Derived(1, "x")  # another class is never equal
    assert repr(Base(1)) == "Base(a=1, b='x')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.a = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del d.a  # type: ignore[misc]
    with pytest.raises(TypeError):
        Base()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Base(1, nosuch=2)  # type: ignore[call-arg]
    assert WithFactory().items == [] and WithFactory().items is not WithFactory().items
    assert pickle.loads(pickle.dumps(d)) == d and pickle.loads(pickle.dumps(d)).line == 0


def test_record_works_with_dataclasses_functions_and_its_own() -> None:
    d = Derived(1, line=4)
    assert dataclasses.is_dataclass(d) and [f.name for f in dataclasses.fields(d)] == ["a", "b", "line", "c"]
    assert dataclasses.replace(d, a=3) == Derived(3) and dataclasses.replace(d, a=3).line == 4
    assert dataclasses.astuple(Base(1, line=2)) == (1, "x", 2)
    assert frozen.replace(d, c=(9,)) == Derived(1, c=(9,)) and frozen.replace(d).line == 4
    with pytest.raises(TypeError):
        frozen.replace(d, nosuch=1)
    assert [f.name for f in frozen.fields(Derived)] == ["a", "b", "line", "c"]
    assert frozen.fields(Base)[0].default is frozen.MISSING
    p = frozen.plan_of(Derived)
    assert p.from_mapping({"a": 2}) == Derived(2) and p.new((2, "y", 0, ())) == Derived(2)
    assert frozen.plan_of(Base) is not p  # each class its own plan


def test_record_refuses_what_a_dataclass_refuses() -> None:
    with pytest.raises(TypeError):
        @frozen.record
        class Order:
            a: int = 1
            b: int  # type: ignore[misc]

    with pytest.raises(ValueError):
        @frozen.record
        class Mutable:
            a: list = []  # noqa: RUF012
