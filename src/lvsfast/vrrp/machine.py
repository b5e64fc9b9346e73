"""The VRRP state machine of one instance (RFC 5798 / RFC 9568 with keepalived's semantics).

This file owns the protocol's states and transitions. It is sans-IO: :meth:`Machine.handle`
takes an event (which carries the time) and returns actions; it never touches a socket or a
clock. The runner turns actions into packets, addresses and scripts, and calls back with
:class:`Tick` when :meth:`Machine.next_deadline` passes. Two or three machines can be paired in
memory under a simulated clock (tests/vrrp/test_machine_*.py).

Times are seconds (floats); advert intervals are centiseconds, as VRRPv3 carries them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Union

from lvsfast.frozen import record


class State(str, Enum):
    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"

    def __str__(self) -> str:
        return self.value


# ---- parameters ---------------------------------------------------------------------------------


@record
class Params:
    """What the protocol needs of an instance; built from the config by ``lvsfast.vrrp.spec``."""

    name: str
    vrid: int
    priority: int = 100  # configured base priority; 255 = address owner
    version: int = 3
    adver_int_cs: int = 100
    primary: bytes = b""  # our primary address (packed): settles equal priorities
    initial_state: State = State.BACKUP
    preempt: bool = True
    preempt_delay: float = 0.0
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False  # keepalived: don't answer a lower-priority advert
    # keepalived: a master that hears a higher priority sends one advert of its own before it
    # steps down, so a master that also believed itself alone re-sends its GARPs.
    higher_prio_send_advert: bool = False


# ---- events -------------------------------------------------------------------------------------


@record
class Start:
    now: float


@record
class Advert:
    now: float
    priority: int
    src: bytes  # the sender's primary address, packed (compared as bytes: big-endian order)
    interval_cs: int


@record
class Tick:
    """A deadline from :meth:`Machine.next_deadline` has passed."""

    now: float


@record
class PriorityChange:
    """Tracking moved the effective priority (configured base plus weights)."""

    now: float
    priority: int
    reason: str = ""


@record
class Fault:
    now: float
    reason: str


@record
class Recover:
    now: float
    reason: str = ""


@record
class ForceState:
    """A sync group moves this member with the others."""

    now: float
    state: State
    reason: str


@record
class AddressLost:
    """A VIP (tracked, so not ``no_track``) was deleted by someone else while we are master.
    keepalived 2.2.7 leaves MASTER for BACKUP (priority 0 advert, VIPs released) and takes
    over again after the skew time alone, adding every VIP back."""

    now: float
    reason: str


@record
class Stop:
    """The instance stops. With ``hold``, a master keeps its VIPs after the priority-0 advert
    until another router's advert shows a successor (or the latest a backup could take over),
    so clients are answered until the new master announces itself."""

    now: float
    hold: bool = False


@record
class PeerDown:
    """bfd_master_down: BFD says the router at ``src`` (packed) is unreachable. A backup whose
    master it is takes it as the master's leaving: Master_Down after the skew time alone."""

    now: float
    src: bytes
    reason: str = ""


Event = Union[Start, Advert, Tick, PriorityChange, Fault, Recover, ForceState, AddressLost, Stop, PeerDown]

# ---- actions ------------------------------------------------------------------------------------


@record
class SendAdvert:
    priority: int


@record
class TakeAddresses:
    """Add the VIPs (routes, rules) and start announcing them."""


@record
class ReleaseAddresses:
    """Remove the VIPs we added and stop announcing."""


@record
class Announce:
    """A lower-priority master was seen while we are master: announce again (keepalived)."""


@record
class Transition:
    old: State
    new: State
    reason: str

    def log_line(self, name: str) -> str:
        return f"({name}) Entering {self.new} STATE ({self.reason})"


Action = Union[SendAdvert, TakeAddresses, ReleaseAddresses, Announce, Transition]


# ---- the machine --------------------------------------------------------------------------------


