"""From a keepalived.conf ``vrrp_instance`` to what the engine runs: protocol parameters,
transport, addresses, announcements, tracking and notification, all resolved once.

Frozen and comparable, so a reload can tell an unchanged instance (left alone, no transition)
from a changed one.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import socket

from lvsfast.config import model as m
from lvsfast.config import resolve
from lvsfast.config.track_rules import instance_tracks, own_interface, sync_group_tracks
from lvsfast.frozen import record
from lvsfast.vrrp.garp import GarpPolicy
from lvsfast.vrrp.machine import Params, State
from lvsfast.vrrp.rtnl import AddressSocket
from lvsfast.vrrp.track_spec import ProcessSpec, TrackSpec
from lvsfast.vrrp.wire_types import AUTH_AH, AUTH_NONE, AUTH_PASS, InstanceWire, vrrp_mac


class SpecError(ValueError):
    pass


@record
class ScriptSpec:
    """A vrrp_script as a tracker runs it."""

    name: str
    command: str
    user: str | None
    group: str | None
    interval: float
    timeout: float
    rise: int
    fall: int
    init_fail: bool


@record
class InstanceSpec:
    params: Params
    interface: str
    family: int
    src: str  # our source address on the interface (unicast_src_ip, or the interface's primary)
    peers: tuple[str, ...]  # unicast peers; empty = multicast
    dst: str  # the multicast group, or "" for unicast
    vips: tuple[m.VirtualAddress, ...]
    excluded: tuple[m.VirtualAddress, ...]
    auth_type: int
    auth_pass: bytes
    checksum_as_v2: bool
    garp: GarpPolicy
    tracks: tuple[TrackSpec, ...]
    notify: tuple[tuple[str, m.Script], ...]  # (kind, script): master/backup/fault/stop/deleted/notify/rx_lower_pri
    sync_group: str | None
    routes: tuple[m.VirtualRoute, ...] = ()
    rules: tuple[m.VirtualRule, ...] = ()
    strict: bool = False
    accept: bool = True  # False: traffic to the VIPs is dropped while we are a non-owner master
    vmac: str = ""  # use_vmac: the macvlan holding the VIPs ("" = the interface itself)
    vmac_mac: str = ""
    unicast_ttl: int = 255  # TTL / hop limit of unicast adverts (multicast ones are always 255)
    # check_unicast_src: only adverts from a unicast peer count; each peer with its TTL range
    # (min_ttl/max_ttl turn the check on, as in keepalived).
    check_unicast_src: bool = False
    peer_ttl: tuple[tuple[str, int, int], ...] = ()
    track_primary: bool = True  # dont_track_primary: the interface going down is no FAULT
    promote_secondaries: bool = False
    # notify_deleted: a reload that deletes the instance says DELETED (and runs its script, if
    # any) where keepalived otherwise says FAULT.
    notify_deleted: bool = False
    # use_vmac_addr: (name, base interface, MAC) of the further macvlans holding the VIPs whose
    # dev is not the instance's interface (or whose family is not the instance's).
    extra_vmacs: tuple[tuple[str, str, str], ...] = ()
    # use_ipvlan (its name resolved): the instance's adverts and source address are on it (the
    # VIPs stay on the interface, as keepalived's).
    ipvlan: m.Ipvlan | None = None

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def link(self) -> str:
        """The interface the adverts go out and come in on: the ipvlan, else the interface."""
        return self.ipvlan.name if self.ipvlan is not None and self.ipvlan.name else self.interface

    def wire(self) -> InstanceWire:
        """What the receive path validates this instance's adverts against."""
        same = tuple(v.address for v in self.vips if v.family == self.family)
        return InstanceWire(self.name, self.params.vrid, self.params.version, self.family,
                            self.params.adver_int_cs, same, self.auth_type, self.auth_pass, unicast=bool(self.peers))


