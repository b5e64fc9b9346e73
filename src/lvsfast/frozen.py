"""Cheaper construction for frozen, slotted dataclasses.

A frozen dataclass's generated ``__init__`` stores each field through ``object.__setattr__``,
looked up and bound again for every field of every instance. A 100,000-server config builds
(and a child unpickles, through ``__init__``) hundreds of thousands of these, and that storing
was half the cost of a real server's model. :func:`quick` gives a class an ``__init__`` with
the same signature, defaults and default factories that hands all the values at once to a slot
plan (``lvsfast._core.slots``, which stores them at the slots' offsets; its pure twin goes
through the descriptors), and the same frozen instances. The plan also makes instances from a
mapping (the config builder) and from a tuple (unpickling) without binding keywords.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypeVar

T = TypeVar("T")

_FACTORY = object()  # a parameter's default when the field has a default_factory


def quick(cls: type[T]) -> type[T]:
    """Replace ``cls.__init__`` (a frozen dataclass with slots and without __post_init__)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick() is for frozen dataclasses with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: quick() does not run __post_init__")
    slots = _slots()
    marker = slots.missing()
    env: dict[str, Any] = {"_FACTORY": _FACTORY}
    positional: list[str] = []
    kw_only: list[str] = []
    values: list[str] = []
    names, defaults, factories = [], [], []
    for i, f in enumerate(dataclasses.fields(cls)):
        if not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: quick() needs every field in __init__")
        names.append(f.name)
        defaults.append(f.default if f.default is not dataclasses.MISSING else marker)
        factories.append(f.default_factory if f.default_factory is not dataclasses.MISSING else None)
        if f.default is not dataclasses.MISSING:
            env[f"_default{i}"] = f.default
            param, value = f"{f.name}=_default{i}", f.name
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_factory{i}"] = f.default_factory
            param, value = f"{f.name}=_FACTORY", f"_factory{i}() if {f.name} is _FACTORY else {f.name}"
        else:
            param = value = f.name
        (kw_only if f.kw_only else positional).append(param)
        values.append(value)
    plan = slots.SlotPlan(cls, tuple(names), tuple(defaults), tuple(factories))
    env["_fill"] = plan.fill
    sig = positional + (["*", *kw_only] if kw_only else [])
    src = (f"def __init__(self, {', '.join(sig)}):\n"
           f"    _fill(self, ({''.join(v + ', ' for v in values)}))\n")
    exec(src, env)  # noqa: S102 - made from the class's own fields, as dataclasses makes its own
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]
    cls.__slot_plan__ = plan  # type: ignore[attr-defined]
    generated = getattr(cls.__dict__.get("__hash__"), "__code__", None)
    if params.eq and generated is not None and generated.co_filename == "<string>":
        # The dataclass's own __hash__ (a class's explicit one is kept): the same value, made
        # without a Python frame where the compiled plan is in use.
        fields = dataclasses.fields(cls)
        plan.hash_fields(tuple(i for i, f in enumerate(fields) if (f.compare if f.hash is None else f.hash)))
        cls.__hash__ = slots.field_hash  # type: ignore[method-assign]
    return cls


def plan_of(cls: type) -> Any:
    """The slot plan :func:`quick` gave ``cls`` (None for other classes): ``from_mapping(dict)``
    and ``new(values)`` make instances without the keyword binding of ``cls(**dict)``."""
    return cls.__dict__.get("__slot_plan__")


def plain_plan(cls: type) -> Any:
    """A slot plan for any dataclass with slots, frozen or not, whose ``__init__`` is left as it
    is: ``new(values)`` (one per field, in order) makes an instance without calling it."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: plain_plan() is for dataclasses with slots")
    names = tuple(f.name for f in dataclasses.fields(cls))
    return _slots().SlotPlan(cls, names, (_slots().missing(),) * len(names), (None,) * len(names))


def rebuild(cls: type, values: tuple) -> Any:
    """Unpickling's constructor for a :func:`quick` class: every field's value, in order."""
    return cls.__slot_plan__.new(values)  # type: ignore[attr-defined]


@functools.cache
def _slots() -> Any:
    from lvsfast._native import load

    return load("slots")
