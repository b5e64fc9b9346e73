"""static_ipaddress, static_routes and static_rules: installed when the VRRP process starts, kept,
removed when it stops.

Unlike VIPs they do not follow mastership: keepalived puts them in at start-up, puts one back if
something deletes it, and takes them out at shutdown. A reload changes them by difference: what
the new configuration added goes in, what it dropped comes out, what stayed is left alone (never a
flush). Only what lvsfast itself added is ever removed: an address, route or rule the kernel
already held when we started belongs to someone else.

The requests go through one rtnetlink socket on the loop's thread (:mod:`lvsfast.vrrp.rtnl`):
each is acked within its own system call, so the whole set costs microseconds, not a thread hop.
"""
from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass, field
from typing import Iterable

from lvsfast.config.model import Config, VirtualAddress, VirtualRoute, VirtualRule
from lvsfast.frozen import record
from lvsfast.vrrp.route_spec import (RouteRequest, RuleRequest, default_preferences, describe, request_of,
                                    with_preference)
from lvsfast.vrrp.rtnl import IFA_F_NODAD, AddressSocket

log = logging.getLogger("lvsfast.vrrp")

SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
IFA_F_HOMEADDRESS, IFA_F_MANAGETEMPADDR, IFA_F_NOPREFIXROUTE, IFA_F_MCAUTOJOIN = 0x10, 0x100, 0x200, 0x400
FOREVER = 0xFFFFFFFF


@record
class AddressRequest:
    dev: str
    address: str
    prefix: int
    scope: int = 0
    label: str | None = None
    broadcast: str | None = None
    peer: str | None = None
    flags: int = 0
    preferred_lft: int | None = None

    def describe(self) -> str:
        return f"{self.address}/{self.prefix} dev {self.dev}"


def _broadcast(v: VirtualAddress) -> str | None:
    """IFA_BROADCAST: the address given, or with ``+``/``-`` the address with its host bits set
    or cleared (keepalived: only up to a /30; never with a peer)."""
    if v.family != 4 or not v.brd or v.peer:
        return None
    if v.brd in ("+", "-"):
        if v.prefix > 30:
            return None
        import ipaddress
        net = ipaddress.ip_interface(f"{v.address}/{v.prefix}").network
        return str(net.broadcast_address if v.brd == "+" else net.network_address)
    return v.brd


def address_request(v: VirtualAddress, default_dev: str | None = None) -> AddressRequest:
    """The kernel request of one address line (a static address, or a VIP on ``default_dev``
    unless it names its own), with keepalived 2.2.7's defaults: an IPv6 address is added
    without DAD unless the line says ``-nodad``, and a /128 is deprecated (preferred_lft 0)
    unless it says ``preferred_lft forever``. A lifetime only applies to IPv6, as keepalived."""
    dev = v.dev or default_dev
    if not dev:
        raise ValueError("no interface (dev) given")
    flags = 0
    if v.family == 6 and not v.nodad:
        flags |= IFA_F_NODAD  # a configured address is ours at once, not after DAD
    for on, bit in ((v.home, IFA_F_HOMEADDRESS), (v.mngtmpaddr, IFA_F_MANAGETEMPADDR),
                    (v.noprefixroute, IFA_F_NOPREFIXROUTE), (v.autojoin, IFA_F_MCAUTOJOIN)):
        if on:
            flags |= bit
    scope = (SCOPES[v.scope] if v.scope in SCOPES else int(v.scope)) if v.scope and v.family == 4 else 0
    lft = None
    if v.family == 6:
        lft = v.preferred_lft if v.preferred_lft is not None else (0 if v.prefix == 128 else FOREVER)
        if lft == FOREVER:
            lft = None  # the kernel's default
    return AddressRequest(dev, v.address, v.prefix, scope, v.label or None if v.family == 4 else None,
                          _broadcast(v), v.peer, flags, lft)


Item = AddressRequest | RouteRequest | RuleRequest