def interface_address(ifname: str, family: int) -> str:
    """The interface's primary address (IPv6: its link-local), read from the kernel: the first of
    its addresses in the kernel's order, on an rtnetlink socket of our own (pyroute2, 20 MB and
    a third of a second to import, is not needed to start a VRRP instance)."""
    try:
        index = socket.if_nametoindex(ifname)
    except OSError:
        raise SpecError(f"interface {ifname} does not exist") from None
    rt = AddressSocket()
    try:
        found = rt.addresses(socket.AF_INET if family == 4 else socket.AF_INET6)
    finally:
        rt.close()
    for i, addr, _ in found:
        if i == index and (family == 4 or ipaddress.ip_address(addr).is_link_local):
            return addr
    raise SpecError(f"interface {ifname} has no {'IPv4' if family == 4 else 'IPv6 link-local'} address")


def build(vi: m.VrrpInstance, cfg: m.Config, *, address_of=interface_address) -> InstanceSpec:
    g = cfg.global_defs
    if vi.interface is None or vi.virtual_router_id is None:
        raise SpecError(f"{vi.name}: needs an interface and a virtual_router_id")
    family = vi.family
    version = resolve.vrrp_version(vi, g)
    strict = resolve.strict_mode(vi, g)
    if strict:
        # keepalived's vrrp_strict: what RFC 5798 does not allow is refused, not tolerated.
        if vi.unicast_peer:
            raise SpecError(f"{vi.name}: unicast_peer is not allowed in strict mode (vrrp_strict)")
        if not vi.virtual_ipaddress:
            raise SpecError(f"{vi.name}: strict mode (vrrp_strict) needs at least one virtual_ipaddress")
        if version == 2 and family == 6:
            raise SpecError(f"{vi.name}: VRRPv2 cannot carry IPv6 in strict mode (vrrp_strict)")
    ipvlan = vi.use_ipvlan
    if ipvlan is not None:
        ipvlan = dataclasses.replace(ipvlan, name=ipvlan.name or f"vrrp.{vi.virtual_router_id}")
        if ipvlan.address is None and family == 4:
            raise SpecError(f"{vi.name}: IPv4 ipvlan requires a source ip address")
    src = (vi.unicast_src_ip or vi.mcast_src_ip or (ipvlan.address if ipvlan is not None else None)
           or address_of(vi.interface, family))
    auth_type, auth_pass = AUTH_NONE, b""
    if vi.authentication is not None and version == 2 and not strict:
        auth_type = AUTH_PASS if vi.authentication.auth_type == "PASS" else AUTH_AH
        auth_pass = vi.authentication.auth_pass[:8].encode()
    gs = resolve.garp(vi, g)
    garp = GarpPolicy(gs.master_delay, gs.master_repeat, gs.lower_prio_delay, gs.lower_prio_repeat,
                      gs.master_refresh, gs.master_refresh_repeat, gs.interval if family == 4 else gs.na_interval)
    params = Params(
        name=vi.name,
        vrid=vi.virtual_router_id,
        priority=vi.priority,
        version=version,
        # VRRPv2 carries whole seconds: keepalived rounds (at least 1 s) and warns (config/checks.py).
        adver_int_cs=max(100, int(vi.advert_int + 0.5) * 100) if version == 2 else max(1, round(vi.advert_int * 100)),
        primary=socket.inet_pton(socket.AF_INET if family == 4 else socket.AF_INET6, src),
        initial_state=State.MASTER if resolve.initial_state(vi) == "MASTER" else State.BACKUP,
        preempt=resolve.preempt(vi),
        preempt_delay=resolve.preempt_delay(vi),
        down_timer_adverts=resolve.down_timer_adverts(vi, g),
        lower_prio_no_advert=g.vrrp_lower_prio_no_advert if vi.lower_prio_no_advert is None
        else vi.lower_prio_no_advert,
        higher_prio_send_advert=(g.vrrp_higher_prio_send_advert if vi.higher_prio_send_advert is None
                                 else vi.higher_prio_send_advert) and not strict,
    )
    # keepalived's rules (sync groups, the address owner, the own interface): config/track_rules.py.
    tracks = [TrackSpec(kind, t.name, weight, resolve.tracked_reverse(t, cfg, kind))
              for kind, t, weight, _ in instance_tracks(vi, cfg)[0]]
    sg = resolve.sync_group_of(vi, cfg)
    if sg is not None:
        # A sync group's own track_* lines apply to every member with their weights, whatever
        # sync_group_tracking_weight says (it rules only the members' own lines): keepalived 2.2.7
        # raises both members of a group tracking a file at weight 2 holding 10 to 120.
        own = {(t.kind, t.name): i for i, t in enumerate(tracks)}
        primary = own_interface(vi, cfg)
        for kind, t, weight in sync_group_tracks(sg, cfg)[0]:
            ts = TrackSpec(kind, t.name, weight, resolve.tracked_reverse(t, cfg, kind))
            i = own.get((kind, t.name))
            if kind == "interface" and t.name == primary:
                continue  # the instance's own interface, tracked unweighted already: it stays so
            if i is None:
                tracks.append(ts)
            elif tracks[i].weight:
                # Tracked by the instance too: keepalived keeps one tracker, with the group's
                # weight unless the instance's line was unweighted ("Remove vrrp instance config").
                tracks[i] = ts
    for dev in static_track_interfaces(cfg, vi.name):
        tracks.append(TrackSpec("interface", dev, 0))
    deleted = vi.notify_deleted if vi.notify_deleted is not None and vi.notify_deleted.command else None
    notify = tuple((k, s) for k, s in (("master", vi.notify_master), ("backup", vi.notify_backup),
                                       ("fault", vi.notify_fault), ("stop", vi.notify_stop),
                                       ("deleted", deleted), ("notify", vi.notify),
                                       ("rx_lower_pri", vi.notify_master_rx_lower_pri))
                   if s is not None)
    peers = tuple(p.address for p in vi.unicast_peer)
    vips, excluded, extra_vmacs = vi.virtual_ipaddress, vi.virtual_ipaddress_excluded, ()
    if vi.use_vmac and vi.use_vmac_addr:
        vips, excluded, extra_vmacs = _vmac_addresses(vi, family)
    return InstanceSpec(
        params=params, interface=vi.interface, family=family, src=src, peers=peers,
        dst="" if peers else (vi.mcast_dst_ip or (g.vrrp_mcast_group4 if family == 4 else g.vrrp_mcast_group6)),
        vips=vips, excluded=excluded, extra_vmacs=extra_vmacs,
        auth_type=auth_type, auth_pass=auth_pass,
        checksum_as_v2=g.v3_checksum_as_v2 if vi.v3_checksum_as_v2 is None else vi.v3_checksum_as_v2,
        garp=garp, tracks=tuple(tracks), notify=notify, sync_group=sg.name if sg else None,
        routes=vi.virtual_routes, rules=vi.virtual_rules, strict=strict,
        accept=resolve.accept_mode(vi, g) or vi.priority == 255,
        vmac=(vi.use_vmac.name or f"vrrp.{vi.virtual_router_id}") if vi.use_vmac else "",
        vmac_mac=(vi.use_vmac.mac or ":".join(f"{b:02x}" for b in vrrp_mac(vi.virtual_router_id, family)))
        if vi.use_vmac else "",
        unicast_ttl=255 if vi.unicast_ttl is None else vi.unicast_ttl,
        check_unicast_src=bool(peers) and (
            (g.vrrp_check_unicast_src if vi.check_unicast_src is None else vi.check_unicast_src)
            or any(p.min_ttl is not None or p.max_ttl is not None for p in vi.unicast_peer)),
        peer_ttl=tuple((_canonical(p.address), 0 if p.min_ttl is None else p.min_ttl,
                        255 if p.max_ttl is None else p.max_ttl) for p in vi.unicast_peer),
        track_primary=not vi.dont_track_primary,
        promote_secondaries=vi.promote_secondaries,
        notify_deleted=vi.notify_deleted is not None, ipvlan=ipvlan)


