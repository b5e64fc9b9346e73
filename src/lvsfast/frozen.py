"""Cheaper construction for frozen, slotted dataclasses.

A frozen dataclass's generated ``__init__`` stores each field through ``object.__setattr__``,
looked up and bound again for every field of every instance. A 100,000-server config builds
(and a child unpickles, through ``__init__``) hundreds of thousands of these, and that storing
was half the cost of a real server's model. :func:`quick` gives a class an ``__init__`` that
stores through the slots' own descriptors, bound once per class: the same signature, defaults
and default factories, the same frozen instances, about twice as fast.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_FACTORY = object()  # a parameter's default when the field has a default_factory


def _descriptor(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        d = klass.__dict__.get(name)
        if d is not None:
            return d
    raise TypeError(f"{cls.__name__}.{name} has no slot")


def quick(cls: type[T]) -> type[T]:
    """Replace ``cls.__init__`` (a frozen dataclass with slots and without __post_init__)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick() is for frozen dataclasses with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: quick() does not run __post_init__")
    env: dict[str, Any] = {"_FACTORY": _FACTORY}
    positional: list[str] = []
    kw_only: list[str] = []
    body: list[str] = []
    for i, f in enumerate(dataclasses.fields(cls)):
        if not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: quick() needs every field in __init__")
        env[f"_set{i}"] = _descriptor(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            env[f"_default{i}"] = f.default
            param, value = f"{f.name}=_default{i}", f.name
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_factory{i}"] = f.default_factory
            param, value = f"{f.name}=_FACTORY", f"_factory{i}() if {f.name} is _FACTORY else {f.name}"
        else:
            param = value = f.name
        (kw_only if f.kw_only else positional).append(param)
        body.append(f"    _set{i}(self, {value})")
    sig = positional + (["*", *kw_only] if kw_only else [])
    src = f"def __init__(self, {', '.join(sig)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(src, env)  # noqa: S102 - made from the class's own fields, as dataclasses makes its own
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]
    return cls
