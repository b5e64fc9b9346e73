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
