"""The checker's care of the kernel beyond the table: drift repair, draining, the operator's
saved overrides, and IPVS's connection timeouts and sync daemon (keepalived's global_defs).

I/O, part of the driver (:mod:`lvsfast.check.service`). What the backend can do is asked of
its ``capabilities`` (:mod:`lvsfast.dataplane.backend`), never guessed from its attributes.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lvsfast.check.events import Apply, DrainTick
from lvsfast.dataplane.backend import CONNECTIONS, SYNC_DAEMON, TIMEOUTS, WATCH, SyncDaemon, Timeouts

if TYPE_CHECKING:
    from lvsfast.check.service import CheckerService

log = logging.getLogger("lvsfast.check")

# Drift repair: the periodic comparison (the "within 2 s"), and the pause after an
# outside change is notified, so the rest of a script of `nft` commands lands first.
DRIFT_INTERVAL = 2.0
# How much of the checker's time the periodic comparison may take: a tenth where it is the only
# way to see drift (IPVS), a hundredth where the kernel announces changes (nftables) and the
# comparison is only a backstop. A comparison of 20,000 entries costs ~0.2 s of CPU; at a tenth
# it took one check in ten of the checker's core at 20,000 checks/s (bench/checker_scale.py).
DRIFT_SHARE = {False: 10, True: 100}
DRIFT_SETTLE = 0.05


class Upkeep:
    def __init__(self, service: CheckerService) -> None:
        self.service = service
        self.repairs = 0
        self._sync_running: tuple[str, ...] = ()  # the kernel threads this process started
        self._sync_wanted = "backup"  # the instance's last mastership, though it came before start()
        self._tasks: list[asyncio.Task] = []

    @property
    def backend(self) -> Any:
        return self.service.backend

    async def start(self) -> None:
        await self._ipvs_extras()
        self._tasks = [asyncio.create_task(self._drain_ticker()), asyncio.create_task(self._repair_drift())]

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def stop(self) -> None:
        sd = self._sync_config()
        if sd is not None and SYNC_DAEMON in self.backend.capabilities:
            for state in self._sync_running:
                try:
                    await self.backend.stop_sync_daemon(_sync_daemon_of(sd, state))
                except Exception as exc:
                    log.error("lvs_sync_daemon stop: %s", exc)
        self._sync_running = ()

    # ---- drift -----------------------------------------------------------------------------

    def _drift_on(self) -> bool:
        config = self.service.config
        return config is not None and config.global_defs.drift_repair

    async def _repair_drift(self) -> None:
        """Put back what something outside lvsfast changed in our kernel entries (``drift_repair``).

        On nftables the kernel tells us: another process's transaction touching our table wakes
        this at once (a short pause lets the rest of an outside script land). IPVS sends no
        change notifications, so there, and as a backstop everywhere, the kernel is compared with
        the desired table every 2 s, stretched to ten times the cost of one comparison (a hundred
        times where notifications come) so a huge table never keeps a core busy. Entries we do not own are never touched: the backends
        only diff what they own.
        """
        loop = asyncio.get_running_loop()
        kicked = asyncio.Event()
        causes: list[object] = []

        def outside(change: object) -> None:
            causes.append(change)
            kicked.set()

        interval = DRIFT_INTERVAL
        while True:
            backend = self.backend
            watching = False
            if backend is not None and self._drift_on() and WATCH in backend.capabilities:
                try:
                    backend.watch(outside)
                    watching = True
                except OSError as exc:
                    log.warning("nftables change notifications unavailable (%s): periodic comparison only", exc)
            try:
                await asyncio.wait_for(kicked.wait(), interval)
                await asyncio.sleep(DRIFT_SETTLE)
            except TimeoutError:
                pass
            kicked.clear()
            found = ", ".join(dict.fromkeys(str(c) for c in causes)) or "periodic comparison"
            causes.clear()
            backend = self.backend
            if backend is None or not self._drift_on():
                continue
            t0 = loop.time()
            async with self.service._backend_lock:
                try:
                    ops = await backend.apply(self.service.core.pool.table(), reread=True)
                except Exception as exc:
                    log.error("drift check failed: %s", exc)
                    ops = []
            if ops:
                self.repairs += 1
                shown = "; ".join(str(op) for op in ops[:5]) + (f"; and {len(ops) - 5} more" if len(ops) > 5 else "")
                log.warning("kernel entries changed outside lvsfast (found by %s); restored %d: %s",
                            found, len(ops), shown)
            interval = max(DRIFT_INTERVAL, DRIFT_SHARE[watching] * (loop.time() - t0))

    # ---- draining --------------------------------------------------------------------------

    async def _drain_ticker(self) -> None:
        while True:
            await asyncio.sleep(1)
            draining = self.service.core.pool.draining
            if not draining:
                continue
            pairs = list(draining)
            try:
                if CONNECTIONS not in self.backend.capabilities:
                    raise LookupError(f"the {self.backend.name} data plane does not count connections")
                # IPVS's counters, or conntrack's entries DNATed to the server (nftables).
                active = dict(await self.backend.connections(pairs))
            except Exception as exc:
                log.debug("connection counts unavailable: %s", exc)
                active = {pair: 1 for pair in pairs}  # unknown: wait for drain_timeout
            if any(type(a) is Apply for a in self.service._handle(DrainTick(asyncio.get_running_loop().time(), active))):
                await self.service._apply()

    # ---- the operator's overrides ----------------------------------------------------------

    @property
    def state_path(self) -> str:
        from lvsfast.paths import DEFAULT_CONTROL_SOCKET, state_file_for

        # Two daemons on one host keep separate state, beside their own control sockets.
        return state_file_for(getattr(self.service.options, "control_socket", None) or DEFAULT_CONTROL_SOCKET)

    def save_overrides(self, overrides: dict) -> None:
        from lvsfast.dataplane import runtime_state

        try:
            runtime_state.save(self.state_path, overrides)
        except OSError as exc:
            log.error("runtime state not saved to %s: %s", self.state_path, exc)

    # ---- IPVS extras: connection timeouts and the sync daemon ------------------------------

    def _sync_config(self) -> Any:
        config = self.service.config
        return config.global_defs.lvs_sync_daemon if config else None

    async def _ipvs_extras(self) -> None:
        config = self.service.config
        if config is None:
            return
        g = config.global_defs
        t = g.lvs_timeouts
        if t is not None and (t.tcp or t.tcpfin or t.udp) and TIMEOUTS in self.backend.capabilities:
            try:
                await self.backend.set_timeouts(Timeouts(t.tcp or 0, t.tcpfin or 0, t.udp or 0))
            except Exception as exc:
                log.error("lvs_timeouts: %s", exc)
        if g.lvs_sync_daemon is not None:
            # keepalived starts as a sync backup; the VRRP instance's mastership switches it
            # (a MASTER instance may have said so while the data plane was still starting).
            # `role both` runs both threads from the start and VRRP does not move them.
            await self._sync_daemon(self._sync_roles(g.lvs_sync_daemon, self._sync_wanted))

    @staticmethod
    def _sync_roles(sd: Any, wanted: str) -> tuple[str, ...]:
        return ("master", "backup") if sd.role == "both" else (wanted,)

    def vrrp_state(self, instance: str | None, master: bool) -> None:
        sd = self._sync_config()
        if sd is not None and sd.role == "vrrp" and instance == sd.vrrp_instance:
            self._sync_wanted = "master" if master else "backup"
            asyncio.ensure_future(self._sync_daemon((self._sync_wanted,)))

    async def _sync_daemon(self, states: tuple[str, ...]) -> None:
        sd = self._sync_config()
        if sd is None or states == self._sync_running or SYNC_DAEMON not in self.backend.capabilities:
            return
        try:
            for state in self._sync_running:
                if state not in states:
                    await self.backend.stop_sync_daemon(_sync_daemon_of(sd, state))
                    self._sync_running = tuple(s for s in self._sync_running if s != state)
            for state in states:
                if state not in self._sync_running:
                    await self.backend.start_sync_daemon(_sync_daemon_of(sd, state))
                    self._sync_running += (state,)
            log.info("lvs_sync_daemon on %s: %s (%s)", sd.interface, " and ".join(states),
                     "role both" if sd.role == "both" else f"instance {sd.vrrp_instance}")
        except Exception as exc:
            log.error("lvs_sync_daemon %s: %s", " and ".join(states), exc)


def _sync_daemon_of(sd: Any, state: str) -> SyncDaemon:
    """The kernel's sync thread ``state`` ("master"/"backup") for ``lvs_sync_daemon`` ``sd``: the
    same record starts and stops it (stopping, the kernel reads only the state)."""
    return SyncDaemon(state, sd.interface, sd.sync_id or 0, sd.maxlen or 0, sd.group or "", sd.port or 0, sd.ttl or 0)
