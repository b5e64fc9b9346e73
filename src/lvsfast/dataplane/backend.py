"""The data-plane port: what a backend (IPVS, nftables) offers the daemon and the checker.

Every backend implements :class:`Backend` whole. The parts a kernel data plane may lack are
named in :data:`CAPABILITIES`; a backend lists those it has in ``capabilities``, and a caller
asks there first (``WATCH in backend.capabilities``), never with ``hasattr``. Calling a method
whose capability a backend does not list raises :class:`NotSupported`, so a missing check in a
caller shows up as a named error, not an AttributeError (:class:`Unsupported` gives a backend
those answers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

from lvsfast.dataplane.diff import Op
from lvsfast.dataplane.model import DestKey, ServiceKey, Table

Pair = tuple[ServiceKey, DestKey]

#: ``watch(on_change)``: the kernel tells us when another process changes our entries.
WATCH = "watch"
#: ``connections(pairs)``: live connections per (service, real server), for draining.
CONNECTIONS = "connections"
#: ``set_timeouts(t)``: keepalived's ``lvs_timeouts``.
TIMEOUTS = "timeouts"
#: ``start_sync_daemon(d)`` / ``stop_sync_daemon(d)``: keepalived's ``lvs_sync_daemon``.
SYNC_DAEMON = "sync_daemon"
CAPABILITIES = frozenset({WATCH, CONNECTIONS, TIMEOUTS, SYNC_DAEMON})


class BackendError(RuntimeError):
    """A kernel refusal, with the service and real server named in the message."""


class NotSupported(BackendError):
    """This backend has no such capability (it is not in its ``capabilities``)."""


@dataclass(frozen=True, slots=True)
class SyncDaemon:
    """keepalived's ``lvs_sync_daemon INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]``."""

    state: str  # "master" | "backup"
    interface: str
    sync_id: int = 0
    maxlen: int = 0  # 0: the kernel's default
    mcast_group: str = ""  # "": the kernel's default 224.0.0.81
    mcast_port: int = 0  # 0: the kernel's default 8848
    mcast_ttl: int = 0  # 0: the kernel's default 1


@dataclass(frozen=True, slots=True)
class Timeouts:
    """keepalived's ``lvs_timeouts tcp N tcpfin N udp N`` (seconds; 0 leaves the kernel's value)."""

    tcp: int = 0
    tcpfin: int = 0
    udp: int = 0


class Backend(Protocol):
    """A kernel data plane lvsfast programs.

    Always there: ``read``, ``apply`` (``reread=True`` forgets what the backend thinks the
    kernel holds and looks again: drift repair), ``close``. The rest depends on
    ``capabilities`` (a subset of :data:`CAPABILITIES`); without its capability a method raises
    :class:`NotSupported`.
    """

    name: str  # "ipvs" | "nftables"
    capabilities: frozenset[str]

    async def read(self) -> Table:
        """The kernel's current table, as far as this backend owns or can see it."""

    async def apply(self, desired: Table, *, reread: bool = False) -> list[Op]:
        """Read once (again with ``reread``), diff, send only the differences; return what was done."""

    async def close(self, desired: Table | None = None) -> None:
        """Remove what lvsfast owns (or leave it, per configuration) and release sockets."""

    def watch(self, on_change: Callable[[object], None]) -> None:
        """:data:`WATCH`: call ``on_change`` (on the running loop) when another process changes
        our entries. Idempotent; stopped by ``close``. OSError when the kernel refuses."""

    async def connections(self, pairs: Sequence[Pair]) -> Mapping[Pair, int]:
        """:data:`CONNECTIONS`: connections still using each (service, real server)."""

    async def set_timeouts(self, t: Timeouts) -> None:
        """:data:`TIMEOUTS`: the tcp, tcpfin and udp connection timeouts."""

    async def start_sync_daemon(self, d: SyncDaemon) -> None:
        """:data:`SYNC_DAEMON`: start the kernel's master or backup connection-sync thread."""

    async def stop_sync_daemon(self, d: SyncDaemon) -> None:
        """:data:`SYNC_DAEMON`: stop it."""


class Unsupported:
    """The :class:`NotSupported` answers, for a backend to inherit for what it lacks."""

    name = "none"
    capabilities: frozenset[str] = frozenset()

    def _lacks(self, capability: str) -> NotSupported:
        return NotSupported(f"{self.name}: {capability} is not supported by this data plane")

    def watch(self, on_change: Callable[[object], None]) -> None:
        raise self._lacks(WATCH)

    async def connections(self, pairs: Sequence[Pair]) -> Mapping[Pair, int]:
        raise self._lacks(CONNECTIONS)

    async def set_timeouts(self, t: Timeouts) -> None:
        raise self._lacks(TIMEOUTS)

    async def start_sync_daemon(self, d: SyncDaemon) -> None:
        raise self._lacks(SYNC_DAEMON)

    async def stop_sync_daemon(self, d: SyncDaemon) -> None:
        raise self._lacks(SYNC_DAEMON)
