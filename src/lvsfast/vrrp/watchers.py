"""The VRRP engine's watchers: links, VIPs, static items, track scripts, files and processes.

Each watcher turns what it sees into :meth:`~lvsfast.vrrp.runner.Instance.track` calls (or a
repair of what something deleted); the engine's instances do the rest. Kept apart from
:mod:`lvsfast.vrrp.runner`, which owns sockets, timers and the machines, as a mixin of
:class:`~lvsfast.vrrp.runner.Engine`: the watchers read the engine's instances and configuration.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable

from lvsfast.dataplane.model import canonical_address
from lvsfast.scripts import ScriptError, check_script, run_script
from lvsfast.vrrp.host import process_table
from lvsfast.vrrp.link_watch import Changes, LinkWatch
from lvsfast.vrrp.machine import AddressLost, State
from lvsfast.vrrp.spec import ScriptSpec
from lvsfast.vrrp.static import StaticSet
from lvsfast.vrrp.track import ProcessSpec, ScriptTracker, file_value, process_up

if TYPE_CHECKING:
    from lvsfast.vrrp.runner import Instance

log = logging.getLogger("lvsfast.vrrp")

# Links and VIPs are watched through rtnetlink notifications; these full passes only back them up.
LINK_RESYNC = 5.0
VIP_RESYNC = 5.0
LINK_POLL = 0.05  # without notifications


class Watchers:
    """The engine's watchers (a mixin of :class:`~lvsfast.vrrp.runner.Engine`)."""

    instances: dict[str, "Instance"]
    scripts: dict[str, ScriptSpec]
    processes: dict[str, ProcessSpec]
    files: dict[str, str]
    static: StaticSet | None
    script_security: bool
    script_user: str | None
    tasks: list[asyncio.Task]
    now: Callable[[], float]

    # ---- tracking --------------------------------------------------------------------------

    def _start_tracking(self) -> None:
        self.tasks.append(asyncio.create_task(self._watch_links()))
        wanted = {t.name for i in self.instances.values() for t in i.spec.tracks if t.kind == "script"}
        for name in sorted(wanted):
            if name in self.scripts:
                self.tasks.append(asyncio.create_task(self._run_track_script(self.scripts[name])))
        files = {t.name for i in self.instances.values() for t in i.spec.tracks if t.kind == "file"}
        if files:
            self.tasks.append(asyncio.create_task(self._watch_files(sorted(files))))
        procs = {t.name for i in self.instances.values() for t in i.spec.tracks if t.kind == "process"}
        if procs:
            self.tasks.append(asyncio.create_task(self._watch_processes(sorted(procs))))

    def _broadcast(self, kind: str, name: str, ok: bool, value: int = 0) -> None:
        for inst in self.instances.values():
            if any(t.kind == kind and t.name == name for t in inst.spec.tracks) or \
                    (kind == "interface" and name == inst.spec.interface):
                inst.track(kind, name, ok, value)

    def _watched_interfaces(self) -> set[str]:
        names = {t.name for i in self.instances.values() for t in i.spec.tracks if t.kind == "interface"}
        return names | {i.spec.interface for i in self.instances.values()}

    def _refresh_interfaces(self, changed: set[str] | None) -> None:
        """Re-read the state of the watched interfaces in ``changed`` (None: all of them)."""
        names = self._watched_interfaces()
        for name in sorted(names if changed is None else names & changed):
            try:
                with open(f"/sys/class/net/{name}/carrier", "rb", buffering=0) as f:
                    up = f.read().strip() == b"1"
                with open(f"/sys/class/net/{name}/operstate", "rb", buffering=0) as f:
                    up = up and f.read().strip() in (b"up", b"unknown")
            except OSError:
                up = False
            self._broadcast("interface", name, up)

    def _repair_vips(self, deleted: set[str] | None) -> None:
        """A tracked VIP deleted behind our back while master: as keepalived 2.2.7, the instance
        leaves MASTER for BACKUP and takes over again after its skew time, adding every VIP back
        (the kernel is asked first: the notice of our own release, read after a quick return to
        master, is not a deletion). A deleted virtual route or rule of a master does the same."""
        for inst in self.instances.values():
            if inst.machine.state is not State.MASTER or not inst.addresses.vips:
                continue
            if deleted is not None and not any(canonical_address(v.address) in deleted for v in inst.addresses.vips):
                continue

            async def repair(inst=inst) -> None:
                if inst.machine.state is not State.MASTER:
                    return
                gone = inst.addresses.missing()
                if gone:
                    what = ", ".join(f"{v.address} from {v.dev or inst.addresses.interface}" for v in gone)
                    log.warning("(%s) VIP %s removed by someone else: leaving MASTER to take it back", inst.spec.name,
                                what)
                    inst.feed(AddressLost(self.now(), f"VIP {what} removed"))
                    return
                rest = inst.addresses.repair_rest()
                if rest:
                    # keepalived treats a deleted virtual route or rule as a deleted VIP.
                    what = ", ".join(rest)
                    log.warning("(%s) %s removed by someone else: leaving MASTER to take it back", inst.spec.name,
                                what)
                    inst.feed(AddressLost(self.now(), f"{what} removed"))
            inst.ops.put_nowait(repair)

    def _link_changes(self, changes: Changes) -> None:
        self._refresh_interfaces(None if changes.everything else changes.links)
        if changes.everything or changes.deleted:
            self._repair_vips(None if changes.everything else changes.deleted)
            if self.static is not None and (changes.everything or self.static.concerns(changes.deleted)):
                self._repair_static()
        elif changes.routes:
            self._repair_vips(None)
            self._repair_static()

    def _repair_static(self) -> None:
        back = self.static.repair() if self.static is not None else []
        if back:
            log.warning("static %s had disappeared; put back", ", ".join(back))

    async def _watch_links(self) -> None:
        # Notifications drive both; the slow full pass is a safety net, not the mechanism. Without
        # a notification socket (it cannot fail as root, but) fall back to polling interfaces.
        try:
            watch: LinkWatch | None = LinkWatch(self._link_changes)
        except OSError as exc:
            log.warning("no link notifications (%s): polling interfaces", exc)
            watch = None
        try:
            while True:
                self._refresh_interfaces(None)
                await asyncio.sleep(LINK_RESYNC if watch else LINK_POLL)
        finally:
            if watch is not None:
                watch.close()

    async def _run_track_script(self, s: ScriptSpec) -> None:
        try:
            argv, run_as = check_script(s.command, user=s.user or self.script_user, group=s.group,
                                        security=self.script_security)
        except ScriptError as exc:
            log.error("vrrp_script %s refused: %s", s.name, exc)
            self._broadcast("script", s.name, False)
            return
        tracker = ScriptTracker.initial(s.rise, s.fall, s.init_fail)
        while True:
            res = await run_script(argv, run_as=run_as, timeout=s.timeout)
            changed = tracker.result(res.ok)
            if changed is True:
                log.info("VRRP_Script(%s) succeeded", s.name)
            elif changed is False:
                log.info("VRRP_Script(%s) failed (%s)", s.name,
                         "timed out" if res.timed_out else f"exited with status {res.returncode}")
            ok = tracker.ok
            self._broadcast("script", s.name, ok)
            await asyncio.sleep(s.interval)

    async def _watch_files(self, names: list[str]) -> None:
        paths = {n: self.files[n] for n in names if n in self.files}
        while True:
            for name, path in paths.items():
                try:
                    with open(path) as f:
                        value = file_value(f.read())
                except OSError:
                    value = 0
                self._broadcast("file", name, value == 0, value)
            await asyncio.sleep(1)

    async def _watch_processes(self, names: list[str]) -> None:
        # Polling /proc once a second: keepalived listens to the proc connector, but a second's
        # delay is within its own default track_process delay.
        while True:
            table = await asyncio.to_thread(process_table)
            for name in names:
                p = self.processes.get(name)
                self._broadcast("process", name, p is not None and process_up(p, table))
            await asyncio.sleep(1)

    async def _watch_vips(self) -> None:
        while True:
            await asyncio.sleep(VIP_RESYNC)
            self._repair_vips(None)
            self._repair_static()
