"""BFD inside the VRRP child: the bfd_instance sessions, and where their state changes go.

- track_bfd: the session's state is a tracked object of the instances naming it (Up is up;
  anything else down, as keepalived: an instance with an unweighted track_bfd waits in FAULT
  until the session first comes Up).
- bfd_master_down: a session going Down from Up is the Master_Down event of the backups whose
  master is its neighbour (:class:`~lvsfast.vrrp.machine.PeerDown`), at once, on this loop.
- BFD_CHECK: the parent relays a ``bfd_state`` event to the checker child.

Why here and not in a process of its own (keepalived's BFD process): see docs/architecture.md.
"""
from __future__ import annotations

import logging
import socket
from typing import Any, Callable

from lvsfast.vrrp.bfd_engine import BfdEngine
from lvsfast.bfd.wire_types import UP, diag_name
from lvsfast.config.model import BfdInstance, Config
from lvsfast.vrrp.machine import PeerDown
from lvsfast.vrrp.runner import Engine

log = logging.getLogger("lvsfast.vrrp")


class BfdGlue:
    def __init__(self, engine: Engine, emit: Callable[..., None]) -> None:
        self.engine = engine
        self.emit = emit
        self.bfd = BfdEngine(self._changed)
        self.master_down: dict[str, str] = {}  # vrrp_instance -> bfd_instance (bfd_master_down)

    def update(self, config: Config) -> None:
        """Start-up and reloads. Before the VRRP instances (re)start: they start with every
        tracked session down, unless it is already Up."""
        self.master_down = {vi.name: vi.bfd_master_down for vi in config.vrrp_instances if vi.bfd_master_down}
        self.bfd.update(config.bfd_instances)
        self.engine.initial_track = {("bfd", b.name): self.bfd.is_up(b.name) for b in config.bfd_instances
                                     if b.vrrp}

    def _changed(self, b: BfdInstance, old: int, new: int, diag: int) -> None:
        up = new == UP
        if b.vrrp:
            self.engine.initial_track[("bfd", b.name)] = up
            self.engine._broadcast("bfd", b.name, up)
            if old == UP and not up:
                self._master_down(b, diag)
        if b.checker and (old == UP) != up:
            self.emit("bfd_state", instance=b.name, state="UP" if up else "DOWN")

    def _master_down(self, b: BfdInstance, diag: int) -> None:
        src = socket.inet_pton(socket.AF_INET if b.family == 4 else socket.AF_INET6, b.neighbor_ip)
        now = self.engine.now()
        why = f"BFD_Instance({b.name}) to the master went down ({diag_name(diag)})"
        for name, bfd_name in self.master_down.items():
            inst = self.engine.instances.get(name)
            if bfd_name == b.name and inst is not None:
                inst.feed(PeerDown(now, src, why))

    def stop(self) -> None:
        self.bfd.stop()

    def status(self) -> dict[str, Any]:
        return self.bfd.status()
