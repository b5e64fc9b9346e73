"""``announce_track_script``: the vrrp_script blocks the announcement tracks, run by the checker.

keepalived users name their health scripts in ``vrrp_script`` blocks and track them by name;
``announce_track_script`` (in global_defs: every VIP; in a virtual server: its addresses) takes
the same names. The VRRP child runs the scripts its instances track, but a scale-out director
often has no VRRP instance (no VRRP child at all), and the announcer lives in the checker: so
the checker runs the tracked ones itself, with the block's interval, timeout, rise, fall,
init_fail, user and group (weight means nothing here). A script that an instance tracks too runs
in both processes.

A script counts as failed until its first run has given a verdict: a director must not attract
flows it would withdraw a second later.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from lvsfast.config.model import Config, VrrpScript

log = logging.getLogger("lvsfast.announce")


def tracked(config: Config) -> set[str]:
    """Every script name ``announce_track_script`` gives, in global_defs or a virtual server."""
    names = set(config.global_defs.announce_track_script)
    for vs in config.virtual_servers:
        if vs.announce_route:
            names.update(vs.announce_track_script)
    return names


class ScriptWatch:
    """Runs each tracked script in a task; ``up(name)`` is its state, ``on_change`` is called
    when one changes."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change
        self._tasks: dict[str, tuple[VrrpScript, asyncio.Task]] = {}
        self._ok: set[str] = set()

    def configure(self, config: Config) -> None:
        """Start the scripts ``config`` tracks, restart the changed ones, stop the rest."""
        want = {s.name: s for s in config.vrrp_scripts if s.name in tracked(config) and s.script is not None}
        g = config.global_defs
        for name in list(self._tasks):
            spec, task = self._tasks[name]
            if want.get(name) != spec:
                task.cancel()
                del self._tasks[name]
                self._ok.discard(name)
        for name, spec in want.items():
            if name not in self._tasks:
                task = asyncio.get_running_loop().create_task(self._run(spec, g.script_user, g.enable_script_security))
                self._tasks[name] = (spec, task)

    def up(self, name: str) -> bool:
        return name in self._ok

    def down(self, names: tuple[str, ...]) -> list[str]:
        return [n for n in names if n not in self._ok]

    async def _run(self, s: VrrpScript, user: str | None, security: bool) -> None:
        from lvsfast.scripts import ScriptError, check_script, run_script

        assert s.script is not None
        try:
            argv, run_as = check_script(s.script.command, user=s.script.user or user, group=s.script.group,
                                        security=security)
        except ScriptError as exc:
            log.error("announce_track_script: vrrp_script %s refused (what tracks it stays withdrawn): %s", s.name, exc)
            return
        # vrrp_script's rise and fall, from its initial state (up unless init_fail); the
        # VRRP child's tracker is the same rule (dataplane does not import vrrp).
        ok, streak, first = not s.init_fail, 0, True
        while True:
            res = await run_script(argv, run_as=run_as, timeout=s.timeout if s.timeout is not None else s.interval)
            streak = streak + 1 if res.ok != ok else 0
            if streak >= max(1, s.rise if res.ok else s.fall):
                ok, streak = res.ok, 0
            if first or (s.name in self._ok) != ok:
                if ok:
                    log.info("announce_track_script: %s succeeded", s.name)
                else:
                    log.warning("announce_track_script: %s failed (%s): withdrawing what tracks it", s.name,
                                "timed out" if res.timed_out else f"exit status {res.returncode}")
            first = False
            was = s.name in self._ok
            if ok:
                self._ok.add(s.name)
            else:
                self._ok.discard(s.name)
            if was != ok:
                self.on_change()
            await asyncio.sleep(s.interval)

    def close(self) -> None:
        for _, task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._ok.clear()