@dataclass
class StaticSet:
    """The static addresses, routes and rules one configuration asks for, and which of them
    lvsfast put in (and so may take out)."""

    addresses: dict[AddressRequest, str] = field(default_factory=dict)  # request -> "FILE:LINE"
    routes: dict[RouteRequest, str] = field(default_factory=dict)
    rules: dict[RuleRequest, str] = field(default_factory=dict)
    added: set[Item] = field(default_factory=set)
    _sock: AddressSocket | None = None

    @classmethod
    def of(cls, config: Config, prefs: dict[tuple[str, int], int] | None = None) -> "StaticSet":
        """The requests of ``config``'s static_* blocks; a line that cannot be programmed is
        logged as ``FILE:LINE: ...`` and left out. ``prefs``: preferences for rules without one
        (:func:`~lvsfast.vrrp.route_spec.default_preferences`)."""
        out = cls()
        if prefs is None:
            prefs = default_preferences(config)
        for v in config.static_ipaddress:
            where = f"{v.file}:{v.line}"
            try:
                out.addresses.setdefault(address_request(v), where)
            except ValueError as exc:
                log.error("%s: static_ipaddress %s: %s - ignoring", where, v.cidr, exc)
        for r in config.static_routes:
            _take(out.routes, r, "static_routes")
        for r in config.static_rules:
            _take(out.rules, with_preference(r, prefs), "static_rules")
        return out

    def __bool__(self) -> bool:
        return bool(self.addresses or self.routes or self.rules)

    def _rtnl(self) -> AddressSocket:
        if self._sock is None:
            self._sock = AddressSocket()
        return self._sock

    # ---- kernel requests -------------------------------------------------------------------

    def _add(self, item: Item, where: str, quiet: bool = False) -> bool:
        s = self._rtnl()
        try:
            if isinstance(item, AddressRequest):
                s.change(True, item.dev, item.address, item.prefix, scope=item.scope, label=item.label,
                         broadcast=item.broadcast, peer=item.peer, flags=item.flags,
                         preferred_lft=item.preferred_lft)
            elif isinstance(item, RouteRequest):
                s.route(True, item)
            else:
                s.rule(True, item)
        except OSError as exc:
            if exc.errno != errno.EEXIST and not quiet:
                log.error("%s: cannot add static %s: %s", where, _what(item), exc.strerror or exc)
            return False
        self.added.add(item)
        return True

    def _remove(self, item: Item) -> None:
        self.added.discard(item)
        s = self._rtnl()
        try:
            if isinstance(item, AddressRequest):
                s.change(False, item.dev, item.address, item.prefix, peer=item.peer)
            elif isinstance(item, RouteRequest):
                s.route(False, item)
            else:
                s.rule(False, item)
        except OSError as exc:
            if exc.errno not in (errno.ESRCH, errno.ENOENT, errno.EADDRNOTAVAIL, errno.ENODEV):
                log.warning("cannot remove static %s: %s", _what(item), exc.strerror or exc)

    def _all(self) -> list[tuple[Item, str]]:
        # Addresses first: a route's source or gateway may be one of them, a rule may point at a route.
        return [*self.addresses.items(), *self.routes.items(), *self.rules.items()]

    # ---- life cycle ------------------------------------------------------------------------

    def install(self) -> list[str]:
        """At start: put every static item in; returns what was added."""
        done = []
        for item, where in self._all():
            if self._add(item, where):
                done.append(_what(item))
        return done

    def repair(self) -> list[str]:
        """Put back what we added and something removed. Re-adding is the check: the kernel
        answers EEXIST for what is still there (every rule has a preference, see
        :func:`~lvsfast.vrrp.route_spec.default_preferences`, so a rule is never added twice)."""
        back = []
        for item, where in self._all():
            if item not in self.added:
                continue
            self.added.discard(item)
            if self._add(item, where, quiet=True):
                back.append(_what(item))
            else:
                self.added.add(item)  # still there (or, for now, impossible): still ours
        return back

    def concerns(self, deleted: Iterable[str]) -> bool:
        """Whether deleted addresses (canonical spelling) may have taken part of the set with
        them: one of its addresses, or any route (the kernel drops a route with its source or
        gateway's address)."""
        if not self.added:
            return False
        return bool(self.routes) or any(canonical(a.address) in deleted for a in self.addresses)

    def update(self, new: "StaticSet") -> tuple[list[str], list[str]]:
        """Reload: remove what ``new`` dropped, add what it brought, keep the rest; this set
        becomes ``new``. Returns (added, removed)."""
        removed = []
        for mine, theirs in ((self.rules, new.rules), (self.routes, new.routes), (self.addresses, new.addresses)):
            for item in list(mine):
                if item not in theirs and item in self.added:
                    self._remove(item)
                    removed.append(_what(item))
        kept = self.added
        self.addresses, self.routes, self.rules = new.addresses, new.routes, new.rules
        self.added = {i for i in kept if i in self.addresses or i in self.routes or i in self.rules}
        added = []
        for item, where in self._all():
            if item not in self.added and self._add(item, where):
                added.append(_what(item))
        return added, removed

    def clear(self) -> list[str]:
        """At stop: rules, then routes, then addresses, of those we added."""
        done = []
        for item, _where in reversed(self._all()):
            if item in self.added:
                self._remove(item)
                done.append(_what(item))
        return done

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def canonical(address: str) -> str:
    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    return socket.inet_ntop(fam, socket.inet_pton(fam, address))


def _take(into: dict, r: VirtualRoute | VirtualRule, block: str) -> None:
    where = f"{r.file}:{r.line}"
    try:
        req, _ignored = request_of(r)  # read (and its options warned about) by the configuration builder
    except (ValueError, KeyError) as exc:
        log.error("%s: %s '%s': %s - ignoring", where, block, describe(r), exc)
        return
    into.setdefault(req, where)


def _what(item: Item) -> str:
    if isinstance(item, AddressRequest):
        return f"address {item.describe()}"
    fam = 4 if item.family == socket.AF_INET else 6
    if isinstance(item, RouteRequest):
        return f"route {item.dst or 'default'}{'/' + str(item.dst_len) if item.dst else ''} (IPv{fam}, table {item.table})"
    sel = " ".join(x for x in (f"from {item.src}/{item.src_len}" if item.src else "",
                               f"to {item.dst}/{item.dst_len}" if item.dst else "") if x) or "all"
    pref = f"pref {item.priority} " if item.priority is not None else ""
    return f"rule {pref}{sel} (IPv{fam})"
