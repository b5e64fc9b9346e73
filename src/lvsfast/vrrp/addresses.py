"""VIP ownership through netlink: add on MASTER, remove only what we added.

The VIPs, virtual_routes and virtual_rules go in and out with one rtnetlink request each on the
loop's thread (:mod:`lvsfast.vrrp.rtnl`), since the new master's announcement waits for them; the
route and rule lines are read into kernel requests by :mod:`lvsfast.vrrp.route_spec`. Everything else
uses pyroute2, whose 0.9 opens its sockets through asyncio datagram endpoints, which uvloop
cannot create (AF_NETLINK): those calls run on one worker thread with pyroute2's own loop,
serialised, and the uvloop loop awaits them.

At start-up a backup removes VIPs the kernel still holds from an earlier run (a crash leaves
them behind; two routers answering for one VIP is the failure VRRP exists to prevent). While
master, :meth:`AddressManager.missing` finds a VIP that something else removed (the instance then
leaves MASTER and takes it back, as keepalived).
"""
from __future__ import annotations

import asyncio
import errno
import logging
import socket
import subprocess
import sys
from dataclasses import dataclass, field

from concurrent.futures import ThreadPoolExecutor

from lvsfast.config.model import VirtualAddress, VirtualRoute, VirtualRule
from lvsfast.vrrp.route_spec import RouteRequest, RuleRequest, describe, request_of
from lvsfast.vrrp.rtnl import IFA_F_NODAD, AddressSocket
from lvsfast.vrrp.static import address_request

# pyroute2 (20 MB and a third of a second to import) is imported only by the calls that need it
# (use_vmac); VIPs, routes, rules, the stale sweep and the repair use our own socket.

log = logging.getLogger("lvsfast.vrrp")


_NETLINK = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netlink")


async def in_netlink_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(_NETLINK, fn, *args)


def netlink_errors() -> tuple[type[Exception], ...]:
    """pyroute2's NetlinkError once pyroute2 is loaded (only then can one have been raised),
    for ``except (OSError, *netlink_errors())``."""
    mod = sys.modules.get("pyroute2.netlink.exceptions")
    return (mod.NetlinkError,) if mod is not None else ()


def _key(v: VirtualAddress, default_dev: str) -> tuple[str, str, int]:
    return (v.dev or default_dev, v.address, v.prefix)


