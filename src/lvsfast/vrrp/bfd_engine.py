"""The BFD engine's I/O layer: the sans-IO :class:`~lvsfast.bfd.session.Session` of each
bfd_instance, driven by its sockets and an exact-deadline timer, on the VRRP child's loop.

Packets are read in batches from one socket per (family, port), validated by the wire decoder,
held to the session's TTL floor (RFC 5881's GTSM, keepalived's ``max_hops``) and handed to the
session they belong to: by Your Discriminator when the peer knows ours, else by the neighbour's
address (RFC 5880 §6.3). The sessions' actions become transmissions and state changes; state
changes go to the listener (the VRRP engine's tracking and bfd_master_down, and the checker).
"""
from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from lvsfast.bfd import transport
from lvsfast.bfd.events import Dropped, SessionParams, StateChange, Transmit
from lvsfast.bfd.session import Session
from lvsfast.bfd.wire import decode_batch
from lvsfast.bfd.wire_types import UP, diag_name, state_name
from lvsfast.config.model import BfdInstance
from lvsfast.vrrp.deadline import DeadlineTimer

log = logging.getLogger("lvsfast.bfd")

#: listener(instance name, old state, new state, diag, the neighbour's address)
Listener = Callable[[BfdInstance, int, int, int], None]


def params_of(b: BfdInstance) -> SessionParams:
    return SessionParams(desired_min_tx_us=b.min_tx_us, required_min_rx_us=b.min_rx_us, idle_tx_us=b.idle_tx_us,
                         detect_mult=b.multiplier, passive=b.passive, multihop=b.multihop)


def _address_key(b: BfdInstance) -> tuple:
    """What a session is bound to; a change of any of these makes a new session."""
    return (b.neighbor_ip, b.family, b.source_ip, b.multihop, b.out_ttl)


@dataclass(eq=False)
class Peer:
    """One bfd_instance's session and its socket, timer and counters."""

    config: BfdInstance
    session: Session
    my_disc: int
    timer: DeadlineTimer | None = None
    sock: socket.socket | None = None
    sent: int = 0
    received: int = 0
    drops: dict[str, int] = field(default_factory=dict)
    send_errors: int = 0
    last_error_logged: float = -1e9

    def drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1


