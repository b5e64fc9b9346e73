"""Where the config, the checkers, the operator and time meet: the table the kernel should hold.

Sans-IO. Inputs: the healthy table (what the config says, filtered and weighted by the
checkers), runtime overrides from ``lvsfastctl`` (drain, disable, weight), the connection counts
a backend reports, and the time. Output: :meth:`Pool.table`.

Draining is what keepalived lacks (its tracker #1228, #2240): a real server removed by the
operator (by reload or ``lvsfastctl server drain``) stays in the kernel at weight 0, so new
connections avoid it while established ones finish, and leaves when it has no connections or
its ``drain_timeout`` expires. ``drain_timeout 0`` is keepalived's immediate removal. A server
that fails its checks is not drained: it leaves at once (or goes to weight 0 with
inhibit_on_failure, which the checker already expressed in the healthy table).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Mapping

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table

DEFAULT_DRAIN_TIMEOUT = 60.0

Pair = tuple[ServiceKey, DestKey]
OverrideState = Literal["drain", "disable"]


@dataclass(frozen=True, slots=True)
class Override:
    """The operator's runtime word on one real server; it wins over the config until ``enable``."""

    state: OverrideState | None = None
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class Drain:
    dest: Dest
    started: float
    deadline: float
    reason: str


@dataclass
class Pool:
    """Keeps no clock and no sockets: every method takes ``now`` where time matters."""

    healthy: Table = field(default_factory=Table)
    configured: frozenset[Pair] = frozenset()
    drain_timeouts: Mapping[Pair, float] = field(default_factory=dict)
    overrides: dict[Pair, Override] = field(default_factory=dict)
    draining: dict[Pair, Drain] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def drain_timeout(self, pair: Pair) -> float:
        return self.drain_timeouts.get(pair, DEFAULT_DRAIN_TIMEOUT)

    def update(self, healthy: Table, configured: frozenset[Pair], drain_timeouts: Mapping[Pair, float],
               now: float) -> None:
        """A new healthy table. Servers that left the *config* start draining; failed ones just go."""
        if configured is self.configured:
            # The same config (a check result, not a reload): nobody left it, nothing to drain.
            self.healthy = healthy
            return
        before = self._current_dests()
        for pair, dest in before.items():
            gone_from_config = pair not in configured
            if gone_from_config and pair not in self.draining:
                timeout = self.drain_timeouts.get(pair, DEFAULT_DRAIN_TIMEOUT)
                if timeout > 0 and pair[0] in healthy.services:
                    self.draining[pair] = Drain(dest, now, now + timeout, "removed from the configuration")
                    self.log.append(f"{pair[0]} -> {pair[1]}: removed from the configuration, draining "
                                    f"(up to {timeout:g}s)")
        # A drained server put back in the config simply returns.
        for pair in [p for p in self.draining if p in configured and self.draining[p].reason != "operator"]:
            del self.draining[pair]
        for pair in [p for p in self.overrides if p not in configured]:
            del self.overrides[pair]
        self.healthy = healthy
        self.configured = configured
        self.drain_timeouts = dict(drain_timeouts)

    def _current_dests(self) -> dict[Pair, Dest]:
        t = self.table()
        return {(s, d): dest for s, dests in t.dests.items() for d, dest in dests.items()}

    def set_override(self, pair: Pair, override: Override, now: float) -> str:
        if pair not in self.configured:
            raise KeyError(f"{pair[0]} has no real server {pair[1]} in the configuration")
        if override == Override():
            self.overrides.pop(pair, None)
            self.draining.pop(pair, None)
            return f"{pair[0]} -> {pair[1]}: enabled"
        self.overrides[pair] = override
        if override.state == "drain":
            dest = self._dest_for(pair)
            if dest is not None:
                timeout = self.drain_timeout(pair)
                self.draining[pair] = Drain(dest, now, now + timeout, "operator")
        return f"{pair[0]} -> {pair[1]}: {override.state or f'weight {override.weight}'}"

    def _dest_for(self, pair: Pair) -> Dest | None:
        d = self.healthy.dests.get(pair[0], {}).get(pair[1])
        if d is None and pair in self.draining:
            d = self.draining[pair].dest
        return d

    def tick(self, now: float, active: Mapping[Pair, int]) -> list[Pair]:
        """Finish drains whose servers have no connections left, or whose time is up."""
        done = []
        for pair, drain in list(self.draining.items()):
            conns = active.get(pair, 0)
            if conns == 0 or now >= drain.deadline:
                why = "no connections left" if conns == 0 else f"drain_timeout reached with {conns} connections"
                self.log.append(f"{pair[0]} -> {pair[1]}: drained ({why})")
                if drain.reason == "operator" and pair in self.configured:
                    # An operator drain keeps the override (the server stays out) but stops tracking.
                    self.overrides[pair] = Override("disable")
                del self.draining[pair]
                done.append(pair)
        return done

    def table(self) -> Table:
        """The healthy table with the overrides and drains on top. A service neither touches
        keeps the healthy table's own objects (backends skip what they applied last time)."""
        if not self.overrides and not self.draining:
            return self.healthy  # the very table, delta hint included
        services: Mapping[ServiceKey, Service] = self.healthy.services
        dests: dict[ServiceKey, Mapping[DestKey, Dest]] = dict(self.healthy.dests)
        for skey in {s for s, _ in self.overrides} | {s for s, _ in self.draining}:
            if skey in dests:
                dests[skey] = dict(dests[skey])
            elif skey in services:
                dests[skey] = {}
        for (skey, dkey), ov in self.overrides.items():
            inner = dests.get(skey)
            if inner is None or dkey not in inner:
                continue
            if ov.state == "disable":
                del inner[dkey]
            elif ov.weight is not None and inner[dkey].weight > 0:
                # An inhibited (weight 0) server stays at 0 until its checks pass; then the override applies.
                inner[dkey] = replace(inner[dkey], weight=ov.weight)
        for (skey, dkey), drain in self.draining.items():
            if skey in services:
                dests.setdefault(skey, {})[dkey] = replace(drain.dest, weight=0)
        return Table(services, dests)