@dataclass
class AddressManager:
    """The addresses one instance owns. Methods are coroutines on the runner's loop."""

    interface: str
    vips: tuple[VirtualAddress, ...]
    routes: tuple[VirtualRoute, ...] = ()
    rules: tuple[VirtualRule, ...] = ()
    block: bool = False  # strict mode without accept: drop traffic to the VIPs we hold
    added: set[tuple[str, str, int]] = field(default_factory=set)
    added_routes: list[RouteRequest] = field(default_factory=list)
    added_rules: list[RuleRequest] = field(default_factory=list)
    blocked: set[tuple[int, str]] = field(default_factory=set)
    _ifindex: dict[str, int] = field(default_factory=dict)
    _fast: AddressSocket | None = None
    _requests: tuple[list[RouteRequest], list[RuleRequest]] | None = None
    _no_track: set[RouteRequest | RuleRequest] = field(default_factory=set)

    def _present(self) -> set[tuple[str, str, int]]:
        """(device, address, prefix) of what the kernel holds on our VIPs' devices."""
        names = {}
        for dev in {v.dev or self.interface for v in self.vips}:
            try:
                names[socket.if_nametoindex(dev)] = dev
            except OSError:
                pass
        return {(names[i], a, p) for i, a, p in self._rtnl().dump() if i in names}

    def _rtnl(self) -> AddressSocket:
        if self._fast is None:
            self._fast = AddressSocket()
        return self._fast

    async def take(self, only: list | None = None) -> list[str]:
        """Add every VIP (or ``only`` those); returns the ones newly added. The VIPs go in on
        this thread, at once (the announcement waits for them); routes and rules follow. In
        strict mode without ``accept`` the drop rule comes first, so a VIP is never answered,
        not even briefly."""
        if self.block:
            await in_netlink_thread(self._block, True)
        done = []
        for v in self.vips if only is None else only:
            key = _key(v, self.interface)
            r = address_request(v, self.interface)  # an IPv6 VIP answers at once: no DAD unless -nodad
            try:
                self._rtnl().change(True, r.dev, r.address, r.prefix, scope=r.scope, label=r.label,
                                    broadcast=r.broadcast, peer=r.peer, flags=r.flags, preferred_lft=r.preferred_lft)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    log.error("cannot add %s/%d to %s: %s", v.address, v.prefix, key[0], exc)
                continue
            self.added.add(key)
            done.append(f"{v.address}/{v.prefix}")
        if self.routes or self.rules:
            self._take_rest()
        return done

    def requests(self) -> tuple[list[RouteRequest], list[RuleRequest]]:
        """The kernel requests of the instance's route and rule lines, read once; a line that
        cannot be programmed is logged (``FILE:LINE: ...``) and left out."""
        if self._requests is None:
            routes: list[RouteRequest] = []
            rules: list[RuleRequest] = []
            for items, into, block in ((self.routes, routes, "virtual_routes"), (self.rules, rules, "virtual_rules")):
                for r in items:
                    try:
                        req, _ignored = request_of(r)  # read by the configuration builder
                    except (ValueError, KeyError) as exc:
                        log.error("%s:%d: %s '%s': %s - ignoring", r.file, r.line, block, describe(r), exc)
                        continue
                    if r.no_track:
                        self._no_track.add(req)
                    into.append(req)
            self._requests = (routes, rules)
        return self._requests

    def repair_rest(self) -> list[str]:
        """Put back a route or rule of ours that something deleted while we are master (re-adding
        is the check: EEXIST for what is still there). A ``no_track`` line is left out: keepalived
        reinstates those only at the next transition to master."""
        back = []
        s = self._rtnl()
        for items, send in ((self.added_routes, s.route), (self.added_rules, s.rule)):
            for req in items:
                if req in self._no_track:
                    continue
                try:
                    send(True, req)
                    back.append(_what(req))
                except OSError:
                    pass
        return back

    def _take_rest(self) -> None:
        routes, rules = self.requests()
        s = self._rtnl()
        for items, added, send in ((routes, self.added_routes, s.route), (rules, self.added_rules, s.rule)):
            for req in items:
                try:
                    send(True, req)
                except OSError as exc:
                    if exc.errno != errno.EEXIST:
                        log.error("cannot add %s: %s", _what(req), exc.strerror or exc)
                    continue
                if req not in added:
                    added.append(req)

    async def release(self) -> list[str]:
        """Remove what we added (and nothing else): rules and routes first, then the VIPs, and
        strict mode's drop rule last (the VIPs are gone before their traffic is let through)."""
        if self.added_rules or self.added_routes:
            self._release_rest()
        done = []
        peers = {_key(v, self.interface): v.peer for v in self.vips if v.peer}
        for dev, addr, prefix in sorted(self.added):
            try:
                self._rtnl().change(False, dev, addr, prefix, peer=peers.get((dev, addr, prefix)))
                done.append(f"{addr}/{prefix}")
            except OSError:
                pass  # already gone
        self.added.clear()
        if self.blocked:
            await in_netlink_thread(self._block, False)
        return done

    def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
            self._fast = None

    def _release_rest(self) -> None:
        s = self._rtnl()
        for items, send in ((self.added_rules, s.rule), (self.added_routes, s.route)):
            for req in reversed(items):
                try:
                    send(False, req)
                except OSError:
                    pass  # already gone
            items.clear()

    async def remove_stale(self) -> list[str]:
        """At start-up, not master: delete configured VIPs, and the instance's routes and rules,
        that the kernel still holds (as keepalived does). A route or rule is deleted only if it
        matches the line exactly, its protocol (keepalived's 18) included, so an administrator's
        route to the same prefix stays."""
        done = self._remove_stale() if self.vips else []
        if self.routes or self.rules:
            routes, rules = self.requests()
            s = self._rtnl()
            for items, send in ((rules, s.rule), (routes, s.route)):
                for req in items:
                    try:
                        send(False, req)
                        done.append(_what(req))
                    except OSError:
                        pass  # not there: the usual case
        return done

    def _remove_stale(self) -> list[str]:
        done = []
        have = self._present()
        for v in self.vips:
            key = _key(v, self.interface)
            if key in have:
                try:
                    self._rtnl().change(False, key[0], v.address, v.prefix, peer=v.peer)
                    done.append(f"{v.address}/{v.prefix}")
                except OSError:
                    pass  # gone meanwhile
        return done

    def missing(self) -> list[VirtualAddress]:
        """The tracked VIPs we added that the kernel no longer holds (one address dump). A
        ``no_track`` VIP is never missing: keepalived does not watch it."""
        have = self._present()
        return [v for v in self.vips if not v.no_track and _key(v, self.interface) in self.added
                and _key(v, self.interface) not in have]

    def _block(self, on: bool) -> None:
        """Strict mode without ``accept``: a non-owner master drops what is sent to its VIPs
        (RFC 5798 Accept_Mode False), through an nftables table of lvsfast's own."""
        want = {(v.family, v.address) for v in self.vips}
        todo = want - self.blocked if on else set(self.blocked)
        if not todo:
            return
        cmds = ["add table inet lvsfast_vrrp",
                "add set inet lvsfast_vrrp vips4 { type ipv4_addr; }",
                "add set inet lvsfast_vrrp vips6 { type ipv6_addr; }",
                "add chain inet lvsfast_vrrp input { type filter hook input priority -1; policy accept; }"]
        try:
            have = subprocess.run(["nft", "list", "chain", "inet", "lvsfast_vrrp", "input"], capture_output=True,
                                  text=True, timeout=10).stdout
            if "@vips4" not in have:
                cmds += ["add rule inet lvsfast_vrrp input ip daddr @vips4 drop",
                         "add rule inet lvsfast_vrrp input ip6 daddr @vips6 drop"]
            verb = "add" if on else "delete"
            for fam, addr in sorted(todo):
                cmds.append(f"{verb} element inet lvsfast_vrrp vips{fam} {{ {addr} }}")
            res = subprocess.run(["nft", "-f", "-"], input="\n".join(cmds) + "\n", capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.error("cannot %s VIP traffic (strict mode): %s", "block" if on else "unblock", exc)
            return
        if res.returncode != 0:
            log.error("cannot %s VIP traffic (strict mode): %s", "block" if on else "unblock", res.stderr.strip())
            return
        self.blocked = self.blocked | todo if on else set()


def _what(req: RouteRequest | RuleRequest) -> str:
    fam = 4 if req.family == socket.AF_INET else 6
    if isinstance(req, RouteRequest):
        return f"route {req.dst or 'default'}{'/' + str(req.dst_len) if req.dst else ''} (IPv{fam}, table {req.table})"
    return f"rule {'pref ' + str(req.priority) if req.priority is not None else '(no preference)'} (IPv{fam})"


def ensure_vmac(name: str, base: str, mac: str) -> bool:
    """use_vmac: a macvlan (bridge mode) on ``base`` with the virtual router MAC; True if we made it.

    The base interface stops answering ARP for addresses it does not hold (arp_ignore 1), so
    only the macvlan answers for the VIPs, with the virtual MAC that moves with mastership.
    These sysctls are left set on the base interface (as keepalived does)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        if ipr.link_lookup(ifname=name):
            return False
        found = ipr.link_lookup(ifname=base)
        if not found:
            raise OSError(errno.ENODEV, f"interface {base} does not exist")
        ipr.link("add", ifname=name, kind="macvlan", link=found[0], macvlan_mode="bridge", address=mac)
        idx = ipr.link_lookup(ifname=name)[0]
        ipr.link("set", index=idx, state="up")
    # arp_announce 2 on the base: its own ARP requests name its own address, never a VIP, or
    # they would point the neighbours' entries for the VIP back at the base MAC.
    for dev, knob in ((base, "arp_ignore"), (base, "arp_announce"), (name, "arp_ignore")):
        try:
            with open(f"/proc/sys/net/ipv4/conf/{dev}/{knob}", "w") as f:
                f.write("2" if knob == "arp_announce" else "1")
        except OSError as exc:
            log.warning("cannot set %s on %s: %s", knob, dev, exc)
    return True


def ensure_ipvlan(name: str, base: str, mode: str, address: str | None, prefix: int, family: int) -> bool:
    """use_ipvlan: an L2 ipvlan on ``base`` holding the instance's own ``address``; True if we
    made it (an existing interface of that name is used as it is, as keepalived does). For an
    IPv4 instance IPv6 is turned off on it, as keepalived does (the ipvlan shares the base's
    MAC, so its generated link-local address would be the base's)."""
    from lvsfast.vrrp.rtnl import index_of, ipvlan_message
    s = AddressSocket()
    try:
        made = False
        try:
            socket.if_nametoindex(name)
        except OSError:
            link = index_of(base)
            s.request(lambda seq: ipvlan_message(seq, name, link, mode))
            made = True
        if family == 4:
            _sysctl(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "1")
        if address is not None:
            try:
                s.change(True, name, address, prefix, flags=IFA_F_NODAD if family == 6 else 0)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
        return made
    finally:
        s.close()


def _sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        log.warning("cannot set %s: %s", path, exc)


def remove_link(name: str) -> None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("del", index=found[0])


async def _selftest() -> None:  # pragma: no cover - manual aid
    m = AddressManager("lo", (VirtualAddress("192.0.2.1", 32, 4),))
    print(await m.take(), await m.release())


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_selftest())
