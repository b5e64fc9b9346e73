"""The VRRP child's subsystem: runs the engine for a config, reloads by difference.

A reload leaves every instance whose resolved spec is unchanged exactly as it is (no transition,
no advert gap: keepalived's #349); changed instances are restarted, removed ones stopped with a
priority-0 advert, new ones started.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from lvsfast.config.model import Config
from lvsfast.vrrp import spec as specs
from lvsfast.vrrp.notify import Notifier
from lvsfast.vrrp.route_spec import default_preferences, with_preference
from lvsfast.vrrp.runner import Engine
from lvsfast.vrrp.static import StaticSet

log = logging.getLogger("lvsfast.vrrp")


class VrrpService:
    name = "vrrp"

    def __init__(self, options: Any = None, emit=None) -> None:
        self.options = options
        self.emit = emit or (lambda *a, **k: None)
        self.engine: Engine | None = None
        self.specs: dict[str, specs.InstanceSpec] = {}
        self.scripts: dict[str, specs.ScriptSpec] = {}
        self.reloads = 0
        self.delayed: asyncio.Task | None = None  # vrrp_startup_delay: the engine's start, later
        self.static = StaticSet()
        self.bfd: Any = None  # vrrp.bfd_glue.BfdGlue, imported only with bfd_instance blocks

    def _build(self, config: Config) -> tuple[dict[str, specs.InstanceSpec], dict[str, specs.ScriptSpec]]:
        built = {}
        prefs = default_preferences(config)
        for vi in config.vrrp_instances:
            try:
                spec = specs.build(vi, config)
            except ValueError as exc:
                log.error("(%s) not started: %s", vi.name, exc)
                continue
            if prefs and spec.rules:
                spec = dataclasses.replace(spec, rules=tuple(with_preference(r, prefs) for r in spec.rules))
            built[vi.name] = spec
        return built, specs.scripts(config)

    async def start(self, config: Config) -> None:
        self.specs, self.scripts = self._build(config)
        # keepalived installs the static set before any instance starts, whatever their states.
        self.static = StaticSet.of(config)
        added = self.static.install()
        if added:
            log.info("static: added %s", ", ".join(added))
        g = config.global_defs
        self.engine = Engine(list(self.specs.values()), self.scripts, emit=self.emit,
                             script_security=g.enable_script_security, script_user=g.script_user,
                             processes=specs.processes(config), files=specs.track_files(config),
                             notifier=Notifier(fifo=specs.notify_fifo(config), security=g.enable_script_security,
                                               user=g.script_user),
                             group_notify=specs.group_notify(config), static=self.static)
        self._bfd(config)
        delay = g.vrrp_startup_delay
        if delay > 0:
            # keepalived's vrrp_startup_delay: interfaces (bonds) that pass no traffic for a while
            # after boot would make every instance master; start them once the delay is over.
            log.info("vrrp_startup_delay: instances start in %g s", delay)
            self.delayed = asyncio.create_task(self._start_later(delay))
        else:
            await self.engine.start()

    async def _start_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        assert self.engine is not None
        self.engine.specs = list(self.specs.values())  # a reload during the delay replaced them
        self.delayed = None
        await self.engine.start()

    def _bfd(self, config: Config) -> None:
        if getattr(self.options, "no_bfd", False):  # -B (options may be a test's stand-in)
            return
        if self.bfd is None and config.bfd_instances:
            from lvsfast.vrrp.bfd_glue import BfdGlue

            assert self.engine is not None
            self.bfd = BfdGlue(self.engine, self.emit)
        if self.bfd is not None:
            self.bfd.update(config)

    async def reload(self, config: Config) -> None:
        assert self.engine is not None
        new, scripts = self._build(config)
        self._bfd(config)
        # The static set does not wait for the instances (vrrp_startup_delay included).
        added, removed = self.static.update(StaticSet.of(config))
        if added or removed:
            log.info("reload: static set: added %s; removed %s", ", ".join(added) or "nothing",
                     ", ".join(removed) or "nothing")
        if self.delayed is not None:
            self.specs, self.scripts = new, scripts
            self.engine.scripts = scripts
            self.reloads += 1
            return
        changed_scripts = {n for n in set(scripts) | set(self.scripts) if scripts.get(n) != self.scripts.get(n)}
        stale = [n for n, s in self.specs.items()
                 if new.get(n) != s or any(t.kind == "script" and t.name in changed_scripts for t in s.tracks)]
        fresh = [s for n, s in new.items() if n not in self.specs or n in stale]
        if stale:
            log.info("reload: restarting changed or removed instances: %s", ", ".join(sorted(stale)))
            await self.engine.remove(stale, deleted=frozenset(n for n in stale if n not in new))
        self.engine.scripts = scripts
        if fresh:
            await self.engine.add(fresh)
        kept = len(new) - len(fresh)
        log.info("reload: %d instance(s) unchanged and untouched", kept)
        self.specs, self.scripts = new, scripts
        self.reloads += 1

    async def stop(self) -> None:
        release = not getattr(self.options, "dont_release_vrrp", False)
        if self.delayed is not None:
            self.delayed.cancel()
            self.delayed = None
        elif self.engine is not None:
            await self.engine.stop(release=release)
        if self.bfd is not None:
            self.bfd.stop()
        # keepalived removes the static set at stop even with --dont-release-vrrp (which keeps VIPs only).
        removed = self.static.clear()
        if removed:
            log.info("static: removed %s", ", ".join(removed))
        self.static.close()

    def status(self) -> dict[str, Any]:
        st = self.engine.status() if self.engine else {"instances": {}, "counters": {}}
        if self.bfd is not None:
            st["bfd"] = self.bfd.status()
        return st

    def stats(self, clear: bool = False) -> dict[str, Any]:
        st = self.status()
        if clear and self.engine is not None:  # keepalived's STATS_CLEAR signal: counts start again
            for inst in self.engine.instances.values():
                inst.sent = inst.received = inst.become_master = inst.release_master = 0
                inst.pri_zero_sent = inst.pri_zero_rcvd = 0
        return {"counters": st["counters"],
                "instances": {n: {k: v for k, v in i.items() if k in ("adverts_sent", "adverts_received",
                                                                      "transitions")}
                              for n, i in st["instances"].items()}}

    async def command(self, op: str, args: dict[str, Any]) -> Any:
        raise ValueError(f"the VRRP child has no command {op!r}")

    def on_event(self, event: dict[str, Any]) -> None:
        pass
