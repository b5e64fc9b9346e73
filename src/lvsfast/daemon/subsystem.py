"""What a child process runs: the VRRP subsystem or the checker subsystem.

The parent never imports protocol code paths it does not need to; each child imports and
builds its subsystem from a factory named here, after the fork, so that neither child holds
the other's stack (the VRRP child's pyroute2, the checker's probes and data plane): a module
imported before the fork is shared only until a child touches its objects, and a child that
never uses it still keeps the parent's copy alive. What every child uses (:data:`SHARED`) is
imported before the fork, where its pages stay shared.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from lvsfast.config.model import Config


class Subsystem(Protocol):
    """One child's work. All methods run on the child's own event loop."""

    name: str

    async def start(self, config: "Config") -> None: ...

    async def reload(self, config: "Config") -> None:
        """Apply only what changed between the running config and ``config``."""

    async def stop(self) -> None:
        """Graceful stop: priority-0 adverts, VIPs and owned kernel entries removed per config."""

    def status(self) -> dict[str, Any]: ...

    def stats(self, clear: bool = False) -> dict[str, Any]: ...

    async def command(self, op: str, args: dict[str, Any]) -> Any:
        """Runtime commands from lvsfastctl (e.g. server drain); unknown ops raise ValueError."""

    def on_event(self, event: dict[str, Any]) -> None:
        """An event relayed by the parent from the other child (e.g. VRRP state for ha_suspend)."""


#: Child name -> "module:factory". The factory takes (options, emit) where ``emit(name, **data)``
#: sends an event to the parent, and returns a Subsystem.
DEFAULT_FACTORIES: dict[str, str] = {
    "vrrp": "lvsfast.vrrp.service:VrrpService",
    "checker": "lvsfast.check.service:CheckerService",
}

Factory = Callable[..., Subsystem]


#: Children that read a new config themselves while the parent reads it, rather than wait for
#: the parent's copy: the checker, whose view is the whole table. Not the VRRP child: the reading
#: would hold its loop, and its adverts, for as long as it takes, and its view is small.
READS_ITS_OWN: frozenset[str] = frozenset({"checker"})


def config_view(name: str, config: "Config") -> "Config":
    """The part of ``config`` child ``name`` works from: the VRRP child has no use for the
    virtual servers, which are nearly all of a large config's bytes on every reload."""
    if name == "vrrp" and getattr(config, "virtual_servers", None):
        import dataclasses

        return dataclasses.replace(config, virtual_servers=(), virtual_server_groups=())
    return config


def resolve(spec: str) -> Factory:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


#: Modules both children import, loaded by the parent before it forks (small, and shared).
SHARED: tuple[str, ...] = ("lvsfast.scripts", "lvsfast.config.resolve", "lvsfast.dataplane.model")


def preload(modules: tuple[str, ...] = SHARED) -> None:
    """Import ``modules`` before forking, so the children share their pages."""
    for name in modules:
        importlib.import_module(name)
