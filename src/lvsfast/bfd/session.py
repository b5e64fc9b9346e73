"""The RFC 5880 state machine of one BFD session (asynchronous mode; single hop RFC 5881 and
multihop RFC 5883 alike).

This file owns the session's states (AdminDown, Down, Init, Up), its timers and the rules of
§6.8. It is sans-IO: :meth:`Session.receive` takes a decoded control packet and the time,
:meth:`Session.tick` the time, and both return :mod:`lvsfast.bfd.events` actions (packets to send,
state changes, drops); the runner calls :meth:`Session.tick` when :meth:`Session.next_deadline`
passes. It never touches a socket or a clock; the random source for the transmit jitter is
handed in. Two sessions can be paired in memory under a simulated clock
(tests/bfd/test_bfd_session.py).

Times are seconds (floats); intervals are microseconds (ints), as the packets carry them.

Timer rules, and where they come from:
- transmit interval = max(our bfd.DesiredMinTxInterval, the peer's Required Min RX) (§6.8.2),
  where ours is ``idle_tx_us`` while not Up (§6.8.3, keepalived's idle_tx) and the configured
  ``desired_min_tx_us`` once Up and confirmed by a Poll/Final exchange; each gap is jittered to
  75-100% of it, 75-90% at a detect multiplier of 1 (§6.8.7); a peer asking for 0 gets no periodic
  packets, and a passive session sends nothing while it has no peer discriminator.
- detection time = the peer's Detect Mult x max(our Required Min RX, the peer's Desired Min TX)
  (§6.8.4); when it passes without an accepted packet, an Init or Up session goes Down with
  diagnostic 1 and the peer's discriminator is forgotten.
- a change of our intervals while Up starts a Poll sequence (§6.5, §6.8.3): packets carry the new
  values with P set. A longer transmit interval is used only once the peer's Final arrives (so the
  peer has lengthened its detection time first); a shorter one at once, since the peer shortens
  its detection time as soon as it reads the Poll and a lost Final must not leave us sending at
  the old rate against it. Until the Final the detection time uses the larger of the old and new
  Required Min RX (the old one when it shrinks, as §6.8.3 asks; the new one when it grows, so a
  peer that already slowed down is not declared dead). Going Up from the idle rate is such a change.
- a Poll from the peer is answered with a Final at once (§6.8.7); every state change is sent at
  once too, so a handshake does not wait out the idle interval.
"""
from __future__ import annotations

import math
import random

from lvsfast.bfd.events import Action, Dropped, SessionParams, StateChange, Transmit
from lvsfast.bfd.wire import (ADMIN_DOWN, DIAG_ADMIN_DOWN, DIAG_NEIGHBOR_DOWN, DIAG_NONE, DIAG_TIME_EXPIRED, DOWN,
                              INIT, UP, ControlPacket, encode)

#: Session-context drop reasons, beside the wire's (wire_types.REASONS, re-checked here for
#: packets that did not come through decode).
SESSION_REASONS = ("your_disc", "remote_disc", "admin_down")

# §6.8.6's transitions on an accepted packet: (our state, the peer's state) -> our new state and
# diagnostic (None: keep the one we have). Pairs not listed change nothing.
TRANSITIONS: dict[tuple[int, int], tuple[int, int | None]] = {
    (DOWN, DOWN): (INIT, None),
    (DOWN, INIT): (UP, DIAG_NONE),
    (INIT, ADMIN_DOWN): (DOWN, DIAG_NEIGHBOR_DOWN),
    (INIT, INIT): (UP, DIAG_NONE),
    (INIT, UP): (UP, DIAG_NONE),
    (UP, ADMIN_DOWN): (DOWN, DIAG_NEIGHBOR_DOWN),
    (UP, DOWN): (DOWN, DIAG_NEIGHBOR_DOWN),
}

_U32 = 0xFFFFFFFF