def static_track_interfaces(cfg: m.Config, name: str) -> list[str]:
    """The interfaces instance ``name`` tracks through track_group: those of the static
    addresses, routes and rules naming a group it is in (keepalived 2.2.7: a FAULT while one is
    down; a no_track line is not tracked)."""
    groups = {g.name for g in cfg.track_groups if name in g.group}
    if not groups:
        return []
    devs: list[str] = []
    for items, dev_of in ((cfg.static_ipaddress, lambda x: x.dev), (cfg.static_routes, lambda x: x.dev),
                          (cfg.static_rules, lambda x: x.iif)):
        for x in items:
            dev = dev_of(x)
            if x.track_group in groups and dev and not x.no_track and dev not in devs:
                devs.append(dev)
    return devs


def _vmac_addresses(vi: m.VrrpInstance, family: int) -> tuple[tuple, tuple, tuple[tuple[str, str, str], ...]]:
    """use_vmac_addr: each (device, family) other than the instance's own gets a macvlan of its
    own, named ``vrrp<N>.<VRID>`` as keepalived names them (vrrp1.51, vrrp2.51...), with the
    virtual router MAC of the addresses' family; those addresses move onto it."""
    made: dict[tuple[str, int], str] = {}
    extra = []

    def move(v: m.VirtualAddress) -> m.VirtualAddress:
        dev = v.dev or vi.interface
        if dev == vi.interface and v.family == family:
            return v
        name = made.get((dev, v.family))
        if name is None:
            name = made[(dev, v.family)] = f"vrrp{len(made) + 1}.{vi.virtual_router_id}"
            extra.append((name, dev, ":".join(f"{b:02x}" for b in vrrp_mac(vi.virtual_router_id, v.family))))
        return dataclasses.replace(v, dev=name)
    vips = tuple(move(v) for v in vi.virtual_ipaddress)
    excluded = tuple(move(v) for v in vi.virtual_ipaddress_excluded)
    return vips, excluded, tuple(extra)


