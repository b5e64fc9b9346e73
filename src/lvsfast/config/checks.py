"""Checks across blocks, as keepalived makes them after reading (and a few of lvsfast's own).

Each check reports at the line of the statement at fault. Severities follow what lvsfast does
with the config: an error makes it refuse the configuration; a warning is something keepalived
would also have changed or ignored, so ``-t`` reports it and exits non-zero like keepalived.
"""
from __future__ import annotations

import operator

from lvsfast.config import model as m
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.scheduling import tuning
from lvsfast.config.track_rules import instance_tracks, sync_group_overlaps, sync_group_tracks


def check(cfg: m.Config, diags: Diagnostics, backend: str | None = None) -> None:
    """Run every cross-block check; ``backend`` overrides global_defs' ``lvs_backend``."""
    _instances(cfg, diags)
    _sync_groups(cfg, diags)
    _virtual_servers(cfg, diags, backend or cfg.global_defs.lvs_backend)
    _globals(cfg, diags)
    _announce_scripts(cfg, diags)


def _announce_scripts(cfg: m.Config, diags: Diagnostics) -> None:
    """``announce_track_script`` names vrrp_script blocks (the checker runs them itself): an
    unknown one would leave the VIP withdrawn for good, so it is refused."""
    scripts = {s.name for s in cfg.vrrp_scripts}
    g = cfg.global_defs
    places = [(g, g.announce_track_script, "global_defs", True)]
    places += [(vs, vs.announce_track_script, f"virtual server {vs.name}", vs.announce_route)
               for vs in cfg.virtual_servers]
    for block, names, where, announces in places:
        if not any(k == "announce_track_script" for k, _ in block.keyword_lines):
            continue
        file, line = block.file, block.line_of("announce_track_script")
        if not names:
            diags.error(file, line, "announce_track_script needs one or more vrrp_script names")
        for name in names:
            if name not in scripts:  # a vrrp_script without a script line is dropped when read
                diags.error(file, line, f"announce_track_script: no vrrp_script {name} ({where})")
        if not announces:
            diags.warning(file, line, f"{where}: announce_track_script without announce_route does nothing")


