"""Filling the slots of a frozen dataclass's instance, pure Python: through each slot's own
descriptor, in one generated function per class. Twin of the compiled ``lvsfast._core.slots``;
both must build equal instances and raise the same TypeErrors."""
from __future__ import annotations

from operator import attrgetter

TYPE_CHECKING = False  # annotations only: the twin keeps typing off -t's path too (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any, Callable

_MISSING = object()


def field_hash(self: Any) -> int:
    """``hash`` of the tuple of the hashed fields, as the dataclass's own ``__hash__`` computes it."""
    plan = getattr(type(self), "__slot_plan__", None)
    if not isinstance(plan, SlotPlan) or not isinstance(self, plan.cls):
        raise TypeError(f"field_hash: {type(self).__name__} has no slot plan of its own")
    return hash(plan._hashed(self))


def missing() -> object:
    """The marker for a field without a default."""
    return _MISSING


def _descriptor(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        d = klass.__dict__.get(name)
        if d is not None:
            if type(d).__name__ != "member_descriptor":
                break
            return d
    raise TypeError(f"{cls.__name__}.{name} is not a slot")


class SlotPlan:
    """How to fill ``cls``'s fields: ``names`` in order, each with its default (or the missing
    marker) and its default factory (or None)."""

    __slots__ = ("cls", "names", "fill", "_hashed")

    def __init__(self, cls: type, names: tuple[str, ...], defaults: tuple, factories: tuple) -> None:
        # The defaults and factories are cls.__init__'s own here: from_mapping goes through it.
        if not (len(names) == len(defaults) == len(factories)):
            raise ValueError("names, defaults and factories differ in length")
        self.cls = cls
        self.names = names
        env: dict[str, Any] = {f"_s{i}": _descriptor(cls, n).__set__ for i, n in enumerate(names)}
        n = len(names)
        # One generated function per class: a descriptor's __set__ refuses an object of another
        # class (TypeError, as the compiled plan's own check).
        lines = [f"def fill(obj, values):\n    if len(values) != {n}:\n"
                 f"        raise TypeError(f'{cls.__name__}: {{len(values)}} values for {n} fields')\n"]
        if n:
            lines.append(f"    {''.join(f'v{i}, ' for i in range(n))}= values\n")
            lines.extend(f"    _s{i}(obj, v{i})\n" for i in range(n))
        exec("".join(lines), env)  # noqa: S102 - from the class's own field names
        #: Store ``values`` (one per field, in order) into ``obj``, an instance of ``cls``.
        self.fill: Callable[[object, tuple], None] = env["fill"]

    def hash_fields(self, indices: tuple[int, ...]) -> None:
        """Which fields (their indices in ``names``) :func:`field_hash` hashes, in order."""
        for i in indices:
            if not 0 <= i < len(self.names):
                raise IndexError(f"field index {i} out of range")
        names = [self.names[i] for i in indices]
        get = attrgetter(*names) if names else (lambda obj: ())
        self._hashed = get if len(names) != 1 else (lambda obj: (get(obj),))

    def new(self, values: tuple) -> Any:
        """A new instance holding ``values``, without calling ``__init__``."""
        obj = self.cls.__new__(self.cls)
        self.fill(obj, values)
        return obj

    def from_mapping(self, given: dict) -> Any:
        """A new instance from field name -> value, with the defaults and factories for the
        rest, as ``cls(**given)`` would make it (an unknown or missing name is a TypeError)."""
        return self.cls(**given)
