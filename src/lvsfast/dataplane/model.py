"""Desired state of the kernel's load-balancing table: services and their real servers.

Both backends (``lvsfast.ipvs`` and ``lvsfast.nft``) take a :class:`Table` and make the kernel
match it; the checker and the daemon only ever build tables. Values use IPVS's vocabulary
(scheduler names, forwarding methods) because keepalived.conf does.
"""
from __future__ import annotations

import functools
import ipaddress
import weakref
from dataclasses import dataclass, field
from typing import Mapping

from lvsfast.frozen import quick
from lvsfast.ipv4text import canonical_ipv4

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PROTOCOLS = ("tcp", "udp", "sctp")
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")
FORWARDS = ("nat", "dr", "tun")
TUN_TYPES = ("ipip", "gue", "gre")
# Scheduler flags: IPVS's SCHED1..3 as keepalived's flag-N, named where sh and mh give them a
# meaning (flag-1 = sh-fallback/mh-fallback, flag-2 = sh-port/mh-port), and one-packet scheduling.
SERVICE_FLAGS = ("flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback", "ops")


@functools.lru_cache(maxsize=1 << 17)
def canonical_address(address: str) -> str:
    """The canonical text form keys use. Cached: a reload of 10,000 real servers spells each
    address several times, and parsing them all again was half the reload's time."""
    if canonical_ipv4(address):
        return address
    return str(ipaddress.ip_address(address))


@quick
@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    """What identifies a virtual service in the kernel: (family, protocol, address, port) or a fwmark."""

    family: int  # 4 or 6
    protocol: str  # "tcp" | "udp" | "sctp"; for fwmark services the protocol of the group
    address: str | None  # canonical text form; None for fwmark services
    port: int = 0
    fwmark: int = 0

    def __str__(self) -> str:
        if self.fwmark:
            return f"FWM {self.fwmark}" + (" IPv6" if self.family == 6 else "")
        host = f"[{self.address}]" if self.family == 6 else self.address
        return f"{self.protocol.upper()} {host}:{self.port}"


@quick
@dataclass(frozen=True, slots=True, order=True)
class DestKey:
    address: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@quick
@dataclass(frozen=True, slots=True)
class Dest:
    """One real server of a service, as the kernel should hold it."""

    key: DestKey
    weight: int = 1
    forward: str = "nat"
    tun_type: str = "ipip"
    tun_port: int = 0
    tun_nocsum: bool = False
    tun_csum: bool = False
    tun_remcsum: bool = False
    u_threshold: int = 0
    l_threshold: int = 0


@quick
@dataclass(frozen=True, slots=True)
class Service:
    """One virtual service and its scheduling parameters (real servers live in :class:`Table`)."""

    key: ServiceKey
    scheduler: str = "wlc"
    flags: frozenset[str] = frozenset()
    persistence_timeout: int = 0  # seconds; 0 means not persistent
    persistence_granularity: int = 32  # prefix length (IPv4 netmask as a prefix), 128 for v6
    persistence_engine: str = ""
    # mh only: every configured real server with its configured weight, by key. The nftables
    # backend builds mh's lookup table over these, so a server its checks take out or bring
    # back moves only its own flows. Not compared: IPVS cannot hold it, so a service read back
    # from the kernel has none; the nftables backend compares it itself.
    configured: tuple[tuple[DestKey, int], ...] = field(default=(), compare=False)
    # The virtual server's lb_kind. The nftables backend programs a DR service apart (every
    # packet, stateless); IPVS keeps forwarding per real server, so it is not compared here.
    forward: str = field(default="nat", compare=False)


class Delta:
    """How a table was made from another: equal to ``base`` but for the services in ``keys``.

    A hint, never the truth: a backend that last applied exactly ``base`` (the same object)
    diffs only ``keys``; any other backend compares the tables. The base is held weakly, so a
    chain of deltas keeps no old tables alive. Pickled, the hint is dropped.
    """

    __slots__ = ("_base", "keys")

    def __init__(self, base: "Table", keys: frozenset) -> None:
        self._base = weakref.ref(base)
        self.keys = keys

    def base(self) -> "Table | None":
        return self._base()

    def __reduce__(self):
        return (_no_delta, ())


def _no_delta() -> None:
    return None


@quick
@dataclass(frozen=True, slots=True, weakref_slot=True)
class Table:
    """The whole desired table: service -> its real servers by key."""

    services: Mapping[ServiceKey, Service] = field(default_factory=dict)
    dests: Mapping[ServiceKey, Mapping[DestKey, Dest]] = field(default_factory=dict)
    delta: Delta | None = field(default=None, compare=False, repr=False)

    def changed_since(self, base: "Table | None") -> frozenset | None:
        """The services that may differ from ``base``, when this table says so; else None."""
        d = self.delta
        if d is None or base is None or d.base() is not base:
            return None
        return d.keys

    def with_dest(self, skey: ServiceKey, dest: Dest) -> "Table":
        dests = dict(self.dests)
        dests[skey] = {**dests.get(skey, {}), dest.key: dest}
        return Table(self.services, dests)

    def without_dest(self, skey: ServiceKey, dkey: DestKey) -> "Table":
        dests = dict(self.dests)
        inner = dict(dests.get(skey, {}))
        inner.pop(dkey, None)
        dests[skey] = inner
        return Table(self.services, dests)