def _instances(cfg: m.Config, diags: Diagnostics) -> None:
    seen: dict[str, m.VrrpInstance] = {}
    scripts = {s.name for s in cfg.vrrp_scripts}
    files = {f.name for f in cfg.vrrp_track_files}
    procs = {p.name for p in cfg.vrrp_track_processes}
    bfds = {b.name: b for b in cfg.bfd_instances if b.vrrp}
    by_socket: dict[tuple, list[m.VrrpInstance]] = {}
    g = cfg.global_defs
    for vi in cfg.vrrp_instances:
        seen[vi.name] = vi  # duplicates were dropped (and reported) while building
        if vi.virtual_router_id is None:
            diags.error(vi.file, vi.line, f"({vi.name}) the virtual router id must be set")
        if not vi.virtual_ipaddress:
            diags.warning(vi.file, vi.line, f"({vi.name}) no VIP specified; at least one is sensible")
        fams = {a.family for a in vi.virtual_ipaddress}
        if len(fams) > 1:
            first_fam = vi.virtual_ipaddress[0].family
            for a in vi.virtual_ipaddress:
                if a.family != first_fam:
                    diags.error(a.file, a.line, f"({vi.name}) address {a.address} is IPv{a.family} but the instance is "
                                f"IPv{first_fam}: all virtual_ipaddress entries share one family "
                                "(use virtual_ipaddress_excluded for the other)")
        for p in vi.unicast_peer:
            if p.family != vi.family:
                diags.error(p.file, p.line, f"({vi.name}) unicast peer {p.address} is not IPv{vi.family}")
        if vi.authentication and vi.authentication.auth_type == "AH" and vi.state == "MASTER":
            diags.warning(vi.file, vi.line, f"({vi.name}) initial state master is incompatible with AH authentication - clearing")
        if vi.state == "MASTER" and vi.nopreempt:
            diags.warning(vi.file, vi.line_of("nopreempt"), f"({vi.name}) nopreempt will not work with initial "
                          "state MASTER - clearing")
        if vi.state == "MASTER" and vi.preempt_delay:
            diags.warning(vi.file, vi.line_of("preempt_delay"), f"({vi.name}) preempt_delay will not work with "
                          "initial state MASTER - clearing")
        ipvlan = vi.use_ipvlan
        if ipvlan is not None and ipvlan.address is None and vi.family == 4:
            diags.warning(vi.file, vi.line_of("use_ipvlan"), f"({vi.name}) IPv4 ipvlan requires a source ip address to "
                        "be configured. setting instance to fault state")
        elif ipvlan is not None and ipvlan.address is not None and ipvlan.family != vi.family:
            diags.warning(vi.file, vi.line_of("use_ipvlan"), f"({vi.name}) ipvlan address [{ipvlan.address}] MUST "
                        "match vrrp instance family !!! Skipping...")
        if vi.promote_secondaries and vi.use_vmac is not None:
            diags.warning(vi.file, vi.line_of("promote_secondaries"), f"({vi.name}) promote_secondaries is "
                          "automatically set for vmacs - ignoring")
        strict = vi.strict_mode if vi.strict_mode is not None else g.vrrp_strict
        if strict and vi.authentication is not None:
            diags.warning(vi.file, vi.line_of("authentication"), f"({vi.name}) strict mode does not support "
                          "authentication - ignoring it")
        for a in vi.virtual_ipaddress + vi.virtual_ipaddress_excluded:
            if a.family == 6 and a.label:
                diags.warning(a.file, a.line, f"cannot specify label for IPv6 addresses ({a.cidr}) - ignoring label")
        for kind, items in (("track_interface", vi.track_interface), ("track_script", vi.track_script),
                            ("track_file", vi.track_file), ("track_process", vi.track_process),
                            ("track_bfd", vi.track_bfd)):
            names: set[str] = set()
            for t in items:
                if t.name in names:
                    diags.warning(t.file, t.line, f"({vi.name}) duplicate {kind} {t.name} - ignoring")
                names.add(t.name)
        for t, message in instance_tracks(vi, cfg)[1]:
            diags.warning(t.file, t.line, message)
        if vi.nopreempt and vi.priority == 255:
            diags.warning(vi.file, vi.line, f"({vi.name}) nopreempt is incompatible with priority 255 - resetting nopreempt")
        version = 3 if vi.family == 6 else (vi.version or g.vrrp_version)
        if vi.interface is None and not vi.unicast_peer and g.default_interface is None:
            diags.error(vi.file, vi.line, f"({vi.name}) no interface: set 'interface', or use unicast_peer")
        if vi.authentication and version == 3:
            diags.warning(vi.file, vi.line, f"({vi.name}) authentication is not supported with VRRPv3 - ignoring")
        if version == 2 and vi.advert_int != int(vi.advert_int):
            diags.warning(vi.file, vi.line, f"({vi.name}) VRRPv2 advertisement interval {vi.advert_int:f}s must be an "
                          "integer. rounding")
        for t in vi.track_script:
            if t.name not in scripts:
                diags.warning(t.file, t.line, f"({vi.name}) track script {t.name} not found, ignoring...")
        for t in vi.track_file:
            if t.name not in files:
                diags.warning(t.file, t.line, f"({vi.name}) track file {t.name} not found, ignoring...")
        for t in vi.track_process:
            if t.name not in procs:
                diags.warning(t.file, t.line, f"({vi.name}) track process {t.name} not found, ignoring...")
        for t in vi.track_bfd:
            if t.name not in bfds:
                diags.warning(t.file, t.line, f"({vi.name}) track bfd {t.name} not found, ignoring...")
        if vi.bfd_master_down is not None:
            bmd = bfds.get(vi.bfd_master_down)
            line = vi.line_of("bfd_master_down")
            if bmd is None:
                diags.error(vi.file, line, f"({vi.name}) bfd_master_down: bfd_instance {vi.bfd_master_down} not found")
            elif bmd.family != vi.family:
                diags.error(vi.file, line, f"({vi.name}) bfd_master_down: bfd_instance {vi.bfd_master_down}'s "
                            f"neighbour {bmd.neighbor_ip} is not IPv{vi.family}")
        if vi.virtual_router_id is not None:
            unicast = frozenset(p.address for p in vi.unicast_peer)
            key = (vi.interface, vi.family, vi.virtual_router_id, vi.mcast_dst_ip)
            for other in by_socket.get(key, ()):
                other_uc = frozenset(p.address for p in other.unicast_peer)
                if unicast and other_uc and not (unicast & other_uc):
                    continue  # unicast with disjoint peers: keepalived allows it
                diags.error(vi.file, vi.line, f"{other.name} and {vi.name} both use VRID {vi.virtual_router_id} "
                            f"with IPv{vi.family} on interface {vi.interface or '(default)'} "
                            f"({other.name} is at {other.file}:{other.line})")
                break
            by_socket.setdefault(key, []).append(vi)


