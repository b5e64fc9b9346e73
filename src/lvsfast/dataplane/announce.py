"""Announcing VIPs to the upstream routers through FRR, while their virtual servers are healthy.

The tie with FRR is the kernel itself: each announced VIP is a /32 (/128) address on
``announce_interface`` (``lo`` by default), and FRR's ``bgpd`` redistributes connected routes
through a route-map that matches host routes of the VIP range (docs/scale-out.md). Nothing
speaks to FRR directly, so either daemon may restart alone: zebra reads the addresses again
when it starts, and lvsfast puts back what should be there when it starts. Withdrawing is
removing the address; FRR sends the withdrawal within ~150 ms.

A virtual server with ``announce_route`` is announced while it has quorum, and only once every
one of its checks has run since it last had none (at start, or after losing quorum): a director
that joins, or comes back from a cut, with a view of the real servers unlike its peers' would
hash the flows ECMP gives it to other servers (quorum alone is regained at the first server
back). An address several
virtual servers share is announced while any of them has it (the others' directors are in the
same state, and withdrawing would also take the healthy ports away). At stop, and at a reload
that stops announcing an address, the address goes first and the service only after
``announce_withdraw_delay`` seconds, so the upstream has moved the flows elsewhere by then;
what is withdrawn stays withdrawn meanwhile, whatever the checks say. With
``announce_track_interface``, nothing is announced while one of those interfaces is down (read
from sysfs every half second, so a director cut from its real servers stops attracting flows).
With ``announce_track_script`` (vrrp_script names, run here by
:mod:`lvsfast.dataplane.announce_scripts`), nothing is announced while one named in global_defs
fails, and a virtual server's addresses are not while one it names fails.

On IPVS, a director announcing a VIP turns on ``net.ipv4.vs.sloppy_tcp`` in its namespace
before the first announcement: IPVS otherwise schedules a TCP flow only on its SYN, and a flow
ECMP moves to this director mid-stream would reach the local stack (the VIP is on ``lo``) and be
reset. With it, the flow's first packet here is scheduled by ``mh`` to the real server the
other directors chose. keepalived has no keyword for it; it is left on at stop (other IPVS
users in the namespace see it too, which docs/scale-out.md says).

:func:`wanted` decides (pure); :class:`Announcer` keeps the kernel in line with it.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import struct
from typing import Callable, Iterable, Mapping, Protocol

from lvsfast.config.model import Config
from lvsfast.dataplane import announce_scripts
from lvsfast.dataplane.announce_scripts import ScriptWatch
from lvsfast.netlink import ack_code, attr

log = logging.getLogger("lvsfast.announce")

RTM_NEWADDR, RTM_DELADDR = 20, 21
IFA_ADDRESS, IFA_LOCAL = 1, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE = 0x1, 0x4, 0x400, 0x100


TRACK_POLL = 0.5
SLOPPY_TCP = "/proc/sys/net/ipv4/vs/sloppy_tcp"


class QuorumView(Protocol):
    up: bool | None


def link_up(name: str) -> bool:
    """The interface exists and is up (``unknown``, as lo and dummies report, counts as up)."""
    try:
        with open(f"/sys/class/net/{name}/operstate") as f:
            state = f.read().strip()
        with open(f"/sys/class/net/{name}/flags") as f:
            flags = int(f.read().strip(), 16)
    except (OSError, ValueError):
        return False
    return bool(flags & 1) and state in ("up", "unknown")


def configured(config: Config | None) -> bool:
    return config is not None and any(vs.announce_route for vs in config.virtual_servers)


def addresses(config: Config) -> dict[str, list[str]]:
    """Each announcing virtual server's name and its addresses (a group's every address)."""
    from lvsfast.config import resolve

    out: dict[str, list[str]] = {}
    for vs in config.virtual_servers:
        if not vs.announce_route:
            continue
        if vs.address:
            out[vs.name] = [vs.address]
        elif vs.group is not None:
            out[vs.name] = sorted({a.address for a in resolve.service_addresses(vs, config) if a.address})
    return out


def wanted(config: Config, quorum: Mapping[str, QuorumView], ready: Callable[[str], bool] = lambda name: True,
           script_up: Callable[[str], bool] = lambda name: True) -> set[str]:
    """The addresses to announce now: those of announcing virtual servers holding quorum whose
    checks have all given a verdict (``ready``, by virtual server name) and whose
    ``announce_track_script`` scripts are all up (``script_up``, by script name)."""
    scripts = {vs.name: vs.announce_track_script for vs in config.virtual_servers if vs.announce_track_script}
    out: set[str] = set()
    for name, addrs in addresses(config).items():
        q = quorum.get(name)
        if q is not None and q.up and ready(name) and all(map(script_up, scripts.get(name, ()))):
            out.update(addrs)
    return out


def message(add: bool, seq: int, index: int, address: str) -> bytes:
    """RTM_NEWADDR/RTM_DELADDR for ``address`` as a host address (/32, /128) on ``index``."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    raw = socket.inet_pton(family, address)
    prefix = 128 if family == socket.AF_INET6 else 32
    # Scope global: zebra takes it for a connected route, which is what FRR redistributes.
    body = struct.pack("=BBBBI", family, prefix, 0, 0, index)
    body += attr(IFA_ADDRESS, raw) + (attr(IFA_LOCAL, raw) if family == socket.AF_INET else b"")
    # An add replaces an existing one (an address left by a killed lvsfast is ours again).
    flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_REPLACE if add else 0)
    return struct.pack("=IHHII", 16 + len(body), RTM_NEWADDR if add else RTM_DELADDR, flags, seq, 0) + body


