"""VIP ownership through netlink: add on MASTER, remove only what we added.

The VIPs themselves go in and out with one rtnetlink request each on the loop's thread
(:mod:`lvsfast.vrrp.rtnl`), since the new master's announcement waits for them. Everything else
uses pyroute2, whose 0.9 opens its sockets through asyncio datagram endpoints, which uvloop
cannot create (AF_NETLINK): those calls run on one worker thread with pyroute2's own loop,
serialised, and the uvloop loop awaits them.

At start-up a backup removes VIPs the kernel still holds from an earlier run (a crash leaves
them behind; two routers answering for one VIP is the failure VRRP exists to prevent). While
master, :meth:`AddressManager.repair` puts back a VIP that something else removed.
"""
from __future__ import annotations

import asyncio
import errno
import importlib
import logging
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from concurrent.futures import ThreadPoolExecutor

from lvsfast.config.model import VirtualAddress, VirtualRoute, VirtualRule
from lvsfast.vrrp.rtnl import IFA_F_NODAD, AddressSocket

if TYPE_CHECKING:
    from pyroute2 import IPRoute

# pyroute2 (20 MB and a third of a second to import) is imported by the calls that need it
# (routes, rules, use_vmac); VIPs, the stale-VIP sweep and the repair use our own socket.

log = logging.getLogger("lvsfast.vrrp")

SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}

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
    added_routes: list[dict] = field(default_factory=list)
    added_rules: list[dict] = field(default_factory=list)
    blocked: set[tuple[int, str]] = field(default_factory=set)
    _ifindex: dict[str, int] = field(default_factory=dict)
    _fast: AddressSocket | None = None

    def __post_init__(self) -> None:
        if self.routes or self.rules:
            # They need pyroute2: loaded now, while the instance starts, the first mastership's
            # routes follow its VIPs at once rather than after the import.
            importlib.import_module("pyroute2")

    def _index(self, ipr: IPRoute, dev: str) -> int:
        if dev not in self._ifindex:
            found = ipr.link_lookup(ifname=dev)
            if not found:
                raise OSError(errno.ENODEV, f"interface {dev} does not exist")
            self._ifindex[dev] = found[0]
        return self._ifindex[dev]

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

    async def take(self) -> list[str]:
        """Add every VIP; returns the ones newly added. The VIPs go in on this thread, at once
        (the announcement waits for them); routes and rules follow. In strict mode without
        ``accept`` the drop rule comes first, so a VIP is never answered, not even briefly."""
        if self.block:
            await in_netlink_thread(self._block, True)
        done = []
        for v in self.vips:
            key = _key(v, self.interface)
            try:
                self._rtnl().change(True, key[0], v.address, v.prefix, scope=SCOPES.get(v.scope, 0) if v.scope else 0,
                                    label=v.label or None, broadcast=v.brd if v.family == 4 else None,
                                    flags=IFA_F_NODAD if v.family == 6 else 0)  # a VIP must answer at once, not after DAD
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    log.error("cannot add %s/%d to %s: %s", v.address, v.prefix, key[0], exc)
                continue
            self.added.add(key)
            done.append(f"{v.address}/{v.prefix}")
        if self.routes or self.rules:
            await in_netlink_thread(self._take_rest)
        return done

    def _take_rest(self) -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            for r in self.routes:
                self._route(ipr, "add", r)
            for r in self.rules:
                self._rule(ipr, r)

    async def release(self) -> list[str]:
        """Remove what we added (and nothing else): rules and routes first, then the VIPs, and
        strict mode's drop rule last (the VIPs are gone before their traffic is let through)."""
        if self.added_rules or self.added_routes:
            await in_netlink_thread(self._release_rest)
        done = []
        for dev, addr, prefix in sorted(self.added):
            try:
                self._rtnl().change(False, dev, addr, prefix)
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
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            for rule in reversed(self.added_rules):
                try:
                    ipr.rule("del", **rule)
                except NetlinkError:
                    pass
            self.added_rules.clear()
            for rt in reversed(self.added_routes):
                try:
                    ipr.route("del", **rt)
                except NetlinkError:
                    pass
            self.added_routes.clear()

    async def remove_stale(self) -> list[str]:
        """At start-up, not master: delete configured VIPs the kernel still holds."""
        done = []
        have = self._present()
        for v in self.vips:
            key = _key(v, self.interface)
            if key in have:
                try:
                    self._rtnl().change(False, key[0], v.address, v.prefix)
                    done.append(f"{v.address}/{v.prefix}")
                except OSError:
                    pass  # gone meanwhile
        return done

    async def repair(self) -> list[str]:
        """While master: re-add any VIP that has disappeared. One address dump on our own
        rtnetlink socket, on this thread: through pyroute2 on the netlink thread this check
        held the interpreter long enough, every 5 s, to make adverts at advert_int 0.01 late
        by 30 to 90 ms on a busy router."""
        have = self._present()
        missing = [v for v in self.vips if _key(v, self.interface) not in have]
        if not missing:
            return []
        for v in missing:
            self.added.discard(_key(v, self.interface))
        return await self.take()

    def _route(self, ipr: IPRoute, cmd: str, r: VirtualRoute) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        kw: dict = {"family": socket.AF_INET if r.family == 4 else socket.AF_INET6}
        if r.destination != "default":
            dst, _, plen = r.destination.partition("/")
            kw["dst"] = dst
            kw["dst_len"] = int(plen) if plen else (32 if r.family == 4 else 128)
        if r.via:
            kw["gateway"] = r.via[0]
        if r.dev:
            kw["oif"] = self._index(ipr, r.dev)
        if r.table and r.table.isdigit():
            kw["table"] = int(r.table)
        if r.metric is not None:
            kw["priority"] = r.metric
        try:
            ipr.route(cmd, **kw)
            self.added_routes.append(kw)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                log.error("cannot add route %s: %s", r.destination, exc)


    def _rule(self, ipr: IPRoute, r: VirtualRule) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        kw: dict = {"family": socket.AF_INET if r.family == 4 else socket.AF_INET6}
        for attr, addr in (("src", r.from_), ("dst", r.to)):
            if addr and addr != "all":
                a, _, plen = addr.partition("/")
                kw[attr] = a
                kw[f"{attr}_len"] = int(plen) if plen else (32 if r.family == 4 else 128)
        if r.table and r.table.isdigit():
            kw["table"] = int(r.table)
        if r.preference is not None:
            kw["priority"] = r.preference
        if r.iif:
            kw["iifname"] = r.iif
        if r.oif:
            kw["oifname"] = r.oif
        try:
            ipr.rule("add", **kw)
            self.added_rules.append(kw)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                log.error("cannot add rule %s: %s", " ".join(r.options) or kw, exc)

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
