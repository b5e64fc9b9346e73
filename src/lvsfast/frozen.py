"""Frozen, slotted records without the per-import cost of ``dataclasses``, and a cheaper
``__init__`` for frozen, slotted dataclasses.

:func:`record` makes the configuration model's classes (and anything else made in large
numbers or imported on ``lvsfast -t``'s path). A class declares its fields as annotations, with
defaults or :func:`field` specs, as a frozen slotted dataclass would; the decorator makes the
class again with its ``__slots__``, and nothing else, at import. ``dataclasses`` processing (generating and
compiling ``__init__``, ``__eq__``, ``__repr__``, ``__setattr__`` per class, and ``inspect``
behind it) was 58 ms of ``lvsfast -t``'s 141. What a class needs is made the first time it is
needed: the ``__init__`` on its first call, its slot plan (``lvsfast._core.slots``) when an
instance is built from a mapping or a tuple or hashed, the ``dataclasses.Field`` objects when
someone asks ``dataclasses.fields``/``replace``/``astuple`` (which keep working). Instances
behave as the dataclass's: positional and keyword construction with defaults, equality and hash
over the compared fields (same class only), ``repr``, ``FrozenInstanceError`` on assignment,
pickling to the class and its field values.

:func:`quick` gives an existing frozen slotted dataclass the same plan-based ``__init__``.
Both store all of an instance's values at once through a slot plan (the compiled one stores at
the slots' offsets; its pure twin goes through the descriptors), which also makes instances from
a mapping (the config builder) and from a tuple (unpickling) without binding keywords.
"""
from __future__ import annotations

from operator import attrgetter, itemgetter

TYPE_CHECKING = False  # typing stays unimported at run time: it was 6 ms of -t's start-up (issue 25)
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_: object) -> Callable[[T], T]:
        """For type checkers only (they read typing's); nothing to do at run time."""
        return lambda fn: fn


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: A field without a default (or without a default factory).
MISSING: Any = _Missing()
_FACTORY = object()  # a parameter's default when the field has a default_factory


class Field:
    """One field of a :func:`record`: what ``dataclasses.Field`` says of it, and no more."""

    __slots__ = ("name", "type", "default", "default_factory", "repr", "hash", "compare")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True,
                 hash: bool | None = None, compare: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.hash = hash
        self.compare = compare

    @property
    def hashed(self) -> bool:
        return self.compare if self.hash is None else self.hash

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, compare={self.compare})"


def field(*, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True,
          hash: bool | None = None, compare: bool = True) -> Any:
    """A field's options, as ``dataclasses.field`` takes them (``init`` and ``kw_only`` aside)."""
    return Field(default, default_factory, repr, hash, compare)


class _Lazy:
    """A class attribute computed on first access (from the class or an instance) and then
    stored on the class in its place."""

    __slots__ = ("name", "make")

    def __init__(self, name: str, make: Callable[[type], Any]) -> None:
        self.name = name
        self.make = make

    def __get__(self, obj: Any, cls: type) -> Any:
        value = self.make(cls)
        setattr(cls, self.name, value)
        return value


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    """An attrgetter that always returns a tuple."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, slotted record: its fields are its annotations after its record
    bases' (a re-declared field keeps its place), with their defaults or :func:`field` specs.

    Only the class itself is made here, again with ``__slots__`` (as ``dataclass(slots=True)``
    does); its ``__init__``, slot plan and ``dataclasses`` view are made when first used."""
    name = cls.__name__
    own = cls.__dict__
    fields: dict[str, Field] = {}
    for base in reversed(cls.__bases__):
        for f in getattr(base, "__record_fields__", ()):
            fields[f.name] = f
    inherited = set(fields)
    ns = {k: v for k, v in own.items() if k not in ("__dict__", "__weakref__")}
    for fname, ann in own.get("__annotations__", {}).items():
        if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = ns.pop(fname, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        if f.default is not MISSING and type(f.default).__hash__ is None:
            raise ValueError(f"{name}.{fname}: mutable default {type(f.default).__name__} "
                             "is not allowed: use default_factory")
        f.name, f.type = fname, ann
        fields[fname] = f
    seen_default = False
    for f in fields.values():
        if f.default is MISSING and f.default_factory is MISSING:
            if seen_default:
                raise TypeError(f"{name}: non-default argument {f.name!r} follows default argument")
        else:
            seen_default = True
    ordered = tuple(fields.values())
    names = tuple(fields)
    ns["__slots__"] = tuple(n for n in names if n not in inherited)
    ns["__qualname__"] = cls.__qualname__
    ns["__record_fields__"] = ordered
    ns["__record_bind_left__"] = _BOUND_BEFORE_COMPILING
    ns["__match_args__"] = names
    ns["__record_values__"] = staticmethod(_getter(names))
    ns["__record_compared__"] = staticmethod(_getter(tuple(f.name for f in ordered if f.compare)))
    ns["__record_shown__"] = tuple(f.name for f in ordered if f.repr)
    for method, fn in _METHODS.items():
        ns.setdefault(method, fn)
    if "__hash__" not in own or own["__hash__"] is None:  # None: the class body's __eq__ set it
        ns["__hash__"] = _slots().field_hash
    # Each class its own, so that a subclass never finds its base's made ones.
    ns["__slot_plan__"] = _Lazy("__slot_plan__", _record_plan)
    ns["__dataclass_fields__"] = _Lazy("__dataclass_fields__", _dataclass_fields)
    return type(cls)(name, cls.__bases__, ns)  # type: ignore[return-value]


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is self.__class__:
        get = self.__record_compared__
        return get(self) == get(other)
    return NotImplemented


def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__record_shown__)
    return f"{type(self).__qualname__}({shown})"