class BfdEngine:
    """Every bfd_instance of the configuration on the running loop."""

    def __init__(self, listener: Listener, rng: random.Random | None = None) -> None:
        self.listener = listener
        self.rng = rng or random.SystemRandom()
        self.peers: dict[str, Peer] = {}
        self.by_disc: dict[int, Peer] = {}
        self.by_addr: dict[tuple[str, bool], Peer] = {}  # (neighbour, multihop)
        self.receivers: dict[tuple[int, int], socket.socket] = {}  # (family, port)
        self.unmatched: dict[str, int] = {}  # drops before a session was found, by reason

    @staticmethod
    def now() -> float:
        return time.monotonic()

    # ---- configuration ---------------------------------------------------------------------

    def update(self, instances: tuple[BfdInstance, ...]) -> None:
        """Start, change or stop sessions to match ``instances`` (start-up and reloads): a
        change of timers only renegotiates them (a Poll sequence) on the running session."""
        wanted = {b.name: b for b in instances}
        for name in [n for n in self.peers if n not in wanted]:
            self._remove(self.peers[name])
        for name, b in wanted.items():
            p = self.peers.get(name)
            if p is not None and _address_key(p.config) != _address_key(b):
                self._remove(p)
                p = None
            if p is None:
                self._add(b)
            elif p.config != b:
                old = p.config
                p.config = b
                if params_of(old) != params_of(b):
                    log.info("BFD_Instance(%s) timers changed: negotiating min_tx %g ms, min_rx %g ms, multiplier %d",
                             name, b.min_tx_us / 1000, b.min_rx_us / 1000, b.multiplier)
                    self._apply(p, p.session.set_params(params_of(b), self.now()))
        self._sync_receivers()

    def _new_disc(self) -> int:
        while True:
            d = self.rng.randint(1, 2**32 - 1)
            if d not in self.by_disc:
                return d

    def _add(self, b: BfdInstance) -> None:
        disc = self._new_disc()
        now = self.now()
        session = Session(params_of(b), disc, now, random.Random(self.rng.random()))
        p = Peer(b, session, disc)
        self.peers[b.name] = p
        self.by_disc[disc] = p
        self.by_addr[(b.neighbor_ip, b.multihop)] = p
        p.timer = DeadlineTimer(asyncio.get_running_loop(), lambda p=p: self._fire(p))
        log.info("BFD_Instance(%s) starting: neighbour %s%s, min_tx %g ms, min_rx %g ms, multiplier %d%s",
                 b.name, b.neighbor_ip, f" from {b.source_ip}" if b.source_ip else "", b.min_tx_us / 1000,
                 b.min_rx_us / 1000, b.multiplier, " (passive)" if b.passive else "")
        self._arm(p)

    def _remove(self, p: Peer) -> None:
        # AdminDown tells the peer we left on purpose (diag 7), rather than letting it time out.
        try:
            self._apply(p, p.session.admin_down(self.now()), notify=False)
        except Exception:  # noqa: BLE001 - stopping must go on
            log.exception("BFD_Instance(%s): admin down failed", p.config.name)
        if p.timer is not None:
            p.timer.close()
        if p.sock is not None:
            p.sock.close()
        self.peers.pop(p.config.name, None)
        self.by_disc.pop(p.my_disc, None)
        self.by_addr.pop((p.config.neighbor_ip, p.config.multihop), None)

    def _sync_receivers(self) -> None:
        loop = asyncio.get_running_loop()
        needed = {(p.config.family, transport.MULTIHOP_PORT if p.config.multihop else transport.SINGLE_HOP_PORT)
                  for p in self.peers.values()}
        for key in [k for k in self.receivers if k not in needed]:
            s = self.receivers.pop(key)
            loop.remove_reader(s.fileno())
            s.close()
        for key in needed - set(self.receivers):
            try:
                s = transport.open_receiver(*key)
            except OSError as exc:
                log.error("BFD: cannot listen on UDP port %d (IPv%d): %s", key[1], key[0], exc)
                continue
            self.receivers[key] = s
            loop.add_reader(s.fileno(), self._readable, key)

    # ---- the sessions ----------------------------------------------------------------------

    def _fire(self, p: Peer) -> None:
        if self.peers.get(p.config.name) is p:
            self._apply(p, p.session.tick(self.now()))

    def _arm(self, p: Peer) -> None:
        if p.timer is not None:
            p.timer.at(p.session.next_deadline())

    def _apply(self, p: Peer, actions: list, notify: bool = True) -> None:
        for a in actions:
            if isinstance(a, Transmit):
                self._send(p, a.packet)
            elif isinstance(a, StateChange):
                b = p.config
                log.info("BFD_Instance(%s) Entering %s state (diagnostic: %s)", b.name, state_name(a.new).upper(),
                         diag_name(a.diag))
                if notify:
                    self.listener(b, a.old, a.new, a.diag)
            elif isinstance(a, Dropped):
                p.drop(a.reason)
        self._arm(p)

    def _send(self, p: Peer, packet: bytes) -> None:
        b = p.config
        try:
            if p.sock is None:
                port = transport.MULTIHOP_PORT if b.multihop else transport.SINGLE_HOP_PORT
                p.sock = transport.open_sender(b.family, b.neighbor_ip, port, b.out_ttl, b.source_ip, self.rng)
            p.sock.send(packet)
            p.sent += 1
        except OSError as exc:
            p.send_errors += 1
            if p.sock is not None and exc.errno not in (None, 11):
                p.sock.close()  # a route or address that went away: open again next time
                p.sock = None
            now = self.now()
            if now - p.last_error_logged >= 10:
                p.last_error_logged = now
                log.warning("BFD_Instance(%s) cannot send to %s: %s", b.name, b.neighbor_ip, exc)

    def _readable(self, key: tuple[int, int]) -> None:
        s = self.receivers.get(key)
        if s is None:
            return
        try:
            batch = transport.receive(s, key[0])
        except OSError as exc:
            log.debug("BFD receive failed: %s", exc)
            return
        now = self.now()
        multihop = key[1] == transport.MULTIHOP_PORT
        # One call decodes the whole batch (compiled: a repeated packet costs a memo lookup).
        for r, pkt in zip(batch, decode_batch(batch)):
            if isinstance(pkt, str):  # the reason it was dropped
                p = self.by_addr.get((r.src, multihop))
                if p is not None:
                    p.drop(pkt)
                else:
                    self.unmatched[pkt] = self.unmatched.get(pkt, 0) + 1
                continue
            if pkt.your_disc:
                p = self.by_disc.get(pkt.your_disc)
                if p is None or p.config.neighbor_ip != r.src:
                    self.unmatched["your_disc"] = self.unmatched.get("your_disc", 0) + 1
                    continue
            else:
                p = self.by_addr.get((r.src, multihop))
                if p is None:
                    self.unmatched["no_session"] = self.unmatched.get("no_session", 0) + 1
                    continue
            b = p.config
            if b.multihop != multihop:
                p.drop("port")
                continue
            floor = b.min_rx_ttl
            if r.ttl >= 0 and floor and r.ttl < floor:
                p.drop("ttl")  # RFC 5881 §5: not from a neighbour this close
                continue
            if b.source_ip and r.dst and r.dst != b.source_ip:
                p.drop("destination")
                continue
            p.received += 1
            self._apply(p, p.session.receive(pkt, now))

    # ---- stop and status -------------------------------------------------------------------

    def stop(self) -> None:
        for p in list(self.peers.values()):
            self._remove(p)
        self._sync_receivers()

    def is_up(self, name: str) -> bool:
        p = self.peers.get(name)
        return p is not None and p.session.state == UP

    def status(self) -> dict[str, Any]:
        return {name: {"state": state_name(p.session.state), "neighbor": p.config.neighbor_ip,
                       "local_discriminator": p.my_disc, "sent": p.sent, "received": p.received,
                       "drops": dict(p.drops), "send_errors": p.send_errors}
                for name, p in self.peers.items()} | ({"_unmatched": dict(self.unmatched)} if self.unmatched else {})