class Announcer:
    """Holds the announced set; ``sync`` makes the interface carry exactly ``wanted``."""

    def __init__(self, interface: str = "lo", withdraw_delay: float = 2.0, *, ipvs: bool = False) -> None:
        self.interface = interface
        self.ipvs = ipvs  # the data plane is IPVS: sloppy_tcp goes on before the first announcement
        self.sloppy_path = SLOPPY_TCP
        self._sloppy_done = False
        self.withdraw_delay = withdraw_delay
        self.tracked: tuple[str, ...] = ()
        self.announced: set[str] = set()
        self.errors = 0
        self.links_down: list[str] = []
        self.scripts: ScriptWatch | None = None  # announce_track_script's, while any is named
        self.scripts_down: list[str] = []  # global_defs' failing ones: nothing announced
        self._unsure: set[str] = set()  # maybe on the interface (claimed): written again either way
        self._held: set[str] = set()  # withdrawn ahead of a reload or a stop: not announced again
        self._held_for: Config | None = None  # the reload's configuration, which releases them
        self._stopped = False
        self._last: tuple[Config, Mapping[str, QuorumView], Callable[[str], list[tuple[int, bool]] | None]] | None = None
        self._ready: set[str] = set()  # virtual servers whose checks have all run since quorum came
        self._since: dict[str, list[int]] = {}  # their checks' run counts when quorum came back
        self._waiting = False
        self._timer: asyncio.TimerHandle | None = None
        self._sock: socket.socket | None = None
        self._seq = 0

    @classmethod
    def starting(cls, config: Config, *, ipvs: bool = False) -> "Announcer":
        """The announcer of a starting checker: what the configuration may announce is taken as
        possibly on the interface already (left by a killed lvsfast), so the first refresh
        rewrites what it wants and removes the rest."""
        a = cls(config.global_defs.announce_interface, config.global_defs.announce_withdraw_delay, ipvs=ipvs)
        a.claim(x for addrs in addresses(config).values() for x in addrs)
        return a

    def configure(self, config: Config) -> None:
        g = config.global_defs
        if g.announce_interface != self.interface:
            self.withdraw(self.announced)  # off the old interface; sync puts them on the new one
        self.interface = g.announce_interface
        self.withdraw_delay = g.announce_withdraw_delay
        self.tracked = g.announce_track_interface
        if announce_scripts.tracked(config):
            if self.scripts is None:
                self.scripts = ScriptWatch(self._script_changed)
            self.scripts.configure(config)
        elif self.scripts is not None:
            self.scripts.close()
            self.scripts = None

    def refresh(self, config: Config, quorum: Mapping[str, QuorumView],
                runs: Callable[[str], list[tuple[int, bool]] | None] = lambda name: []) -> None:
        """Announce what ``config`` and the quorums want now (after each data-plane apply).
        ``runs(name)``: for each check of that virtual server, in a stable order, how many times
        it has run and whether it is up; None while one is between a failure and its verdict."""
        if self._stopped:
            return
        if self._held_for is not None and config is self._held_for:
            self._held, self._held_for = set(), None  # the reload that withdrew them is in
        self.configure(config)
        self._last = (config, quorum, runs)
        names = addresses(config)
        for n in names:
            q = quorum.get(n)
            if q is None or not q.up:
                self._ready.discard(n)
                self._since.pop(n, None)
            elif n not in self._ready:
                # Counted from when quorum came back: runs made while it was lost are no verdict
                # on the servers now.
                now = runs(n)
                if now is None:
                    continue
                counts = [r for r, _ in now]
                base = self._since.setdefault(n, counts)
                # A check still down must have run twice: its first run may have started before
                # quorum came back (on a dead link) and is no verdict on the server now. A
                # director announcing with a server missing would map that server's flows
                # elsewhere once ECMP sends them to it.
                if len(base) == len(now) and all(r > b + (0 if up else 1) for (r, up), b in zip(now, base)):
                    self._ready.add(n)
                    self._since.pop(n, None)
                elif len(base) != len(now):
                    self._since[n] = counts  # a reload changed the checks: from now
        waiting = any(n not in self._ready and (q := quorum.get(n)) is not None and q.up for n in names)
        if waiting != self._waiting:
            log.info("quorum, but waiting for every check to run before announcing" if waiting
                     else "every check has run: announcing what has quorum")
            self._waiting = waiting
        scripts = self.scripts
        up = scripts.up if scripts is not None else (lambda name: True)
        want = wanted(config, quorum, self._ready.__contains__, up) - self._held
        down = [i for i in self.tracked if not link_up(i)]
        if down != self.links_down:
            if down:
                log.warning("announce_track_interface: %s down; announcing nothing", ", ".join(down))
            elif self.links_down:
                log.info("announce_track_interface: every tracked interface is up again")
            self.links_down = down
        failing = scripts.down(config.global_defs.announce_track_script) if scripts is not None else []
        if failing != self.scripts_down:
            if failing:
                log.warning("announce_track_script: %s not up; announcing nothing", ", ".join(failing))
            elif self.scripts_down:
                log.info("announce_track_script: every global_defs script is up again")
            self.scripts_down = failing
        self.sync(set() if down or failing else want)
        self._arm()

    def _script_changed(self) -> None:
        if self._last is not None:
            self.refresh(*self._last)

    def withdraw_for(self, config: Config | None) -> set[str]:
        """Withdraw, ahead of a reload to ``config``, what it does not announce (None: a stop,
        everything, for good). Returns what was withdrawn: the caller waits withdraw_delay."""
        keep = set() if config is None else {a for addrs in addresses(config).values() for a in addrs}
        if config is None:
            self._stopped = True
            if self.scripts is not None:
                self.scripts.close()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        gone = self.withdraw((self.announced | self._unsure) - keep)
        if config is not None and gone:
            self._held |= gone
            self._held_for = config
        return gone

    def _arm(self) -> None:
        if (self.tracked or self._waiting) and self._timer is None and not self._stopped:
            self._timer = asyncio.get_running_loop().call_later(TRACK_POLL, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._last is not None:
            self.refresh(*self._last)

    def sync(self, want: Iterable[str]) -> None:
        want = set(want)
        unsure = self._unsure
        if want and self.ipvs and not self._sloppy_done:
            self._sloppy()
        for a in sorted(want - (self.announced - unsure)):
            if self._change(True, a):
                unsure.discard(a)
                self.announced.add(a)
                log.info("announcing %s (on %s)", a, self.interface)
        self.withdraw((self.announced | unsure) - want)
        self._unsure = set()

    def withdraw(self, gone: Iterable[str]) -> set[str]:
        """Remove ``gone``'s addresses; returns those that were announced."""
        done = set()
        for a in sorted(set(gone) & (self.announced | self._unsure)):
            self._unsure.discard(a)
            self._change(False, a)
            if a in self.announced:
                self.announced.discard(a)
                done.add(a)
                log.info("withdrew %s (from %s)", a, self.interface)
            else:
                log.debug("removed %s from %s, if a killed lvsfast left it", a, self.interface)
        return done

    def claim(self, addrs: Iterable[str]) -> None:
        """Take ``addrs`` as announced (at start: so that one the configuration names but does
        not want now, left by a killed lvsfast, is withdrawn by the next sync)."""
        self._unsure.update(addrs)

    def status(self) -> dict[str, object]:
        return {"interface": self.interface, "announced": sorted(self.announced), "errors": self.errors,
                "waiting_for_checks": self._waiting,
                "held": sorted(self._held), "tracked_down": self.links_down,
                "scripts_down": sorted(n for n in announce_scripts.tracked(self._last[0]) if self.scripts is None
                                       or not self.scripts.up(n)) if self._last is not None else []}

    def _sloppy(self) -> None:
        """IPVS schedules mid-stream TCP packets too (see the module's text). Read after the
        data plane holds a service, so the ip_vs module and its sysctls exist."""
        try:
            with open(self.sloppy_path, "r+") as f:
                if f.read().strip() != "1":
                    f.seek(0)
                    f.write("1\n")
                    log.info("net.ipv4.vs.sloppy_tcp=1: this director takes TCP flows mid-stream (scale-out)")
            self._sloppy_done = True
        except OSError as exc:
            self.errors += 1
            log.error("setting net.ipv4.vs.sloppy_tcp=1 failed (flows moved here mid-stream will be reset): %s", exc)

    def _change(self, add: bool, address: str) -> bool:
        try:
            index = socket.if_nametoindex(self.interface)
            if self._sock is None:
                self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
                self._sock.bind((0, 0))
                self._sock.settimeout(2.0)
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            self._sock.send(message(add, self._seq, index, address))
            while True:
                code = ack_code(self._sock.recv(65536), self._seq)
                if code is not None:
                    break
            if code and not (code == errno.EADDRNOTAVAIL and not add):
                raise OSError(code, os.strerror(code))
            return True
        except OSError as exc:
            self.errors += 1
            log.error("%s %s on %s failed: %s", "announcing" if add else "withdrawing", address, self.interface, exc)
            return False

    def close(self) -> None:
        if self.scripts is not None:
            self.scripts.close()
            self.scripts = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
