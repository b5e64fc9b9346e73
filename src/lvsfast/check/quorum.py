"""A virtual server's quorum, as keepalived keeps it. Sans-IO: the alive weight in, a transition out.

The quorum is gained when the summed weight of alive real servers reaches ``quorum + hysteresis``
and lost when it falls below ``quorum - hysteresis`` (or to 0), so a server flapping around
the threshold does not flap the quorum. On loss keepalived runs ``quorum_down`` and, if there
is a ``sorry_server``, puts it in and takes the alive real servers out; on gain the reverse,
with ``quorum_up``. ``sorry_server_inhibit`` keeps the idle sorry server at weight 0.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QuorumChange:
    up: bool
    reason: str
    weight: int = 0  # the alive weight that made the change (keepalived's quorum mail quotes it)


@dataclass
class Quorum:
    quorum: int = 1
    hysteresis: int = 0
    up: bool | None = None  # None until the first update decides it without a transition

    def update(self, alive_weight: int) -> QuorumChange | None:
        if self.up is None:
            self.up = alive_weight >= self.quorum and alive_weight > 0
            return None
        if not self.up and alive_weight >= self.quorum + self.hysteresis and alive_weight > 0:
            self.up = True
            return QuorumChange(True, f"alive weight {alive_weight} >= quorum {self.quorum}"
                                + (f" + hysteresis {self.hysteresis}" if self.hysteresis else ""), alive_weight)
        if self.up and (alive_weight == 0 or alive_weight < self.quorum - self.hysteresis):
            self.up = False
            return QuorumChange(False, f"alive weight {alive_weight} < quorum {self.quorum}"
                                + (f" - hysteresis {self.hysteresis}" if self.hysteresis else ""), alive_weight)
        return None
