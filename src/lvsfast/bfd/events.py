"""What goes into and comes out of a BFD session (:mod:`lvsfast.bfd.session`): its parameters and
its actions. Frozen, slotted records (:func:`lvsfast.frozen.record`); intervals in microseconds,
as RFC 5880 carries them."""
from __future__ import annotations

from typing import Union

from lvsfast.bfd.wire_types import diag_name, state_name
from lvsfast.frozen import record


@record
class SessionParams:
    """One session's configuration (keepalived's bfd_instance: min_tx, min_rx, idle_tx, multiplier,
    passive; multihop from max_hops/ttl). The runner validates it against the config's limits."""

    desired_min_tx_us: int  # bfd.DesiredMinTxInterval while Up
    required_min_rx_us: int  # bfd.RequiredMinRxInterval
    idle_tx_us: int = 1_000_000  # bfd.DesiredMinTxInterval while not Up (RFC 5880 §6.8.3: >= 1 s)
    detect_mult: int = 3
    passive: bool = False  # RFC 5880 §6.1: send nothing until the peer has been heard
    multihop: bool = False  # RFC 5883; the state machine is the same, the socket layer differs


@record
class Transmit:
    """Send this control packet to the peer now."""

    packet: bytes


@record
class StateChange:
    """The session moved; ``diag`` is bfd.LocalDiag after the move (0 on the way Up)."""

    old: int
    new: int
    diag: int

    def log_line(self, name: str) -> str:
        why = f" ({diag_name(self.diag)})" if self.diag else ""
        return f"BFD_Instance({name}) {state_name(self.old)} -> {state_name(self.new)}{why}"


@record
class Dropped:
    """A packet refused by the session-context checks of RFC 5880 §6.8.6; it changed nothing."""

    reason: str


Action = Union[Transmit, StateChange, Dropped]