def _setattr(self: Any, name: str, value: Any) -> None:
    raise _frozen(name)


def _delattr(self: Any, name: str) -> None:
    raise _frozen(name)


def _reduce(self: Any) -> tuple:
    # Unpickling stores the values through the class's slot plan: no keyword binding, no
    # __init__ (the daemon hands every reload's model to its children this way).
    cls = type(self)
    return rebuild, (cls, cls.__record_values__(self))


def _frozen(name: str) -> Exception:
    from dataclasses import FrozenInstanceError  # only on the error path: callers expect it

    return FrozenInstanceError(f"cannot assign to field {name!r}")


#: How many constructions of a record class bind their arguments here before its own
#: ``__init__`` is compiled: compiling one costs as much as some 20 bindings, and most classes
#: on ``lvsfast -t``'s path are built once or twice (the options, the config, a diagnostic).
_BOUND_BEFORE_COMPILING = 8


def _first_init(self: Any, *args: Any, **kwargs: Any) -> None:
    # A class's first constructions bind their arguments here; then the class gets its real,
    # compiled __init__. Anything out of the ordinary (a missing, unknown or repeated argument)
    # goes to the compiled one at once, for Python's own error.
    cls = type(self)
    fields = cls.__record_fields__
    left = cls.__dict__.get("__record_bind_left__", 0)
    if left > 0 and len(args) <= len(fields):
        values = []
        used = 0
        for i, f in enumerate(fields):
            name = f.name
            if i < len(args):
                if name in kwargs:
                    break
                values.append(args[i])
            elif name in kwargs:
                values.append(kwargs[name])
                used += 1
            elif f.default is not MISSING:
                values.append(f.default)
            elif f.default_factory is not MISSING:
                values.append(f.default_factory())
            else:
                break
        else:
            if used == len(kwargs):
                type.__setattr__(cls, "__record_bind_left__", left - 1)
                plan_of(cls).fill(self, tuple(values))
                return
    init = _make_init(cls, [(f.name, f.default, f.default_factory, False) for f in fields])
    init(self, *args, **kwargs)


_METHODS: dict[str, Callable[..., Any]] = {
    "__init__": _first_init, "__eq__": _eq, "__repr__": _repr, "__setattr__": _setattr,
    "__delattr__": _delattr, "__reduce__": _reduce}


def _record_plan(cls: type) -> Any:
    fields = cls.__record_fields__  # type: ignore[attr-defined]
    slots = _slots()
    marker = slots.missing()
    plan = slots.SlotPlan(cls, tuple(f.name for f in fields),
                          tuple(marker if f.default is MISSING else f.default for f in fields),
                          tuple(None if f.default_factory is MISSING else f.default_factory for f in fields))
    plan.hash_fields(tuple(i for i, f in enumerate(fields) if f.hashed))
    return plan


