"""From keepalived.conf's virtual servers to the data plane's vocabulary.

One place turns a :class:`~lvsfast.config.model.VirtualServer` (address and port, fwmark, or a
virtual_server_group) into the kernel services it stands for, and a real server into a
:class:`Dest`. The checker, both backends and the daemon all go through here.
"""
from __future__ import annotations

import functools
import ipaddress
from typing import Iterator, Mapping

from lvsfast.config import resolve
from lvsfast.config.model import (DEFAULT_DRAIN_TIMEOUT, Config, ForwardingMethod, RealServer, SorryServer,
                                  VirtualServer)
from lvsfast.dataplane.dest_table import DestMaker
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table, canonical_address
from lvsfast.frozen import plan_of

# keepalived's flag-N are IPVS's SCHED1..3; sh and mh give 1 and 2 a meaning.
_NAMED = {"sh-fallback": "flag-1", "mh-fallback": "flag-1", "sh-port": "flag-2", "mh-port": "flag-2"}

_NO_FLAGS: frozenset[str] = frozenset()


def service_flags(vs: VirtualServer) -> frozenset[str]:
    if not vs.sched_flags and not vs.ops:
        return _NO_FLAGS  # nearly every virtual server
    flags = {_NAMED.get(f, f) for f in vs.sched_flags}
    if vs.lb_algo in ("sh", "mh"):
        flags = {f.replace("flag-1", f"{vs.lb_algo}-fallback").replace("flag-2", f"{vs.lb_algo}-port") for f in flags}
    if vs.ops:
        flags.add("ops")
    return frozenset(flags)


def _granularity(vs: VirtualServer, family: int) -> int:
    g = vs.persistence_granularity
    if g is None:
        return 32 if family == 4 else 128
    if g.isdigit():
        return int(g)
    # A netmask such as 255.255.255.0: its prefix length.
    return ipaddress.ip_network(f"0.0.0.0/{g}").prefixlen if family == 4 else 128


def service_keys(vs: VirtualServer, config: Config) -> list[ServiceKey]:
    """Every kernel service this virtual_server stands for (several for a group)."""
    proto = vs.protocol.lower()
    if vs.fwmark is None and vs.group is None:
        # One address and port, as service_addresses gives it, without its generator.
        return [ServiceKey(vs.family, proto, canonical_address(vs.address) if vs.address else None, vs.port or 0, 0)]
    return [ServiceKey(a.family, proto, canonical_address(a.address) if a.address else None, a.port,
                       a.fwmark or 0) for a in resolve.service_addresses(vs, config)]


def service(vs: VirtualServer, key: ServiceKey) -> Service:
    return Service(
        key=key,
        scheduler=vs.lb_algo,
        flags=service_flags(vs),
        persistence_timeout=vs.persistence_timeout or 0,
        persistence_granularity=_granularity(vs, key.family),
        persistence_engine=vs.persistence_engine or "",
        configured=_configured(vs, key) if vs.lb_algo == "mh" else (),
        forward=vs.forwarding.kind.lower(),
    )


def _configured(vs: VirtualServer, key: ServiceKey) -> tuple[tuple[DestKey, int], ...]:
    """mh's universe: each configured real server's key and weight, sorted (the sorry server
    only stands in when the rest are out, so it is not part of it)."""
    return tuple(sorted({dest(vs, rs, key).key: rs.weight for rs in vs.real_servers}.items()))


def dest(vs: VirtualServer, rs: RealServer | SorryServer, key: ServiceKey, weight: int | None = None) -> Dest:
    # A real server without a port takes the service's (fwmark services have none: 0).
    port = rs.port if rs.port is not None else key.port
    return Dest(DestKey(canonical_address(rs.address), port), getattr(rs, "weight", 1) if weight is None else weight,
                *_forwarding(rs.forwarding or vs.forwarding), getattr(rs, "uthreshold", 0), getattr(rs, "lthreshold", 0))


@functools.lru_cache(maxsize=256)
def _forwarding(fwd: ForwardingMethod) -> tuple[str, str, int, bool, bool, bool]:
    """Dest's forwarding fields (forward .. tun_remcsum, in order): a config has a handful of
    distinct methods and each load makes a Dest for every real server."""
    return (fwd.kind.lower(), fwd.tun_type or "ipip", fwd.tun_port or 0, fwd.tun_csum == "nocsum",
            fwd.tun_csum == "csum", fwd.tun_csum == "remcsum")