# A stopping master holding its VIPs waits this much past the slowest backup's skew time.
HOLD_MARGIN = 0.05
# And once a successor has spoken it keeps answering this much longer: the successor sends its
# first advert before it has added the VIPs and sent its gratuitous ARPs (1.5 ms later here),
# and until those land the clients still send to this router. A client ping lost in that
# window costs a client such as ping -i 0.001 a 10 ms back-off. Both routers holding the VIPs
# for a moment is harmless: IPv6 VIPs are added without DAD.
HANDOVER_GRACE = 0.02
# A backup whose master-down deadline reached it this late (seconds, or a tenth of the advert
# interval if that is more) was not running itself: a stalled process, or a whole
# virtual machine descheduled by its host (measured here: both vCPUs frozen 30-45 ms at once).
# The silence it saw may be its own, and a master frozen with it sends as soon as it runs
# again: the backup listens one more advert interval (at most STALL_LISTEN_MAX) before it takes
# over, once per silence, so a dead master still loses its role, that much later.
STALL_LATE = 0.001
STALL_LISTEN_MAX = 0.1


def skew_cs(priority: int, interval_cs: int, version: int) -> float:
    """Skew_Time in centiseconds: v2 (256-p)/256 s; v3 (256-p)*Master_Adver_Interval/256."""
    if version == 2:
        return (256 - priority) * 100 / 256
    return (256 - priority) * interval_cs / 256