def _dataclass_fields(cls: type) -> dict[str, Any]:
    # For dataclasses.fields/replace/astuple/is_dataclass, and only when one of them is used.
    import dataclasses

    out = {}
    for f in cls.__record_fields__:  # type: ignore[attr-defined]
        d = dataclasses.field(default=dataclasses.MISSING if f.default is MISSING else f.default,
                              default_factory=(dataclasses.MISSING if f.default_factory is MISSING
                                               else f.default_factory),
                              repr=f.repr, hash=f.hash, compare=f.compare)
        d.name, d.type = f.name, f.type
        d._field_type = dataclasses._FIELD  # type: ignore[attr-defined]  # what fields() selects
        out[f.name] = d
    return out


def fields(cls_or_record: Any) -> tuple[Field, ...]:
    """A :func:`record` class's (or instance's) fields, in order, as :class:`Field`."""
    return cls_or_record.__record_fields__


def replace(obj: T, **changes: Any) -> T:
    """``dataclasses.replace`` for a :func:`record`, without binding keywords."""
    cls = type(obj)
    values = cls.__record_values__(obj)  # type: ignore[attr-defined]
    if changes:
        names = cls.__match_args__  # type: ignore[attr-defined]
        unknown = changes.keys() - set(names)
        if unknown:
            raise TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        values = tuple(changes.get(n, v) for n, v in zip(names, values))
    return cls.__slot_plan__.new(values)  # type: ignore[attr-defined]


def _make_init(cls: type, specs: list[tuple[str, Any, Any, bool]]) -> Callable[..., None]:
    """Give ``cls`` an ``__init__`` with these (name, default, factory, kw_only) parameters that
    stores every value at once through the class's slot plan; returns it."""
    plan = plan_of(cls)
    env: dict[str, Any] = {"_FACTORY": _FACTORY, "_fill": plan.fill}
    positional: list[str] = []
    kw_only: list[str] = []
    values: list[str] = []
    for i, (name, default, factory, kw) in enumerate(specs):
        if default is not MISSING:
            env[f"_default{i}"] = default
            param, value = f"{name}=_default{i}", name
        elif factory is not MISSING:
            env[f"_factory{i}"] = factory
            param, value = f"{name}=_FACTORY", f"_factory{i}() if {name} is _FACTORY else {name}"
        else:
            param = value = name
        (kw_only if kw else positional).append(param)
        values.append(value)
    sig = positional + (["*", *kw_only] if kw_only else [])
    src = (f"def __init__(self, {', '.join(sig)}):\n"
           f"    _fill(self, ({''.join(v + ', ' for v in values)}))\n")
    exec(src, env)  # noqa: S102 - made from the class's own fields, as dataclasses makes its own
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[misc]
    return init


def quick(cls: type[T]) -> type[T]:
    """Replace ``cls.__init__`` (a frozen dataclass with slots and without __post_init__)."""
    import dataclasses

    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick() is for frozen dataclasses with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: quick() does not run __post_init__")
    slots = _slots()
    marker = slots.missing()
    specs = []
    names, defaults, factories = [], [], []
    for f in dataclasses.fields(cls):
        if not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: quick() needs every field in __init__")
        default = MISSING if f.default is dataclasses.MISSING else f.default
        factory = MISSING if f.default_factory is dataclasses.MISSING else f.default_factory
        specs.append((f.name, default, factory, f.kw_only))
        names.append(f.name)
        defaults.append(marker if default is MISSING else default)
        factories.append(None if factory is MISSING else factory)
    doc = cls.__init__.__doc__
    cls.__slot_plan__ = slots.SlotPlan(cls, tuple(names), tuple(defaults), tuple(factories))  # type: ignore[attr-defined]
    _make_init(cls, specs).__doc__ = doc
    generated = getattr(cls.__dict__.get("__hash__"), "__code__", None)
    if params.eq and generated is not None and generated.co_filename == "<string>":
        # The dataclass's own __hash__ (a class's explicit one is kept): the same value, made
        # without a Python frame where the compiled plan is in use.
        fields = dataclasses.fields(cls)
        cls.__slot_plan__.hash_fields(  # type: ignore[attr-defined]
            tuple(i for i, f in enumerate(fields) if (f.compare if f.hash is None else f.hash)))
        cls.__hash__ = slots.field_hash  # type: ignore[method-assign]
    return cls


try:  # the C accessor namedtuple uses; an itemgetter property elsewhere
    from _collections import _tuplegetter
except ImportError:
    def _tuplegetter(index: int, doc: str) -> Any:
        return property(itemgetter(index), doc=doc)


