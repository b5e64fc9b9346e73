"""The checker's table of real servers: what the checks, quorum and sorry server leave of the
configured table, and the pool (drain, operator overrides) on top. Sans-IO, part of the core.

The healthy table is kept per virtual server and rebuilt only for those whose real servers
changed (``stale_vs``; None: all of them, after a load), so a check flap costs its own virtual
server, and the unchanged services keep their objects: the backends skip those without a look.
What the config alone decides is made once per config.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lvsfast.check.events import INFO, Action, Emit, Log, RunScript
from lvsfast.check.quorum import Quorum, QuorumChange
from lvsfast.check.reals import group_by_vs, split_checked
from lvsfast.config.model import Config, VirtualServer
from lvsfast.dataplane import from_config
from lvsfast.dataplane.model import Delta, Dest, DestKey, ServiceKey, Table
from lvsfast.dataplane.pool import Pool

if TYPE_CHECKING:
    from lvsfast.check.core import Real


class CheckTable:
    def __init__(self) -> None:
        self.pool = Pool()
        self.stale_vs: set[str] | None = None
        self.keys_of: dict[int, list[ServiceKey]] = {}  # id(virtual server of the config) -> its keys
        self.quorum: dict[str, Quorum] = {}
        self._vs_dests: dict[str, dict[ServiceKey, dict[DestKey, Dest]]] = {}
        self._per_config: tuple[Config, Table, from_config.ConfiguredPairs, dict] | None = None
        self._vs_names: list[tuple[str, VirtualServer]] = []
        self._reals_by_vs: dict[str, list[Real]] = {}
        self._vs_by_name: dict[str, VirtualServer] = {}
        self._last: Table | None = None  # what healthy() returned last
        self._vs_disjoint = False  # no two virtual servers share a service key

    def update(self, config: Config, reals: dict[Any, Real], now: float) -> list[Action]:
        """The healthy table into the pool; the quorum changes found on the way."""
        table, out = self.healthy(config, reals)
        _, configured, timeouts = self._config_parts(config)
        self.pool.update(table, configured, timeouts, now)
        return out

    def _config_parts(self, config: Config) -> tuple[Table, from_config.ConfiguredPairs, dict]:
        """What the config alone decides, made once per config: every real server at its
        configured weight, every configured (service, real server), and the drain_timeout of
        those whose timeout is not the default."""
        if self._per_config is None or self._per_config[0] is not config:
            full = from_config.full_table(config, self.keys_of)
            pairs, timeouts = from_config.configured(config, full, self.keys_of)
            self._per_config = (config, full, pairs, timeouts)
            self._vs_names = [(vs.name, vs) for vs in config.virtual_servers]
            self._vs_by_name = {name: vs for name, vs in self._vs_names}  # a name is formatted per call
        return self._per_config[1:]

    def healthy(self, config: Config, reals: dict[Any, Real]) -> tuple[Table, list[Action]]:
        """The table as the checks leave it, and the quorum changes found. After a check result
        only the virtual servers it touched are rebuilt, and the table says so (a Delta from the
        last one), so a backend that applied the last one diffs only them: one flip costs its
        virtual server, not the table."""
        full = self._config_parts(config)[0]
        out: list[Action] = []
        stale = self.stale_vs
        self.stale_vs = set()
        last = self._last
        if stale is not None and last is not None and last.services is full.services and self._vs_disjoint:
            dests = dict(last.dests)
            changed: set[ServiceKey] = set()
            for name in stale:
                vs = self._vs_by_name.get(name)
                old = self._vs_dests.get(name, {})
                mine = {} if vs is None else self._dests(vs, full, self._reals_by_vs.get(name, []), out, name)
                self._vs_dests[name] = mine
                for key in old.keys() - mine.keys():
                    dests.pop(key, None)
                    changed.add(key)
                dests.update(mine)
                changed.update(mine)
            table = Table(full.services, dests, Delta(last, frozenset(changed)))
        else:
            # Everything again (a load): the real servers by virtual server, too.
            self._vs_dests.clear()
            # By the virtual server's identity: its name is a property, formatted on each call.
            self._reals_by_vs = group_by_vs(reals.values(), {id(vs): name for name, vs in self._vs_names})
            dests = {}
            per_vs = 0
            for name, vs in self._vs_names:
                mine = self._vs_dests[name] = self._dests(vs, full, self._reals_by_vs.get(name, []), out, name)
                dests.update(mine)
                per_vs += len(mine)
            # Two virtual servers on one service key (the later wins): rebuild in full each time.
            self._vs_disjoint = per_vs == len(dests)
            table = Table(full.services, dests)
        self._last = table
        return table, out

    def _dests(self, vs: VirtualServer, full: Table, reals: list[Real], out: list[Action],
               name: str | None = None) -> dict[ServiceKey, dict[DestKey, Dest]]:
        """One virtual server's real servers as its checks, quorum and sorry server leave them
        (``name``: the virtual server's, when the caller has it)."""
        keys = self.keys_of[id(vs)]
        # The full table's own mappings, copied only where a server differs from it: a virtual
        # server whose servers are all up at their weights costs no copy, and keeps objects
        # the backend applied last time (it skips those without a look).
        shared = full.dests
        if len(keys) == 1:
            inner = shared.get(keys[0])
            dests: dict[ServiceKey, dict[DestKey, Dest]] = {keys[0]: {} if inner is None else inner}
        else:
            dests = {k: shared[k] if k in shared else {} for k in keys}
        # Those without checks are up at their weight, in the full table already.
        alive_weight, checked = split_checked(reals)
        if checked or vs.sorry_server is not None:
            def own(k: ServiceKey) -> dict[DestKey, Dest]:
                if dests[k] is shared.get(k):
                    dests[k] = dict(dests[k])
                return dests[k]

        for real in checked:
            dyn = next((c.dynamic_weight for c in real.checks if c.dynamic_weight is not None), None)
            if dyn is None and real.up:
                alive_weight += real.rs.weight
                continue  # the full table has it already, at its configured weight
            for key in real.keys:
                d = from_config.dest(vs, real.rs, key)
                if dyn is not None:
                    d = replace(d, weight=dyn)
                if real.up:
                    own(key)[d.key] = d
                elif real.rs.inhibit_on_failure or vs.inhibit_on_failure:
                    own(key)[d.key] = replace(d, weight=0)
                else:
                    own(key).pop(d.key, None)
            if real.up:
                alive_weight += dyn if dyn is not None else real.rs.weight
        if name is None:
            name = vs.name
        q = self.quorum.get(name)
        if q is None or q.quorum != vs.quorum or q.hysteresis != vs.hysteresis:
            q = self.quorum[name] = Quorum(vs.quorum, vs.hysteresis, q.up if q else None)
        change = q.update(alive_weight)
        if change is not None:
            out += _quorum_changed(vs, change)
        if vs.sorry_server is None:
            return dests
        for key in keys:
            d = from_config.dest(vs, vs.sorry_server, key, weight=1)
            if not q.up:
                # Quorum lost: the sorry server takes over from the alive real servers.
                for real in reals:
                    for k in real.keys if real.up else ():
                        if k in dests:
                            own(k).pop(from_config.dest(vs, real.rs, k).key, None)
                own(key)[d.key] = d
            elif vs.sorry_server.inhibit:
                # sorry_server_inhibit: the idle sorry server stays in at weight 0.
                own(key)[d.key] = replace(d, weight=0)
        return dests


def _quorum_changed(vs: VirtualServer, change: QuorumChange) -> list[Action]:
    out: list[Action] = [Log(INFO, f"{vs.name}: quorum {'gained' if change.up else 'lost'} ({change.reason})"
                         + ("; sorry server " + ("out" if change.up else "in") if vs.sorry_server is not None
                            else ""))]
    script = vs.quorum_up if change.up else vs.quorum_down
    if script is not None:
        out.append(RunScript(script))
    out.append(Emit("quorum", {"virtual": vs.name, "up": change.up, "weight": change.weight}))
    return out
