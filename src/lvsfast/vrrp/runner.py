"""The VRRP engine's I/O layer: sockets, timers, addresses, announcements, tracking and scripts
around the sans-IO :class:`~lvsfast.vrrp.machine.Machine` of each instance, on one event loop.

Everything here reacts: packets and timers become machine events, and the machine's actions
become adverts, address changes, GARP/NA frames, notify scripts and log lines. Address changes
of one instance run in order on a queue, so a quick MASTER -> BACKUP -> MASTER never interleaves.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from lvsfast.vrrp import ah
from lvsfast.vrrp.addresses import (AddressManager, ensure_ipvlan, ensure_vmac, in_netlink_thread, netlink_errors,
                                    remove_link)
from lvsfast.vrrp.deadline import DeadlineTimer
from lvsfast.vrrp.dump_fields import keepalived_fields
from lvsfast.vrrp.garp import GarpSchedule
from lvsfast.vrrp.host import promote_secondaries
from lvsfast.vrrp.machine import (Action, Advert, Announce, Fault, ForceState, Machine, PriorityChange, Recover,
                                  ReleaseAddresses, SendAdvert, Start, State, Stop, TakeAddresses, Tick, Transition)
from lvsfast.vrrp.spec import InstanceSpec, ScriptSpec
from lvsfast.vrrp.static import StaticSet
from lvsfast.vrrp.notify import Notification, Notifier
from lvsfast.vrrp.sync_group import FOLLOWED, propagate
from lvsfast.vrrp.track import ProcessSpec, effective_priority
from lvsfast.vrrp.transport import FrameSender, VrrpTransport
from lvsfast.vrrp.wire import AdvertBuilder, Receiver, build_garp, build_na
from lvsfast.vrrp.watchers import Watchers
from lvsfast.vrrp.wire_types import AUTH_AH

log = logging.getLogger("lvsfast.vrrp")

Emit = Callable[..., None]


@dataclass
class Link:
    """One (interface, family, source): a transport and the receiver validating its adverts."""

    transport: VrrpTransport
    receiver: Receiver
    instances: dict[int, "Instance"]
    drops_logged: dict[tuple, float] = field(default_factory=dict)


class Instance:
    def __init__(self, spec: InstanceSpec, engine: "Engine") -> None:
        self.spec = spec
        self.engine = engine
        self.machine = Machine(spec.params)
        self.base_priority = spec.params.priority
        # With use_ipvlan the VIPs stay on the base interface (keepalived 2.2.7 gives them the
        # configured interface unless use_vmac): the ipvlan only carries the adverts and their
        # source. On the ipvlan, replies leaving by the base's route would ARP from the base and
        # the answer, addressed to the VIP, would be demuxed to the ipvlan: no reply ever got out.
        self.addresses = AddressManager(spec.vmac or spec.interface, spec.vips + spec.excluded, spec.routes, spec.rules,
                                        block=spec.strict and not spec.accept)
        self.garp = GarpSchedule(spec.garp)
        self.link: Link | None = None
        self.builders: list[tuple[str, AdvertBuilder]] = []
        self.senders: dict[str, FrameSender] = {}
        self.timer: DeadlineTimer | None = None  # the machine's deadlines (adverts, master down)
        self.garp_timer: asyncio.TimerHandle | None = None
        self.ops: asyncio.Queue = asyncio.Queue()
        self.worker: asyncio.Task | None = None
        self.track_state: dict[tuple[str, str], bool] = dict(engine.initial_track)
        self.track_values: dict[tuple[str, str], int] = {}
        self.sent = 0
        self.received = 0
        self.ah_seq = int(time.time())
        self.released: asyncio.Event | None = None  # set when a held stop lets the VIPs go
        self.deleted = False  # a reload removed it: its stop is notified as FAULT/DELETED, not STOP
        self.unicast_src_drops = 0
        # What keepalived's dump files show per instance (daemon/keepalived_dump.py renders them).
        self.last_transition = time.time()
        self.become_master = self.release_master = 0
        self.master_priority = 0  # the priority of the last advert heard
        self.pri_zero_sent = self.pri_zero_rcvd = 0
        self.unicast_src_logged = -1e9

    # ---- set-up ----------------------------------------------------------------------------

    def open(self, link: Link) -> None:
        s = self.spec
        self.link = link
        vips = [v.address for v in s.vips if v.family == s.family] or [s.src]
        for dst in (s.peers or (s.dst,)):
            self.builders.append((dst, AdvertBuilder(s.params.version, s.params.vrid, s.params.adver_int_cs, vips,
                                                     s.family, s.src, dst, auth_type=s.auth_type,
                                                     auth_pass=s.auth_pass, checksum_as_v2=s.checksum_as_v2)))
        self.worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while True:
            op = await self.ops.get()
            try:
                await op()
            except Exception:  # one failed netlink call must not stop the instance
                log.exception("(%s) address operation failed", self.spec.name)

    # ---- machine plumbing ------------------------------------------------------------------

    def feed(self, event: Any) -> None:
        self.apply(self.machine.handle(event), forced=isinstance(event, ForceState))

    def apply(self, actions: list[Action], forced: bool = False) -> None:
        now = self.engine.now()
        for a in actions:
            if isinstance(a, SendAdvert):
                self.send(a.priority)
            elif isinstance(a, TakeAddresses):
                self.ops.put_nowait(self._take)
            elif isinstance(a, ReleaseAddresses):
                self.garp.left_master()
                self.ops.put_nowait(self._release)
                if self.released is not None:
                    self.released.set()
            elif isinstance(a, Announce):
                self.garp.lower_priority_seen(now)
                self.engine.lower_priority_seen(self)
            elif isinstance(a, Transition):
                log.info(a.log_line(self.spec.name))
                self.last_transition = time.time()
                self.become_master += a.new is State.MASTER
                self.release_master += a.old is State.MASTER
                self.engine.transitioned(self, a, forced)
        self._arm()

    def _arm(self) -> None:
        if self.timer is None:
            self.timer = DeadlineTimer(asyncio.get_running_loop(), self._fire)
        self.timer.at(self.machine.next_deadline())
        self._arm_garp()

    def _fire(self) -> None:
        if self.machine.state is State.BACKUP and self.link is not None:
            # After a stall (a busy core, GC) the deadline and adverts that arrived in time can be
            # ready in the same poll, the deadline first. Read the adverts first, so a late loop
            # is not taken for a dead master.
            self.engine._readable(self.link)
        m = self.machine
        due, listens, now = m.down_at, m.stall_listens, self.engine.now()
        self.feed(Tick(now))
        if m.stall_listens != listens and due is not None:
            log.info("(%s) the master down timer reached us %.1f ms late: listening one more advert interval "
                     "before taking over", self.spec.name, (now - due) * 1000)

    def send(self, priority: int) -> None:
        if self.link is None:
            return
        t = self.link.transport
        self.pri_zero_sent += priority == 0
        for dst, b in self.builders:
            try:
                payload = b.build(priority)
                if self.spec.auth_type == AUTH_AH:
                    self.ah_seq += 1
                    t.send_ip(ah.wrap(payload, self.spec.src, dst, self.spec.auth_pass, self.ah_seq, self.ah_seq), dst)
                else:
                    t.send(payload, dst)
                self.sent += 1
            except OSError as exc:
                # A down link cannot carry adverts; tracking turns that into FAULT.
                log.debug("(%s) advert to %s not sent: %s", self.spec.name, dst, exc)

    # ---- addresses and announcements -------------------------------------------------------

    async def _take(self) -> None:
        added = await self.addresses.take()
        self.garp.became_master(self.engine.now())
        # The first round is due now: sent here, not a timer tick (up to a millisecond) later,
        # and before the log line, since clients keep sending to the old master until it lands.
        self._announce()
        if added:
            log.info("(%s) added %s", self.spec.name, ", ".join(added))

    async def _release(self) -> None:
        removed = await self.addresses.release()
        if removed:
            log.info("(%s) removed %s", self.spec.name, ", ".join(removed))

    def _arm_garp(self) -> None:
        when = self.garp.next_deadline()
        if self.garp_timer is not None:
            if self.garp_timer.when() == when:
                return  # every apply() lands here: re-arming an unchanged timer cost more than the advert
            self.garp_timer.cancel()
            self.garp_timer = None
        if when is not None:
            self.garp_timer = asyncio.get_running_loop().call_at(when, self._announce)

    def _announce(self) -> None:
        self.garp_timer = None
        rounds = self.garp.due(self.engine.now())
        if rounds and self.machine.state is State.MASTER:
            for _ in range(rounds):
                for v in self.spec.vips:
                    dev = v.dev or self.addresses.interface
                    try:
                        sender = self.senders.get(dev) or self.senders.setdefault(dev, FrameSender(dev))
                        if v.family == 4:
                            sender.send(build_garp(sender.mac(), v.address))
                        else:
                            sender.send(build_na(sender.mac(), self._link_local(dev), v.address, router=True))
                    except OSError as exc:
                        log.debug("(%s) announcement on %s failed: %s", self.spec.name, dev, exc)
        self._arm_garp()

    def _link_local(self, dev: str) -> str:
        if self.spec.family == 6 and dev == self.spec.link:
            return self.spec.src
        from lvsfast.vrrp.spec import interface_address
        try:
            return interface_address(dev, 6)
        except ValueError:
            return "::"

    # ---- tracking --------------------------------------------------------------------------

    def track(self, kind: str, name: str, ok: bool, value: int = 0) -> None:
        key = (kind, name)
        if self.track_state.get(key) == ok and self.track_values.get(key, 0) == value:
            return
        self.track_state[key] = ok
        self.track_values[key] = value
        self._reprioritise(f"{kind} {name} {'up' if ok else 'down'}")

    def _reprioritise(self, reason: str) -> None:
        prio, fault = effective_priority(self.base_priority, self.spec.tracks, self.track_state, self.track_values)
        if (self.spec.track_primary and not self.spec.params.priority == 255
                and self.track_state.get(("interface", self.spec.interface)) is False):
            fault = f"interface {self.spec.interface} down"
        now = self.engine.now()
        if fault and not self.machine.faulted:
            self.feed(Fault(now, fault))
        elif not fault and self.machine.faulted:
            self.feed(Recover(now, reason))
        if prio != self.machine.priority:
            self.feed(PriorityChange(now, prio, reason))

    # ---- stop ------------------------------------------------------------------------------

    async def close(self, release: bool = True, hold: bool = False) -> None:
        """Stop: priority 0, then the VIPs go. With ``hold`` (the daemon stopping) a master keeps
        them until a successor's advert (the machine's ``release_at``), so the clients' packets
        are answered here until the new master has the VIPs and announces them."""
        self.feed(Stop(self.engine.now(), hold=hold and release))
        if self.machine.holding:
            self.released = asyncio.Event()
            try:
                await asyncio.wait_for(self.released.wait(), self.machine.release_at - self.engine.now() + 1)
            except asyncio.TimeoutError:
                pass
        if self.timer:
            self.timer.close()
        if self.garp_timer:
            self.garp_timer.cancel()
        done = asyncio.Event()

        async def mark() -> None:
            done.set()
        self.ops.put_nowait(mark)
        try:
            await asyncio.wait_for(done.wait(), 5)
        except asyncio.TimeoutError:
            pass
        if release and self.addresses.added:
            await self._release()
        self.addresses.close()
        if self.worker:
            self.worker.cancel()
        for s in self.senders.values():
            s.close()

    def status(self) -> dict[str, Any]:
        m = self.machine
        af = socket.AF_INET if self.spec.family == 4 else socket.AF_INET6
        return {
            "state": m.state.value,
            "priority": m.priority,
            "base_priority": self.base_priority,
            "vrid": self.spec.params.vrid,
            "interface": self.spec.interface,
            "version": self.spec.params.version,
            "master": socket.inet_ntop(af, m.master_src) if m.state is State.BACKUP and m.master_src else
            (self.spec.src if m.state is State.MASTER else ""),
            "transitions": m.transitions,
            "last_reason": m.last_reason,
            "adverts_sent": self.sent, "adverts_received": self.received,
            "unicast_src_drops": self.unicast_src_drops,
            "stall_listens": m.stall_listens,
            "vips": [v.cidr for v in self.spec.vips],
            "keepalived": keepalived_fields(self),
        }


class Engine(Watchers):
    """All instances of one configuration on the running loop; its watchers (links, VIPs,
    tracking) are in :mod:`lvsfast.vrrp.watchers`."""

    def __init__(self, specs: list[InstanceSpec], scripts: dict[str, ScriptSpec], *,
                 emit: Emit | None = None, script_security: bool = False, script_user: str | None = None,
                 processes: dict[str, ProcessSpec] | None = None, files: dict[str, str] | None = None,
                 notifier: Notifier | None = None, group_notify: dict[str, tuple] | None = None,
                 static: StaticSet | None = None) -> None:
        self.specs = specs
        self.static = static  # static_ipaddress/routes/rules: the service installs and removes them
        self.scripts = scripts
        self.processes = processes or {}
        self.files = files or {}  # vrrp_track_file name -> path
        self.notifier = notifier or Notifier(security=script_security, user=script_user)
        self.group_notify = group_notify or {}
        self.pending: set[asyncio.Future] = set()
        self.vmacs: set[str] = set()
        self.emit = emit or (lambda *a, **k: None)
        self.script_security = script_security
        self.script_user = script_user
        self.instances: dict[str, Instance] = {}
        self.links: dict[tuple[str, int, str], Link] = {}
        self.tasks: list[asyncio.Task] = []
        self.groups: dict[str, list[str]] = {}
        self.initial_track: dict[tuple[str, str], bool] = {}  # known before an instance starts (BFD: down)

    @staticmethod
    def now() -> float:
        # The precise clock, not the loop's cached millisecond time: the deadlines it feeds are
        # kept by DeadlineTimer to the microsecond. Both are CLOCK_MONOTONIC.
        return time.monotonic()

    async def start(self) -> None:
        await self.add(self.specs)
        self._start_tracking()
        self.tasks.append(asyncio.create_task(self._watch_vips()))

    async def add(self, specs: list[InstanceSpec]) -> None:
        """Start instances (at start-up, or new and changed ones on reload)."""
        new = []
        for spec in specs:
            inst = Instance(spec, self)
            self.instances[spec.name] = inst
            new.append(inst)
            if spec.sync_group:
                self.groups.setdefault(spec.sync_group, []).append(spec.name)
        touched = set()
        loop = asyncio.get_running_loop()
        for inst in list(new):  # an ipvlan carries its instance's adverts: it comes before the sockets
            iv = inst.spec.ipvlan
            if iv is not None and iv.name:
                try:
                    if ensure_ipvlan(iv.name, inst.spec.interface, iv.mode, iv.address, iv.prefix, iv.family):
                        self.vmacs.add(iv.name)
                        log.info("(%s) created ipvlan %s on %s", inst.spec.name, iv.name, inst.spec.interface)
                except OSError as exc:
                    log.error("(%s) not started: cannot create ipvlan %s: %s", inst.spec.name, iv.name, exc)
                    new.remove(inst)
                    del self.instances[inst.spec.name]
                    for members in self.groups.values():
                        if inst.spec.name in members:
                            members.remove(inst.spec.name)
        for inst in new:
            key = (inst.spec.link, inst.spec.family, inst.spec.src)
            link = self.links.get(key)
            if link is None:
                ifname, family, src = key
                transport = VrrpTransport(family, ifname, src, multicast=not inst.spec.peers,
                                          group=inst.spec.dst or None, unicast_ttl=inst.spec.unicast_ttl,
                                          ah=any(i.spec.auth_type == AUTH_AH for i in new))
                link = Link(transport, Receiver(ifname, family, []), {})
                self.links[key] = link
                for fd in transport.filenos():
                    loop.add_reader(fd, self._readable, link)
            if not inst.spec.peers:
                link.transport.join(inst.spec.dst)
            link.instances[inst.spec.params.vrid] = inst
            touched.add(key)
        for key in touched:
            self._rebuild_receiver(key)
        for inst in new:
            macvlans = ((inst.spec.vmac, inst.spec.interface, inst.spec.vmac_mac),) if inst.spec.vmac else ()
            for name, base, mac in macvlans + inst.spec.extra_vmacs:
                try:
                    if await in_netlink_thread(ensure_vmac, name, base, mac):
                        self.vmacs.add(name)
                        log.info("(%s) created %s (%s) on %s", inst.spec.name, name, mac, base)
                except (OSError, *netlink_errors()) as exc:
                    log.error("(%s) cannot create %s: %s", inst.spec.name, name, exc)
            if inst.spec.promote_secondaries:
                promote_secondaries(inst.spec.interface)
            inst.open(self.links[(inst.spec.link, inst.spec.family, inst.spec.src)])
            stale = await inst.addresses.remove_stale()
            if stale:
                log.warning("(%s) removed stale VIPs left by an earlier run: %s", inst.spec.name, ", ".join(stale))
        for inst in new:
            inst.feed(Start(self.now()))
            inst._reprioritise("start")

    def _rebuild_receiver(self, key: tuple[str, int, str]) -> None:
        link = self.links[key]
        old = link.receiver
        link.receiver = Receiver(key[0], key[1], [i.spec.wire() for i in link.instances.values()])
        link.receiver.received, link.receiver.accepted = old.received, old.accepted

    async def remove(self, names: list[str], release: bool = True, deleted: frozenset[str] = frozenset()) -> None:
        """Stop instances (removed or changed on reload): priority 0, VIPs released. Those in
        ``deleted`` are gone from the configuration, which their notification says."""
        insts = [self.instances.pop(n) for n in names if n in self.instances]
        for inst in insts:
            inst.deleted = inst.spec.name in deleted
        await asyncio.gather(*(i.close(release) for i in insts), return_exceptions=True)
        loop = asyncio.get_running_loop()
        for inst in insts:
            for members in self.groups.values():
                if inst.spec.name in members:
                    members.remove(inst.spec.name)
            key = (inst.spec.link, inst.spec.family, inst.spec.src)
            link = self.links.get(key)
            if link is None:
                continue
            link.instances.pop(inst.spec.params.vrid, None)
            if link.instances:
                self._rebuild_receiver(key)
            else:
                for fd in link.transport.filenos():
                    loop.remove_reader(fd)
                link.transport.close()
                del self.links[key]

    def _readable(self, link: Link) -> None:
        try:
            batch = link.transport.recv()
        except OSError as exc:
            log.debug("receive on %s failed: %s", link.transport.ifname, exc)
            return
        now = self.now()
        for pkt, src, dst, ttl, ifindex in batch:
            res = link.receiver.decode(pkt, src, dst, ttl)
            if isinstance(res, int):
                key = link.receiver.last[:2]  # (reason, vrid)
                # One line per reason and VRID every 10 s: a storm of bad packets must not flood the log.
                if now - link.drops_logged.get(key, -1e9) >= 10:
                    link.drops_logged[key] = now
                    log.warning(link.receiver.describe_last())
                continue
            inst = link.instances.get(res.vrid)
            if inst is None or (inst.machine.state is State.INIT and not inst.machine.holding):
                continue
            if inst.spec.check_unicast_src and not self._from_peer(inst, res.src, res.ttl, now):
                continue
            inst.received += 1
            inst.master_priority = res.priority
            inst.pri_zero_rcvd += res.priority == 0
            inst.feed(Advert(now, res.priority, res.src_packed, res.interval_cs))

    def _from_peer(self, inst: Instance, sender: str, ttl: int, now: float) -> bool:
        """check_unicast_src: the advert comes from one of our unicast peers, within its TTL range."""
        for addr, lo, hi in inst.spec.peer_ttl:
            if addr == sender:
                if ttl < 0 or lo <= ttl <= hi:
                    return True
                why = f"TTL {ttl} outside {lo}-{hi}"
                break
        else:
            why = "not a unicast peer"
        inst.unicast_src_drops += 1
        if now - inst.unicast_src_logged >= 10:
            inst.unicast_src_logged = now
            log.warning("(%s) advert from %s dropped (check_unicast_src): %s", inst.spec.name, sender, why)
        return False

    def transitioned(self, inst: Instance, tr: Transition, forced: bool) -> None:
        self.emit("vrrp_state", instance=inst.spec.name, state=tr.new.value, vips=[v.address for v in inst.spec.vips])
        self._later(self._notify(inst, tr.new))
        group = inst.spec.sync_group
        if group and not forced and tr.new in FOLLOWED:
            self._later(self.notifier.notify(self.group_notify.get(group, ()), Notification("GROUP", group, tr.new)))
            self.emit("vrrp_group", group=group, state=tr.new.value)
        if group and not forced:
            members = self.groups.get(group, [])
            faulted = [n for n in members if n in self.instances and self.instances[n].machine.faulted]
            for other, ev in propagate(group, members, inst.spec.name, tr.new, self.now(), faulted):
                self.instances[other].feed(ev)

    def _later(self, coro) -> None:
        # Kept so that stop() can let notify_stop scripts finish before the loop ends.
        task = asyncio.ensure_future(coro)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    def lower_priority_seen(self, inst: Instance) -> None:
        if any(kind == "rx_lower_pri" for kind, _ in inst.spec.notify) or self.notifier.fifo:
            self._later(self.notifier.rx_lower_pri(inst.spec.notify, inst.spec.name, inst.machine.priority))

    async def _notify(self, inst: Instance, state: State) -> None:
        gone = inst.spec.notify_deleted if inst.deleted and state is State.INIT else None
        await self.notifier.notify(inst.spec.notify,
                                   Notification("INSTANCE", inst.spec.name, state, inst.machine.priority, gone))

    # ---- stop and status -------------------------------------------------------------------

    async def stop(self, release: bool = True) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*(i.close(release, hold=True) for i in self.instances.values()),
                             return_exceptions=True)
        if self.pending:
            await asyncio.wait(list(self.pending), timeout=self.notifier.timeout)
        self.notifier.close()
        for name in sorted(self.vmacs):  # remove only the macvlans we created
            try:
                await in_netlink_thread(remove_link, name)
            except (OSError, *netlink_errors()) as exc:
                log.warning("cannot remove %s: %s", name, exc)
        self.vmacs.clear()
        loop = asyncio.get_running_loop()
        for link in self.links.values():
            for fd in link.transport.filenos():
                loop.remove_reader(fd)
            link.transport.close()

    def status(self) -> dict[str, Any]:
        return {
            "instances": {n: i.status() for n, i in self.instances.items()},
            "counters": {f"{k[0]}/IPv{k[1]}": l.receiver.counters() for k, l in self.links.items()},
        }