def _tuple_class(name: str, names: tuple[str, ...], defaults: tuple, module: str | None) -> type:
    """A tuple class as ``collections.namedtuple(name, names, defaults=defaults)`` makes it:
    fields by name and position, ``_make``, ``_replace``, ``_asdict``, repr, pickling."""
    args = ", ".join(names)
    env: dict[str, Any] = {"_new": tuple.__new__}
    exec(f"def __new__(_cls, {args}):\n    return _new(_cls, ({args}{',' if len(names) == 1 else ''}))\n",  # noqa: S102
         env)  # made from the class's own field names, as namedtuple makes its own
    new = env["__new__"]
    new.__defaults__ = defaults or None
    new.__qualname__ = f"{name}.__new__"
    count = len(names)

    @classmethod  # type: ignore[misc]
    def _make(cls: type, iterable: Any) -> Any:
        result = tuple.__new__(cls, iterable)
        if len(result) != count:
            raise TypeError(f"Expected {count} arguments, got {len(result)}")
        return result

    def _replace(self: Any, /, **changes: Any) -> Any:
        result = self._make(map(changes.pop, names, self))
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return result

    def __repr__(self: Any) -> str:
        return f"{self.__class__.__name__}({', '.join(f'{n}={v!r}' for n, v in zip(names, self))})"

    def _asdict(self: Any) -> dict[str, Any]:
        return dict(zip(names, self))

    def __getnewargs__(self: Any) -> tuple:
        return tuple(self)

    body: dict[str, Any] = {
        "__doc__": f"{name}({args})", "__slots__": (), "_fields": names, "__match_args__": names,
        "_field_defaults": dict(zip(names[count - len(defaults):], defaults)), "__new__": staticmethod(new),
        "_make": _make, "_replace": _replace, "__repr__": __repr__, "_asdict": _asdict,
        "__getnewargs__": __getnewargs__, "__module__": module or __name__}
    for index, field_name in enumerate(names):
        body[field_name] = _tuplegetter(index, f"Alias for field number {index}")
    return type(name, (tuple,), body)


class _NamedTupleMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if not bases:  # NamedTuple itself
            return super().__new__(mcls, name, bases, ns)
        annotations = ns.get("__annotations__", {})
        names = [n for n, a in annotations.items()
                 if not (isinstance(a, str) and a.startswith(("ClassVar", "typing.ClassVar")))]
        defaults = [ns[n] for n in names if n in ns]
        if any(n not in ns for n in names[len(names) - len(defaults):]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        cls = _tuple_class(name, tuple(names), tuple(defaults), ns.get("__module__"))
        for key, value in ns.items():
            if key not in names and key not in ("__module__", "__qualname__", "__dict__", "__weakref__"):
                setattr(cls, key, value)
        cls.__qualname__ = ns.get("__qualname__", name)
        return cls


class NamedTuple(metaclass=_NamedTupleMeta):
    """``typing.NamedTuple``'s class syntax (fields as annotations, defaults, methods, docstring)
    for the classes on ``lvsfast -t``'s path, without importing ``typing``: the class is
    :func:`_tuple_class`'s (``collections.namedtuple``'s behaviour, without importing
    ``collections``), with the body's other attributes set on it, as typing makes it.
    Modules import typing's under ``TYPE_CHECKING`` so that type checkers see the real thing."""


def plan_of(cls: type) -> Any:
    """The slot plan of a :func:`record` or :func:`quick` class (None for other classes):
    ``from_mapping(dict)`` and ``new(values)`` make instances without the keyword binding of
    ``cls(**dict)``."""
    plan = cls.__dict__.get("__slot_plan__")
    return plan.__get__(None, cls) if isinstance(plan, _Lazy) else plan


def plain_plan(cls: type) -> Any:
    """A slot plan for any dataclass with slots, frozen or not, whose ``__init__`` is left as it
    is: ``new(values)`` (one per field, in order) makes an instance without calling it."""
    import dataclasses

    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: plain_plan() is for dataclasses with slots")
    names = tuple(f.name for f in dataclasses.fields(cls))
    return _slots().SlotPlan(cls, names, (_slots().missing(),) * len(names), (None,) * len(names))


def rebuild(cls: type, values: tuple) -> Any:
    """Unpickling's constructor for a :func:`record` or :func:`quick` class: every field's
    value, in order."""
    return cls.__slot_plan__.new(values)  # type: ignore[attr-defined]


def _slots() -> Any:
    from lvsfast._native import load

    return load("slots")  # a sys.modules lookup once loaded