@dataclass
class Machine:
    params: Params
    state: State = State.INIT
    priority: int = 0  # effective priority
    master_adver_cs: int = 0  # learned from the master (v3); ours for v2
    master_src: bytes = b""
    down_at: float | None = None  # Master_Down_Timer
    adver_at: float | None = None  # Adver_Timer
    preempt_after: float = 0.0  # no preemption of a lower-priority master before this
    release_at: float | None = None  # stopped, VIPs held for a successor until this
    faulted: str = ""
    listened_after_stall: bool = False  # this silence already had its extra listening interval
    stall_listens: int = 0  # how often a late wake-up postponed a takeover (status)
    transitions: int = 0
    last_reason: str = ""
    down_why: str = ""  # why the down timer runs, when not for silence (VRRPv3-MIB's new-master reason)
    _out: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.priority = self.params.priority
        self.master_adver_cs = self.params.adver_int_cs

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def owner(self) -> bool:
        return self.params.priority == 255

    def _interval_cs(self) -> int:
        """The interval the backup timers count in: v2 our own, v3 the master's (learned)."""
        return self.params.adver_int_cs if self.params.version == 2 else self.master_adver_cs

    def down_interval(self) -> float:
        p = self.params
        interval = self._interval_cs()
        return (p.down_timer_adverts * interval + skew_cs(self.priority, interval, p.version)) / 100

    def skew(self) -> float:
        return skew_cs(self.priority, self._interval_cs(), self.params.version) / 100

    def next_deadline(self) -> float | None:
        times = [t for t in (self.down_at, self.adver_at, self.release_at) if t is not None]
        return min(times) if times else None

    @property
    def holding(self) -> bool:
        """Stopped, but still holding the VIPs until a successor speaks."""
        return self.release_at is not None

    def _release_held(self) -> None:
        self.release_at = None
        self._out.append(ReleaseAddresses())

    def _go(self, new: State, reason: str, release: bool = True) -> None:
        if new is self.state:
            return
        old = self.state
        if old is State.MASTER and release:
            self._out.append(ReleaseAddresses())
        self.state = new
        self.transitions += 1
        self.last_reason = reason
        self._out.append(Transition(old, new, reason))
        if new is State.MASTER:
            self._out.append(TakeAddresses())

    def _become_master(self, now: float, reason: str) -> None:
        self._out.append(SendAdvert(self.priority))
        self._go(State.MASTER, reason)
        self.down_at = None
        self.adver_at = now + self.params.adver_int_cs / 100

    def _become_backup(self, now: float, reason: str) -> None:
        self.adver_at = None
        self._go(State.BACKUP, reason)
        self.down_at = now + self.down_interval()
        self.listened_after_stall = False
        self.down_why = ""

    # -- the transitions -------------------------------------------------------------------------

    def handle(self, ev: Event) -> list[Action]:
        self._out = []
        if isinstance(ev, Start):
            self._start(ev)
        elif isinstance(ev, Advert):
            self._advert(ev)
        elif isinstance(ev, Tick):
            self._tick(ev)
        elif isinstance(ev, PriorityChange):
            self._priority(ev)
        elif isinstance(ev, Fault):
            self._fault(ev)
        elif isinstance(ev, Recover):
            self._recover(ev)
        elif isinstance(ev, ForceState):
            self._force(ev)
        elif isinstance(ev, AddressLost):
            self._address_lost(ev)
        elif isinstance(ev, Stop):
            self._stop(ev)
        elif isinstance(ev, PeerDown):
            self._peer_down(ev)
        return self._out

    def _start(self, ev: Start) -> None:
        if self.state is not State.INIT:
            return
        self.preempt_after = ev.now + self.params.preempt_delay
        if self.faulted:
            self._go(State.FAULT, self.faulted)
        elif self.owner:
            self._become_master(ev.now, "address owner (priority 255)")
        elif self.params.initial_state is State.MASTER:
            # keepalived's "state MASTER": claim at once; a higher priority will take it back.
            self._become_master(ev.now, "initial state MASTER")
        else:
            self._become_backup(ev.now, "start")

    def _tick(self, ev: Tick) -> None:
        now = ev.now
        if self.release_at is not None and now >= self.release_at:
            self._release_held()  # nobody took over in time: let go as keepalived does
        elif self.state is State.BACKUP and self.down_at is not None and now >= self.down_at:
            interval = self._interval_cs() / 100
            if not self.listened_after_stall and now - self.down_at > max(STALL_LATE, interval / 10):
                self.listened_after_stall = True
                self.stall_listens += 1
                self.down_at = now + min(interval, STALL_LISTEN_MAX)
                return
            self._become_master(now, self.down_why or "no advert from a master within the master down interval")
        elif self.state is State.MASTER and self.adver_at is not None and now >= self.adver_at:
            self._out.append(SendAdvert(self.priority))
            # A fixed rate: the next advert is due an interval after this one was due, so a
            # late wake-up does not stretch every later interval. Only a wake-up more than an
            # interval late restarts the schedule from now (never a burst of adverts).
            interval = self.params.adver_int_cs / 100
            nxt = self.adver_at + interval
            self.adver_at = nxt if nxt > now else now + interval

    def _advert(self, ev: Advert) -> None:
        p = self.params
        if self.release_at is not None:
            if ev.priority > 0:
                # A successor speaks: it adds the VIPs and announces them; let go once it has.
                self.release_at = min(self.release_at, ev.now + HANDOVER_GRACE)
            return
        if self.state is State.BACKUP:
            if ev.priority == 0:
                # The master is leaving: take over after the skew only (no listening after a
                # late wake-up: nobody else is going to speak).
                self.down_at = ev.now + self.skew()
                self.listened_after_stall = True
                self.down_why = "the master left (priority 0 advert)"
                return
            if ev.priority < self.priority and p.preempt and ev.now >= self.preempt_after:
                self.down_why = f"preempting a lower priority {ev.priority} master"
                return  # a lower priority master and we preempt: let the down timer run out
            self.down_why = ""
            if p.version == 3:
                self.master_adver_cs = ev.interval_cs
            self.master_src = ev.src
            self.down_at = ev.now + self.down_interval()
            self.listened_after_stall = False
        elif self.state is State.MASTER:
            if ev.priority == 0:
                self._out.append(SendAdvert(self.priority))
                self.adver_at = ev.now + p.adver_int_cs / 100
                return
            if ev.priority > self.priority or (ev.priority == self.priority and ev.src > p.primary):
                if p.version == 3:
                    self.master_adver_cs = ev.interval_cs
                self.master_src = ev.src
                why = (f"higher priority {ev.priority} advert, ours {self.priority}" if ev.priority > self.priority
                       else f"equal priority {ev.priority} from a higher address")
                if p.higher_prio_send_advert:
                    self._out.append(SendAdvert(self.priority))
                self._become_backup(ev.now, why)
            else:
                # RFC 9568: a master that hears a lower priority answers at once, so the other
                # router steps down without waiting for our next periodic advert.
                if not p.lower_prio_no_advert:
                    self._out.append(SendAdvert(self.priority))
                    self.adver_at = ev.now + p.adver_int_cs / 100
                self._out.append(Announce())

    def _peer_down(self, ev: PeerDown) -> None:
        # Only a backup listening to that very router: on the master, or when the master is
        # another router, a neighbour's session going down says nothing about the master.
        if self.state is not State.BACKUP or self.down_at is None or not self.master_src or ev.src != self.master_src:
            return
        # As a priority-0 advert: every backup waits its own skew, so the highest priority
        # speaks first and the others hear it before their turn; an advert meanwhile (the master
        # was alive after all, or a higher backup took over) restarts the normal timer.
        at = ev.now + self.skew()
        if at < self.down_at:
            self.down_at = at
            self.listened_after_stall = True
            self.down_why = ev.reason or "the master's BFD session went down"

    def _priority(self, ev: PriorityChange) -> None:
        if self.owner:
            return  # the address owner's 255 is not moved by tracking
        new = max(1, min(254, ev.priority))
        if new == self.priority:
            return
        self.priority = new
        if self.state is State.MASTER:
            # Tell the others now: a backup with a higher priority may preempt.
            self._out.append(SendAdvert(self.priority))
            self.adver_at = ev.now + self.params.adver_int_cs / 100
        elif self.state is State.BACKUP and self.down_at is not None:
            # The skew depends on priority; keep the timer consistent with it.
            self.down_at = min(self.down_at, ev.now + self.down_interval())

    def _fault(self, ev: Fault) -> None:
        self.faulted = ev.reason
        if self.state is State.INIT:
            return
        if self.state is State.MASTER:
            self._out.append(SendAdvert(0))  # hand over at once if the link still carries it
        self.down_at = self.adver_at = None
        self._go(State.FAULT, ev.reason)

    def _recover(self, ev: Recover) -> None:
        self.faulted = ""
        if self.state is State.FAULT:
            self._become_backup(ev.now, ev.reason or "fault cleared")

    def _force(self, ev: ForceState) -> None:
        if ev.state is self.state or self.state is State.INIT:
            return
        if ev.state is State.MASTER:
            self._become_master(ev.now, ev.reason)
        elif ev.state is State.BACKUP:
            # A member held in FAULT by its group comes back with the group, unless its own
            # fault still stands.
            if self.state is State.MASTER or (self.state is State.FAULT and not self.faulted):
                self._become_backup(ev.now, ev.reason)
        elif ev.state is State.FAULT:
            if self.state is State.MASTER:
                self._out.append(SendAdvert(0))
            self.down_at = self.adver_at = None
            self._go(State.FAULT, ev.reason)

    def _address_lost(self, ev: AddressLost) -> None:
        if self.state is not State.MASTER:
            return
        self._out.append(SendAdvert(0))
        self._become_backup(ev.now, ev.reason)
        # Back quickly: the skew alone, not the master down interval; no stall listening, as
        # after a priority-0 advert nobody else is expected to speak.
        self.down_at = ev.now + self.skew()
        self.listened_after_stall = True

    def _stop(self, ev: Stop) -> None:
        hold = ev.hold and self.state is State.MASTER
        if self.state is State.MASTER:
            self._out.append(SendAdvert(0))
        self.down_at = self.adver_at = None
        if hold:
            # After a priority-0 advert any backup takes over within its skew time, at most one
            # interval (v3) or one second (v2); past that (and a margin) nobody is coming.
            p = self.params
            self.release_at = ev.now + (p.adver_int_cs + skew_cs(1, p.adver_int_cs, p.version)) / 100 + HOLD_MARGIN
        self._go(State.INIT, "stopping", release=not hold)
