"""Effective values that keepalived derives from more than one place (instance and global_defs,
real and virtual server, a virtual_server_group's ranges), so every consumer derives them alike."""
from __future__ import annotations

import ipaddress
from typing import Iterator

from lvsfast.config import model as m
from lvsfast.frozen import record


@record
class GarpSettings:
    master_delay: float
    master_repeat: int
    lower_prio_delay: float
    lower_prio_repeat: int
    master_refresh: float
    master_refresh_repeat: int
    interval: float  # between gratuitous ARPs (vrrp_garp_interval)
    na_interval: float  # between unsolicited neighbour adverts (vrrp_gna_interval)


def vrrp_version(vi: m.VrrpInstance, g: m.GlobalDefs) -> int:
    """IPv6 instances always run VRRPv3; otherwise the instance's ``version`` or ``vrrp_version``."""
    if vi.family == 6:
        return 3
    return vi.version or g.vrrp_version


def strict_mode(vi: m.VrrpInstance, g: m.GlobalDefs) -> bool:
    return g.vrrp_strict if vi.strict_mode is None else vi.strict_mode


def accept_mode(vi: m.VrrpInstance, g: m.GlobalDefs) -> bool:
    """Accept packets to the VIPs when not the address owner: on unless strict or ``no_accept``."""
    if vi.accept is not None:
        return vi.accept
    return not strict_mode(vi, g)


def initial_state(vi: m.VrrpInstance) -> str:
    """keepalived starts an instance as BACKUP unless ``state MASTER``; AH with MASTER is cleared."""
    if vi.state == "MASTER" and not (vi.authentication and vi.authentication.auth_type == "AH"):
        return "MASTER"
    return "BACKUP"


def preempt(vi: m.VrrpInstance) -> bool:
    """``nopreempt`` is ignored with ``state MASTER`` and with priority 255, as keepalived does."""
    return not vi.nopreempt or vi.state == "MASTER" or vi.priority == 255


def preempt_delay(vi: m.VrrpInstance) -> float:
    return 0.0 if vi.state == "MASTER" else vi.preempt_delay


def garp(vi: m.VrrpInstance, g: m.GlobalDefs) -> GarpSettings:
    def pick(own, glob):
        return glob if own is None else own
    master_delay = pick(vi.garp_master_delay, g.vrrp_garp_master_delay)
    master_repeat = pick(vi.garp_master_repeat, g.vrrp_garp_master_repeat)
    return GarpSettings(
        master_delay, master_repeat,
        pick(vi.garp_lower_prio_delay, pick(g.vrrp_garp_lower_prio_delay, master_delay)),
        pick(vi.garp_lower_prio_repeat, pick(g.vrrp_garp_lower_prio_repeat, master_repeat)),
        pick(vi.garp_master_refresh, g.vrrp_garp_master_refresh),
        pick(vi.garp_master_refresh_repeat, g.vrrp_garp_master_refresh_repeat),
        g.vrrp_garp_interval, g.vrrp_gna_interval)


def down_timer_adverts(vi: m.VrrpInstance, g: m.GlobalDefs) -> int:
    return g.vrrp_down_timer_adverts if vi.down_timer_adverts is None else vi.down_timer_adverts


def tracked_weight(t: m.Tracked, cfg: m.Config, kind: str) -> int:
    """The weight a track_script/track_file/track_process line applies: its own, or the tracked
    object's (0, meaning FAULT on failure, for interfaces and objects without one)."""
    if t.weight is not None:
        return t.weight
    if kind == "script":
        s = cfg.script(t.name)
        return s.weight if s else 0
    if kind == "file":
        f = next((x for x in cfg.vrrp_track_files if x.name == t.name), None)
        return f.weight if f else 0
    if kind == "process":
        p = next((x for x in cfg.vrrp_track_processes if x.name == t.name), None)
        return p.weight if p else 0
    if kind == "bfd":
        b = cfg.bfd(t.name)
        return b.weight if b else 0
    return 0


def tracked_reverse(t: m.Tracked, cfg: m.Config, kind: str) -> bool:
    """A track_bfd line without a weight takes the bfd_instance's ``weight N reverse`` too."""
    if kind == "bfd" and t.weight is None:
        b = cfg.bfd(t.name)
        return t.reverse or (b is not None and b.weight_reverse)
    return t.reverse


def sync_group_of(vi: m.VrrpInstance, cfg: m.Config) -> m.VrrpSyncGroup | None:
    return next((sg for sg in cfg.vrrp_sync_groups if vi.name in sg.group), None)


def forwarding(rs: m.RealServer, vs: m.VirtualServer) -> m.ForwardingMethod:
    return rs.forwarding or vs.forwarding


@record
class ServiceAddress:
    """One kernel service a virtual_server stands for: (family, address, port) or a fwmark."""

    family: m.Family
    address: str | None
    port: int
    fwmark: int | None = None


MAX_RANGE = 1 << 16


def service_addresses(vs: m.VirtualServer, cfg: m.Config) -> Iterator[ServiceAddress]:
    """The services of a virtual server; a ``group`` expands its ranges, one service per address."""
    if vs.fwmark is not None:
        yield ServiceAddress(vs.ip_family or 4, None, 0, vs.fwmark)
        return
    if vs.group is None:
        yield ServiceAddress(vs.family, vs.address, vs.port or 0)
        return
    group = cfg.group(vs.group)
    if group is None:
        return
    for e in group.entries:
        if e.fwmark is not None:
            yield ServiceAddress(e.family, None, 0, e.fwmark)
            continue
        first = ipaddress.ip_address(e.address)
        last = ipaddress.ip_address(e.last) if e.last else first
        for n in range(min(int(last) - int(first) + 1, MAX_RANGE)):
            yield ServiceAddress(e.family, str(first + n), e.port if e.port is not None else (vs.port or 0))