def _canonical(address: str) -> str:
    return ipaddress.ip_address(address).compressed


def scripts(cfg: m.Config) -> dict[str, ScriptSpec]:
    out = {}
    for s in cfg.vrrp_scripts:
        if s.script is None:
            continue
        out[s.name] = ScriptSpec(s.name, s.script.command, s.script.user, s.script.group, s.interval,
                                 s.timeout if s.timeout is not None else s.interval, s.rise, s.fall, s.init_fail)
    return out


def processes(cfg: m.Config) -> dict[str, ProcessSpec]:
    """The vrrp_track_process blocks, as :class:`ProcessSpec` by name."""
    out = {}
    for p in cfg.vrrp_track_processes:
        if not p.process:
            continue
        words = p.process.split()
        out[p.name] = ProcessSpec(p.name, words[0], p.param_match, tuple(words[1:]), p.quorum, p.quorum_max,
                                  p.full_command)
    return out


def track_files(cfg: m.Config) -> dict[str, str]:
    """vrrp_track_file name -> the file's path."""
    return {f.name: f.path for f in cfg.vrrp_track_files if f.path}


def notify_fifo(cfg: m.Config) -> str | None:
    """The FIFO VRRP notifications go to: vrrp_notify_fifo, else notify_fifo."""
    g = cfg.global_defs
    fifo = g.vrrp_notify_fifo or g.notify_fifo
    return fifo.command if fifo else None


def group_notify(cfg: m.Config) -> dict[str, tuple[tuple[str, m.Script], ...]]:
    """Each vrrp_sync_group's notify scripts as (kind, script) pairs, like InstanceSpec.notify."""
    out = {}
    for sg in cfg.vrrp_sync_groups:
        out[sg.name] = tuple((k, s) for k, s in (("master", sg.notify_master), ("backup", sg.notify_backup),
                                                   ("fault", sg.notify_fault), ("stop", sg.notify_stop),
                                                   ("notify", sg.notify)) if s is not None)
    return out