def _sync_groups(cfg: m.Config, diags: Diagnostics) -> None:
    instances = {vi.name: vi for vi in cfg.vrrp_instances}
    member_of: dict[str, str] = {}
    bfds = {b.name for b in cfg.bfd_instances if b.vrrp}
    for sg in cfg.vrrp_sync_groups:
        for t in sg.track_bfd:
            if t.name not in bfds:
                diags.warning(t.file, t.line, f"({sg.name}) track bfd {t.name} not found, ignoring...")
        members = []
        for name in sg.group:
            if name not in instances:
                diags.warning(sg.file, sg.line, f"virtual router {name} specified in sync group {sg.name} doesn't exist - ignoring")
                continue
            if name in member_of:
                diags.error(sg.file, sg.line, f"vrrp instance {name} is already in sync group {member_of[name]}")
                continue
            member_of[name] = sg.name
            members.append(instances[name])
        if not members:
            diags.warning(sg.file, sg.line, f"sync group {sg.name} has no virtual router(s) - removing")
            continue
        if len(members) == 1:
            diags.warning(sg.file, sg.line, f"sync group {sg.name} has only 1 virtual router - this probably isn't what you want")
        if sg.global_tracking:
            diags.warning(sg.file, sg.line_of("global_tracking"), f"({sg.name}) global_tracking is deprecated. Use "
                          "track_interface/script/file on the sync group")
        for t, message in sync_group_tracks(sg, cfg)[1] + sync_group_overlaps(sg, cfg):
            diags.warning(t.file, t.line, message)


_WEIGHT = operator.attrgetter("weight")


def _virtual_servers(cfg: m.Config, diags: Diagnostics, backend: str) -> None:
    groups = {g.name for g in cfg.virtual_server_groups}
    track_files = {t.name: t for t in cfg.vrrp_track_files}
    bfds = {b.name for b in cfg.bfd_instances if b.checker}
    seen: dict[tuple, m.VirtualServer] = {}
    for vs in cfg.virtual_servers:
        if vs.group is not None and vs.group not in groups:
            diags.error(vs.file, vs.line, f"virtual server group {vs.group} does not exist")
        key = (vs.address, vs.port, vs.fwmark, vs.group, vs.protocol if vs.fwmark is None else None)
        if key in seen:
            first = seen[key]
            diags.error(vs.file, vs.line, f"virtual server {vs.name} is already defined at {first.file}:{first.line}")
        seen.setdefault(key, vs)
        total = sum(map(_WEIGHT, vs.real_servers))
        quorum = vs.quorum
        if vs.real_servers and quorum > total:
            diags.warning(vs.file, vs.line_of("quorum"), f"virtual server {vs.name}: quorum {quorum} exceeds the "
                          f"total weight of its real servers ({total}); keepalived reduces it to {total}")
            quorum = max(total, 1)
        if vs.hysteresis and vs.hysteresis >= quorum:
            diags.warning(vs.file, vs.line_of("hysteresis"), f"virtual server {vs.name}: hysteresis "
                          f"{vs.hysteresis} >= quorum {quorum}; keepalived sets it to 0")
        if vs.ops and vs.protocol != "UDP":
            diags.warning(vs.file, vs.line_of("ops"), f"virtual server {vs.name}: one-packet scheduling (ops) "
                          "requires UDP - ignoring")
        # A sh-/mh- keyword always leaves its flag in sched_flags: without flags, no scan.
        for flag, line in vs.keyword_lines if vs.sched_flags else ():
            if flag.startswith(("sh-", "mh-")) and flag in m.SCHED_FLAG_NAMES and vs.lb_algo != flag[:2]:
                diags.warning(vs.file, line, f"virtual server {vs.name}: {flag} only applies to the "
                              f"{flag[:2]} scheduler - ignoring")
        # Only real servers with checkers or thresholds have anything to check (100,000 others).
        for rs in [rs for rs in vs.real_servers if rs.checkers or rs.uthreshold]:
            for ck in rs.checkers:
                if isinstance(ck, m.BfdCheck):
                    if ck.name is None:
                        diags.error(ck.file, ck.line, f"([{rs.address}]:{rs.port}) No name has been specified for "
                                    "BFD_CHECKER - skipping")
                    elif ck.name not in bfds:
                        diags.error(ck.file, ck.line, f"([{rs.address}]:{rs.port}) BFD_CHECK - BFD {ck.name} "
                                    "not configured")
                if isinstance(ck, m.FileCheck) and ck.track_file is not None:
                    tf = track_files.get(ck.track_file)
                    line = ck.line_of("track_file")
                    if tf is None:
                        diags.warning(ck.file, line, f"FILE_CHECK: track_file {ck.track_file} not found - ignoring")
                    elif (tf.file, tf.line) > (ck.file, line) and tf.file == ck.file:
                        diags.warning(ck.file, line, f"FILE_CHECK: track_file {ck.track_file} is defined after its "
                                      f"use (line {tf.line}); keepalived 2.2 needs it defined first")
            if rs.uthreshold and rs.lthreshold > rs.uthreshold:
                diags.warning(rs.file, rs.line_of("lthreshold"), f"real server {rs.address}: lthreshold {rs.lthreshold} is above "
                            f"uthreshold {rs.uthreshold}")
        if backend == "nftables":
            nftables_limits(vs, diags)


