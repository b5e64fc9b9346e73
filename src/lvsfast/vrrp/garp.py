"""When a master announces its VIPs (gratuitous ARP / unsolicited NA), as keepalived times it.

Sans-IO: methods take ``now`` and :meth:`GarpSchedule.due` says how many announcement rounds
(one frame per VIP each) are due. keepalived's defaults: on becoming master a block of
``garp_master_repeat`` (5) rounds, a second block ``garp_master_delay`` (5 s) later; the same
after a lower-priority advert while master (``garp_lower_prio_*``); every
``garp_master_refresh`` seconds (0: never) a block of ``garp_master_refresh_repeat`` (1). Rounds
in a block are ``garp_interval`` (IPv4) or ``gna_interval`` (IPv6) apart. ``vrrp_min_garp``
means one round and no second block.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from lvsfast.frozen import record


@record
class GarpPolicy:
    master_delay: float = 5.0
    master_repeat: int = 5
    lower_prio_delay: float | None = None  # None: master_delay
    lower_prio_repeat: int | None = None  # None: master_repeat
    master_refresh: float = 0.0
    master_refresh_repeat: int = 1
    interval: float = 0.0  # garp_interval or gna_interval, by the instance's family

    @classmethod
    def minimal(cls) -> "GarpPolicy":
        """``vrrp_min_garp``: one message, no repeat block."""
        return cls(master_delay=0.0, master_repeat=1)

    @classmethod
    def from_config(cls, g: Any, inst: Any, family: int) -> "GarpPolicy":
        """The policy for one instance: its ``garp_*`` keywords over the ``vrrp_garp_*`` globals.

        ``g`` is a :class:`lvsfast.config.model.GlobalDefs`, ``inst`` a ``VrrpInstance`` (typed
        loosely so this module does not import the config package).
        """
        def pick(name: str, default: Any) -> Any:
            v = getattr(inst, name, None)
            return default if v is None else v

        interval = g.vrrp_gna_interval if family == 6 else g.vrrp_garp_interval
        if g.vrrp_min_garp:
            base = cls.minimal()
            return cls(master_delay=pick("garp_master_delay", base.master_delay),
                       master_repeat=pick("garp_master_repeat", base.master_repeat),
                       lower_prio_delay=pick("garp_lower_prio_delay", None),
                       lower_prio_repeat=pick("garp_lower_prio_repeat", None), interval=interval)
        return cls(master_delay=pick("garp_master_delay", g.vrrp_garp_master_delay),
                   master_repeat=pick("garp_master_repeat", g.vrrp_garp_master_repeat),
                   lower_prio_delay=pick("garp_lower_prio_delay", g.vrrp_garp_lower_prio_delay),
                   lower_prio_repeat=pick("garp_lower_prio_repeat", g.vrrp_garp_lower_prio_repeat),
                   master_refresh=pick("garp_master_refresh", g.vrrp_garp_master_refresh),
                   master_refresh_repeat=pick("garp_master_refresh_repeat", g.vrrp_garp_master_refresh_repeat),
                   interval=interval)


@dataclass
class GarpSchedule:
    policy: GarpPolicy
    _due: list[float] = field(default_factory=list)
    _refresh_at: float | None = None

    def _block(self, start: float, repeat: int) -> None:
        for i in range(max(0, repeat)):
            bisect.insort(self._due, start + i * self.policy.interval)

    def became_master(self, now: float) -> None:
        self._due.clear()
        p = self.policy
        self._block(now, p.master_repeat)
        if p.master_delay > 0:
            self._block(now + p.master_delay, p.master_repeat)
        self._refresh_at = now + p.master_refresh if p.master_refresh > 0 else None

    def lower_priority_seen(self, now: float) -> None:
        p = self.policy
        repeat = p.master_repeat if p.lower_prio_repeat is None else p.lower_prio_repeat
        delay = p.master_delay if p.lower_prio_delay is None else p.lower_prio_delay
        self._block(now, repeat)
        if delay > 0:
            self._block(now + delay, repeat)

    def left_master(self) -> None:
        self._due.clear()
        self._refresh_at = None

    def due(self, now: float) -> int:
        """Rounds due by ``now`` (consumed); schedules the next refresh block when it is reached."""
        if self._refresh_at is not None and now >= self._refresh_at:
            self._block(self._refresh_at, self.policy.master_refresh_repeat)
            self._refresh_at += self.policy.master_refresh
        n = bisect.bisect_right(self._due, now)
        del self._due[:n]
        return n

    def next_deadline(self) -> float | None:
        cands = [t for t in (self._due[0] if self._due else None, self._refresh_at) if t is not None]
        return min(cands) if cands else None