_MAKER = DestMaker(plan_of(DestKey), plan_of(Dest))


def full_table(config: Config, keys_of: dict[int, list[ServiceKey]] | None = None,
               drains: dict[tuple[ServiceKey, DestKey], float] | None = None) -> Table:
    """Every configured real server at its configured weight: the table with all checks passing.
    ``keys_of`` maps id(virtual server) to its service keys, when the caller has them already.
    ``drains``, when given, gets every configured (service, real server) with its drain_timeout,
    the sorry server included (a reload must not take it for a removed server: keepalived #490);
    made in the same pass, it shares the table's keys."""
    services: dict[ServiceKey, Service] = {}
    dests: dict[ServiceKey, dict[DestKey, Dest]] = {}
    for vs in config.virtual_servers:
        # What dest() works out for each real server, once per virtual server rather than per
        # service key: its forwarding (hashing a ForwardingMethod is a Python call) and address.
        reals = _MAKER.rows(vs.real_servers, _forwarding(vs.forwarding), canonical_address, _forwarding)
        for key in (keys_of[id(vs)] if keys_of is not None else service_keys(vs, config)):
            services[key] = service(vs, key)
            # As dest() for each, with the drains in the same pass (compiled: 100,000 real servers).
            _MAKER.add_all(dests.setdefault(key, {}), reals, key, drains)
            if drains is not None and vs.sorry_server is not None:
                drains[(key, dest(vs, vs.sorry_server, key).key)] = vs.drain_timeout
    return Table(services, dests)


class ConfiguredPairs:
    """Every configured (service, real server) pair, answered from the full table's own mappings
    and the sorry servers' pairs: 100,000 real servers need no set of pairs beside the table."""

    __slots__ = ("_dests", "_extra")

    def __init__(self, dests: Mapping[ServiceKey, Mapping[DestKey, Dest]], extra: frozenset) -> None:
        self._dests = dests
        self._extra = extra

    def __contains__(self, pair: object) -> bool:
        if not isinstance(pair, tuple) or len(pair) != 2:
            return False
        inner = self._dests.get(pair[0])
        return (inner is not None and pair[1] in inner) or pair in self._extra

    def __iter__(self) -> Iterator[tuple[ServiceKey, DestKey]]:
        for skey, inner in self._dests.items():
            for dkey in inner:
                yield skey, dkey
        for pair in self._extra:
            if not (pair[0] in self._dests and pair[1] in self._dests[pair[0]]):
                yield pair

    def __len__(self) -> int:
        return sum(1 for _ in self)


def configured(config: Config, full: Table, keys_of: dict[int, list[ServiceKey]] | None = None,
               ) -> tuple[ConfiguredPairs, dict[tuple[ServiceKey, DestKey], float]]:
    """What :func:`full_table`'s ``drains`` says, in less: every configured (service, real server)
    pair (``full`` is that table), and the drain_timeout of each pair whose timeout is not the
    default (a pair missing from it has DEFAULT_DRAIN_TIMEOUT)."""
    extra: set[tuple[ServiceKey, DestKey]] = set()
    drains: dict[tuple[ServiceKey, DestKey], float] = {}
    for vs in config.virtual_servers:
        odd = any(rs.drain_timeout != DEFAULT_DRAIN_TIMEOUT for rs in vs.real_servers)
        for key in (keys_of[id(vs)] if keys_of is not None else service_keys(vs, config)):
            # Pairs are met in full_table's order and a later one takes an earlier one's place,
            # so a default timeout clears what an earlier virtual server on this key set.
            if odd or drains:
                for rs in vs.real_servers:
                    pair = (key, dest(vs, rs, key).key)
                    if rs.drain_timeout != DEFAULT_DRAIN_TIMEOUT:
                        drains[pair] = rs.drain_timeout
                    else:
                        drains.pop(pair, None)
            if vs.sorry_server is not None:
                pair = (key, dest(vs, vs.sorry_server, key).key)
                extra.add(pair)
                if vs.drain_timeout != DEFAULT_DRAIN_TIMEOUT:
                    drains[pair] = vs.drain_timeout
                else:
                    drains.pop(pair, None)
    return ConfiguredPairs(full.dests, frozenset(extra)), drains