def nftables_limits(vs: m.VirtualServer, diags: Diagnostics) -> None:
    """Errors for what the nftables backend cannot do in ``vs``."""
    if vs.lb_algo not in m.NFTABLES_SCHEDULERS:
        diags.error(vs.file, vs.line, f"scheduler {vs.lb_algo} needs the IPVS backend (lvs_backend ipvs): the "
                    f"nftables backend does {', '.join(sorted(m.NFTABLES_SCHEDULERS))}")
    kinds = [(vs.forwarding.kind, vs.file, vs.line)]
    kinds += [(rs.forwarding.kind, rs.file, rs.line) for rs in vs.real_servers if rs.forwarding]
    if vs.sorry_server and vs.sorry_server.forwarding:
        kinds.append((vs.sorry_server.forwarding.kind, vs.sorry_server.file, vs.sorry_server.line))
    for kind, file, line in kinds:
        if kind == "TUN":
            diags.error(file, line, "lb_kind TUN needs the IPVS backend (lvs_backend ipvs): "
                        "the nftables backend forwards by NAT or DR")
        elif kind != vs.forwarding.kind:
            diags.error(file, line, f"lb_kind {kind} in a {vs.forwarding.kind} virtual server needs the IPVS "
                        "backend (lvs_backend ipvs): the nftables backend forwards a whole virtual server one way")
    if vs.forwarding.kind == "DR" and vs.persistence_timeout:
        diags.error(vs.file, vs.line_of("persistence_timeout"), "persistence with lb_kind DR needs the IPVS backend "
                    "(lvs_backend ipvs): the nftables backend's direct routing is stateless")
    if vs.fwmark is not None:
        diags.error(vs.file, vs.line, "fwmark virtual servers need the IPVS backend (lvs_backend ipvs)")


def _globals(cfg: m.Config, diags: Diagnostics) -> None:
    # The children's scheduling keywords (vrrp_priority, vrrp_sched_slice, ...) are read when
    # each child starts; a bad value is reported here too, at its line, so that -t sees it.
    g = cfg.global_defs
    for child in ("vrrp", "checker"):
        for problem in tuning(g.extra, child)[1]:
            diags.error(g.file, g.line_of(problem.split(" ", 1)[0]), problem)
    sd = cfg.global_defs.lvs_sync_daemon
    if sd is not None and sd.vrrp_instance is not None and cfg.instance(sd.vrrp_instance) is None:
        diags.warning(sd.file, sd.line, f"lvs_sync_daemon: vrrp instance {sd.vrrp_instance} does not exist")
