"""The checker core's events (what happened: time passed, a probe ended, a config loaded, the
operator asked) and actions (what the driver is to do), frozen and slotted as the VRRP
machine's are. The one made per probe result has a twin that makes no object:
:meth:`lvsfast.check.core.CheckerCore.result`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from lvsfast.config.model import Config, Script

if TYPE_CHECKING:
    from lvsfast.check.core import Check

INFO, WARNING, ERROR = 20, 30, 40  # logging's levels, without importing logging here

# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    """A configuration is loaded (start or reload)."""

    now: float
    config: Config


@dataclass(frozen=True, slots=True)
class Due:
    """Start what is due by ``until``, at most ``limit`` checks."""

    now: float
    until: float
    limit: int


@dataclass(frozen=True, slots=True)
class Result:
    """One attempt of ``check`` ended."""

    now: float
    check: Check
    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Mastership:
    """This router's VRRP instance took (``master``) or gave up these virtual addresses."""

    vips: frozenset[str]
    master: bool


@dataclass(frozen=True, slots=True)
class Flush:
    """Time to bring the table up to date with the verdicts gathered since the last flush."""

    now: float


@dataclass(frozen=True, slots=True)
class Restore:
    """The operator's overrides saved by an earlier run."""

    now: float
    saved: dict


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """The operator's ``server drain|disable|enable|weight`` on ``virtual`` and ``real`` (ADDR:PORT)."""

    now: float
    action: str
    virtual: str
    real: str
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class DrainTick:
    """The draining real servers' live connections, counted now."""

    now: float
    active: dict


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The checker stops (``omega``)."""


Event = Union[Load, Due, Result, Mastership, Flush, Restore, ServerCommand, DrainTick, Shutdown]

# ---- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """A new check: hand it to the prober, or give it back with :meth:`CheckerCore.keep`."""

    check: Check


@dataclass(frozen=True, slots=True)
class Cancel:
    """A check whose server left: stop whatever runs or times it."""

    check: Check


@dataclass(frozen=True, slots=True)
class StartProbe:
    check: Check
    late: float  # how long after its due time it starts


@dataclass(frozen=True, slots=True)
class Pause:
    check: Check


@dataclass(frozen=True, slots=True)
class Resume:
    check: Check


@dataclass(frozen=True, slots=True)
class MoreDue:
    """The start limit was reached: more may be due."""


@dataclass(frozen=True, slots=True)
class RunScript:
    script: Script


@dataclass(frozen=True, slots=True)
class Log:
    level: int
    message: str


@dataclass(frozen=True, slots=True)
class Emit:
    """An event for the daemon's other processes (``real_server``, ``quorum``)."""

    kind: str
    fields: dict


@dataclass(frozen=True, slots=True)
class FlushLater:
    """The table is stale: send :class:`Flush` soon (gathering a burst of changes into one)."""


@dataclass(frozen=True, slots=True)
class Apply:
    """Make the backend hold :meth:`CheckerCore.table`."""


@dataclass(frozen=True, slots=True)
class SaveOverrides:
    overrides: dict


@dataclass(frozen=True, slots=True)
class Reply:
    text: str


Action = Union[Schedule, Cancel, StartProbe, Pause, Resume, MoreDue, RunScript, Log, Emit, FlushLater,
               Apply, SaveOverrides, Reply]
NOTHING: tuple = ()  # no action (shared: the common answer to a probe result)
MORE_DUE = MoreDue()
FLUSH_LATER = FlushLater()
APPLY = Apply()