def check_params(params: SessionParams) -> None:
    """ValueError when the parameters cannot be carried in a control packet."""
    for name in ("desired_min_tx_us", "required_min_rx_us", "idle_tx_us"):
        value = getattr(params, name)
        if not 1 <= value <= _U32:
            raise ValueError(f"BFD {name} {value} out of range 1..{_U32}")
    if not 1 <= params.detect_mult <= 255:
        raise ValueError(f"BFD detect_mult {params.detect_mult} out of range 1..255")


def jitter_bounds(detect_mult: int) -> tuple[float, float]:
    """The fraction of the transmit interval each gap is drawn from (§6.8.7)."""
    return (0.75, 0.90) if detect_mult == 1 else (0.75, 1.0)


class Session:
    """One BFD session; see the module's docstring for the rules it keeps."""

    def __init__(self, params: SessionParams, my_disc: int, now: float, rng: random.Random) -> None:
        check_params(params)
        if not 1 <= my_disc <= _U32:
            raise ValueError(f"BFD discriminator {my_disc} out of range 1..{_U32}")
        self._p = params
        self.my_disc = my_disc
        self._rng = rng
        self._state = DOWN
        self._diag = DIAG_NONE
        self._forget_peer()
        # Our intervals in force for the timers while Up (the advertised ones may differ in a Poll).
        self._tx_used = params.idle_tx_us
        self._rx_used = params.required_min_rx_us
        self._polling = False
        self._poll_values = (0, 0)  # (desired tx, required rx) this Poll sequence carries
        # The next periodic packet is due at _tx_base + _tx_factor x the interval then in force,
        # so a change of interval (the peer's Required Min RX, a Final) moves it at once.
        self._tx_base = now
        self._tx_factor = 0.0
        self._admin_until = 0.0  # in AdminDown, we keep telling the peer until then,
        self._admin_tx_us = 0  # at the rate it last expected of us
        self.sent = 0
        self.received = 0
        self.drops: dict[str, int] = {}

    def _forget_peer(self) -> None:
        self._remote_disc = 0
        self._remote_state = DOWN
        self._remote_diag = DIAG_NONE
        self._remote_min_rx = 1  # §6.8.1's initial bfd.RemoteMinRxInterval
        self._remote_min_tx = 0
        self._remote_mult = 0
        self._remote_demand = False
        self._last_rx: float | None = None

    # -- read-only views -------------------------------------------------------------------------

    @property
    def params(self) -> SessionParams:
        return self._p

    @property
    def state(self) -> int:
        return self._state

    @property
    def diag(self) -> int:
        return self._diag

    @property
    def remote_state(self) -> int:
        return self._remote_state

    @property
    def remote_diag(self) -> int:
        return self._remote_diag

    @property
    def remote_disc(self) -> int:
        return self._remote_disc

    @property
    def polling(self) -> bool:
        return self._polling

    @property
    def tx_interval_us(self) -> int:
        """The negotiated transmit interval before jitter (§6.8.2)."""
        if self._state == ADMIN_DOWN:
            return self._admin_tx_us
        ours = self._tx_used if self._state == UP else self._p.idle_tx_us
        return max(ours, self._remote_min_rx)

    @property
    def tx_interval(self) -> float:
        """:attr:`tx_interval_us` in seconds."""
        return self.tx_interval_us / 1e6

    @property
    def detection_time_us(self) -> int:
        """The peer's Detect Mult x max(our Required Min RX, its Desired Min TX); 0 before it is heard."""
        return self._remote_mult * max(self._rx_used, self._p.required_min_rx_us, self._remote_min_tx)

    @property
    def detection_time(self) -> float:
        """:attr:`detection_time_us` in seconds."""
        return self.detection_time_us / 1e6

    def counters(self) -> dict[str, int]:
        return {"sent": self.sent, "received": self.received, "dropped": sum(self.drops.values()),
                **{f"dropped_{k}": v for k, v in sorted(self.drops.items())}}

    # -- timers ----------------------------------------------------------------------------------

    def _may_send(self) -> bool:
        # §6.8.7: a passive system sends nothing until it knows the peer's discriminator.
        return not (self._p.passive and self._remote_disc == 0)

    def _periodic(self, now: float) -> bool:
        if self._state == ADMIN_DOWN and now >= self._admin_until:
            return False
        if self._remote_min_rx == 0 or not self._may_send():
            return False
        # Demand mode active on the peer (§6.6): it asked us to stop.
        return not (self._remote_demand and self._state == UP and self._remote_state == UP)

    def _tx_due(self) -> float:
        return self._tx_base + self._tx_factor * self.tx_interval_us / 1e6

    def _detect_at(self) -> float | None:
        if self._last_rx is None or self._state == ADMIN_DOWN:
            return None
        return self._last_rx + self.detection_time_us / 1e6

    def next_deadline(self) -> float:
        """When :meth:`tick` has something to do (math.inf: nothing until a packet or a call)."""
        due = self._tx_due() if self._periodic(self._tx_due()) else math.inf
        detect = self._detect_at()
        return due if detect is None else min(due, detect)

    # -- sending ---------------------------------------------------------------------------------

    def _packet(self, final: bool = False) -> bytes:
        p = self._p
        self.sent += 1
        return encode(self._state, self._diag, p.detect_mult, self.my_disc, self._remote_disc,
                      p.desired_min_tx_us if self._state == UP else p.idle_tx_us, p.required_min_rx_us,
                      poll=self._polling and not final, final=final)

    def _restart_tx(self, now: float) -> None:
        lo, hi = jitter_bounds(self._p.detect_mult)
        self._tx_base = now
        self._tx_factor = self._rng.uniform(lo, hi)

    def _start_poll(self) -> None:
        self._polling = True
        self._poll_values = (self._p.desired_min_tx_us, self._p.required_min_rx_us)

    def _end_poll(self) -> None:
        """The peer's Final: the values the Poll carried are in force; poll again if they moved on."""
        self._polling = False
        self._tx_used, self._rx_used = self._poll_values
        if self._state == UP and self._poll_values != (self._p.desired_min_tx_us, self._p.required_min_rx_us):
            self._tx_used = min(self._tx_used, self._p.desired_min_tx_us)
            self._start_poll()

    # -- state -----------------------------------------------------------------------------------

    def _go(self, new: int, diag: int | None, out: list[Action]) -> None:
        old = self._state
        self._state = new
        if diag is not None:
            self._diag = diag
        out.append(StateChange(old, new, self._diag))
        p = self._p
        self._polling = False
        self._rx_used = p.required_min_rx_us
        self._tx_used = p.idle_tx_us
        if new == UP and p.desired_min_tx_us != p.idle_tx_us:
            self._tx_used = min(p.idle_tx_us, p.desired_min_tx_us)
            self._start_poll()  # from the idle rate to ours

    def _expire(self, out: list[Action]) -> None:
        """§6.8.4: a detection time without a packet."""
        self._forget_peer()
        if self._state in (INIT, UP):
            self._go(DOWN, DIAG_TIME_EXPIRED, out)

    def _drop(self, reason: str) -> list[Action]:
        self.drops[reason] = self.drops.get(reason, 0) + 1
        return [Dropped(reason)]

    def _refuse(self, pkt: ControlPacket) -> str:
        """The reason to drop ``pkt`` (§6.8.6), or ""; the wire's checks again for packets made
        elsewhere than decode, then the ones that need this session."""
        if pkt.version != 1:
            return "version"
        if pkt.detect_mult == 0:
            return "detect_mult"
        if pkt.multipoint:
            return "multipoint"
        if pkt.my_disc == 0:
            return "my_disc"
        if pkt.your_disc == 0 and pkt.state not in (ADMIN_DOWN, DOWN):
            return "your_disc_zero_state"
        if pkt.auth:
            return "auth_mismatch"
        if pkt.poll and pkt.final:
            return "poll_final"
        if pkt.your_disc != 0 and pkt.your_disc != self.my_disc:
            return "your_disc"
        # A peer that knows our discriminator keeps its own for the life of the session; one
        # that restarted says so with Your Discriminator 0.
        if pkt.your_disc != 0 and self._remote_disc not in (0, pkt.my_disc):
            return "remote_disc"
        if self._state == ADMIN_DOWN:
            return "admin_down"
        return ""

    # -- the events ------------------------------------------------------------------------------

    def receive(self, pkt: ControlPacket, now: float) -> list[Action]:
        """A control packet from the peer (decoded by :func:`lvsfast.bfd.wire.decode`)."""
        reason = self._refuse(pkt)
        if reason:
            return self._drop(reason)
        self.received += 1
        self._remote_disc = pkt.my_disc
        self._remote_state = pkt.state
        self._remote_diag = pkt.diag
        self._remote_demand = pkt.demand
        self._remote_min_rx = pkt.required_min_rx
        self._remote_min_tx = pkt.desired_min_tx
        self._remote_mult = pkt.detect_mult
        self._last_rx = now
        if pkt.final and self._polling:
            self._end_poll()
        out: list[Action] = []
        move = TRANSITIONS.get((self._state, pkt.state))
        if move is not None:
            self._go(move[0], move[1], out)
        if move is not None or pkt.poll:
            out.append(Transmit(self._packet(final=pkt.poll)))
            if move is not None:
                self._restart_tx(now)
        return out

    def tick(self, now: float) -> list[Action]:
        """Time has reached :meth:`next_deadline` (or later): detection time, periodic transmit."""
        out: list[Action] = []
        detect = self._detect_at()
        if detect is not None and now >= detect:
            self._expire(out)
            if out and self._may_send():
                out.append(Transmit(self._packet()))
                self._restart_tx(now)
        due = self._tx_due()
        if now >= due and self._periodic(due):  # judged as next_deadline judged it
            out.append(Transmit(self._packet()))
            # The next gap counts from the planned instant, not from this wake-up: counted from
            # ``now``, each wake-up's lateness (tens of microseconds, more under load) was added
            # to the next gap and pushed the gaps drawn near 100% past the interval. Late by more
            # than the shortest gap (a stall), the schedule starts afresh rather than bursting.
            on_time = now - due < jitter_bounds(self._p.detect_mult)[0] * self.tx_interval_us / 1e6
            self._restart_tx(due if on_time else now)
        return out

    def set_params(self, params: SessionParams, now: float) -> list[Action]:
        """New intervals or multiplier (a reload). While Up, a change of interval starts a Poll
        sequence and the first Poll goes out at once; a new Detect Mult needs none (§6.8.12)."""
        check_params(params)
        old, self._p = self._p, params
        if self._state != UP:
            self._tx_used, self._rx_used = params.idle_tx_us, params.required_min_rx_us
            return []
        if (old.desired_min_tx_us, old.required_min_rx_us) == (params.desired_min_tx_us, params.required_min_rx_us):
            return []
        self._tx_used = min(self._tx_used, params.desired_min_tx_us)
        if not self._polling:
            self._start_poll()  # else _end_poll starts the next one when this one's Final comes
        return [Transmit(self._packet())] if self._may_send() else []

    def admin_down(self, now: float) -> list[Action]:
        """§6.8.16: AdminDown with diagnostic 7. The peer is told for one detection time of its own
        (our Detect Mult packets at the rate it expected), so a lost packet does not leave it to
        time out with the wrong diagnostic; then we fall silent."""
        if self._state == ADMIN_DOWN:
            return []
        out: list[Action] = []
        self._admin_tx_us = self.tx_interval_us
        self._go(ADMIN_DOWN, DIAG_ADMIN_DOWN, out)
        self._admin_until = now + self._p.detect_mult * self._admin_tx_us / 1e6
        if self._may_send():
            out.append(Transmit(self._packet()))
            self._restart_tx(now)
        return out

    def admin_up(self, now: float) -> list[Action]:
        """§6.8.16: back to Down, starting afresh with the peer."""
        if self._state != ADMIN_DOWN:
            return []
        out: list[Action] = []
        self._forget_peer()
        self._go(DOWN, DIAG_NONE, out)
        self._tx_base, self._tx_factor = now, 0.0  # the first packet is due now
        return out
