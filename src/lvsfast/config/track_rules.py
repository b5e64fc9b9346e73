"""What keepalived 2.2.7 keeps of an instance's own track_* lines and of a sync group's, with the
-t message for each line it changes or drops. config/checks.py reports the messages and vrrp/spec.py builds the
trackers from what is kept, so the two cannot disagree. Plain tuples: -t imports this module."""
from __future__ import annotations

from lvsfast.config import model as m


def _weight(t: m.Tracked, kind: str, cfg: m.Config) -> int:
    """The line's weight, else its object's (scripts 0, files 1 unless set; interfaces 0)."""
    if t.weight is not None or kind == "interface":
        return t.weight or 0
    pool = {"script": cfg.vrrp_scripts, "file": cfg.vrrp_track_files, "process": cfg.vrrp_track_processes,
            "bfd": cfg.bfd_instances}[kind]
    obj = next((x for x in pool if x.name == t.name), None)
    return obj.weight if obj is not None else 0


def tracking_weight(sg: m.VrrpSyncGroup) -> bool:
    """sync_group_tracking_weight, which keepalived's deprecated ``global_tracking`` also sets."""
    return sg.sync_group_tracking_weight or sg.global_tracking


def _vrrp_bfds(cfg: m.Config) -> set[str]:
    """The bfd_instances a track_bfd can name; keepalived drops any other line ("not found")."""
    return {b.name for b in cfg.bfd_instances if b.vrrp}


def instance_tracks(vi: m.VrrpInstance, cfg: m.Config) -> tuple[list[tuple[str, m.Tracked, int, int]],
                                                                list[tuple[m.Tracked, str]]]:
    """([(kind, line, weight, shown weight)] kept, [(line, message)]); the shown weight is the
    one keepalived's SNMP reports. A name repeated within a kind counts once. A track_interface
    naming the instance's own interface is dropped: that interface's state already decides
    FAULT. In a sync group without sync_group_tracking_weight (its members must move together)
    and for the address owner (255 never moves) weights are not meant to count: a weighted
    script or BFD session is dropped (never run, never tracked); a file of weight 1 (the default)
    becomes weight 0 (any non-zero value is a FAULT) and one of another weight is dropped;
    processes are kept. A track_bfd naming no bfd_instance that VRRP hears is not kept. A
    weighted interface is dropped for the owner; in a sync group keepalived says it ignores the
    weight and shows 0, yet the weight still moves the priority (the interface took it before
    keepalived cleared it), so it is kept with its weight, shown as 0."""
    sg = next((g for g in cfg.vrrp_sync_groups if vi.name in g.group), None)
    in_sync = sg is not None and not tracking_weight(sg)
    owner = vi.priority == 255
    own = vi.interface or cfg.global_defs.default_interface
    kept: list[tuple[str, m.Tracked, int, int]] = []
    notes: list[tuple[m.Tracked, str]] = []
    bfds = _vrrp_bfds(cfg)
    for kind, items in (("interface", vi.track_interface), ("script", vi.track_script),
                        ("file", vi.track_file), ("process", vi.track_process), ("bfd", vi.track_bfd)):
        seen: set[str] = set()
        for t in items:
            if t.name in seen or (kind == "bfd" and t.name not in bfds):
                continue
            seen.add(t.name)
            weight = _weight(t, kind, cfg)
            shown = weight
            if kind == "interface" and t.name == own:
                notes.append((t, f"({vi.name}) Ignoring track_interface {t.name} since own interface"))
                continue
            if (in_sync or owner) and weight and kind != "process":
                # keepalived's words, "address_owner" included in the script and file messages
                why = "SYNC group" if in_sync else "address owner" if kind == "interface" else "address_owner"
                if kind == "interface" and in_sync:
                    notes.append((t, f"({vi.name}) ignoring {t.name} tracked interface weight due to {why}"))
                    shown = 0
                elif kind == "interface":
                    notes.append((t, f"({vi.name}) ignoring {t.name} tracked interface due to {why}"))
                    continue
                elif kind == "script":
                    notes.append((t, f"({vi.name}) ignoring tracked script {t.name} with weights due to {why}"))
                    continue
                elif kind == "bfd":
                    notes.append((t, f"({vi.name}) ignoring tracked bfd {t.name} with weight {weight} due to {why}"))
                    continue
                elif weight == 1:
                    notes.append((t, f"({vi.name}) ignoring weight from tracked file {t.name} due to {why}. "
                                     "specify weight 0"))
                    weight = shown = 0
                else:
                    notes.append((t, f"({vi.name}) ignoring tracked file {t.name} with weight {weight} due to {why}"))
                    continue
            kept.append((kind, t, weight, shown))
    return kept, notes


#: keepalived's ending of the sync-group message for each kind ("clearing weight" or "setting weight 0")
_SG_OWNER_ENDING = {"interface": "clearing weight", "script": "clearing weight", "file": "setting weight 0",
                    "process": "setting weight 0", "bfd": "setting weight 0"}


def sync_group_tracks(sg: m.VrrpSyncGroup, cfg: m.Config) -> tuple[list[tuple[str, m.Tracked, int]],
                                                                    list[tuple[m.Tracked, str]]]:
    """A sync group's own track_* lines as keepalived 2.2.7 keeps them (vrrp.c,
    sync_group_tracking_init): ([(kind, line, weight)], [(line, message)]). A member that is the
    address owner (priority 255) clears every weight, with a message for each weighted line; a
    track_bfd naming no bfd_instance that VRRP hears is not kept."""
    priorities = {vi.name: vi.priority for vi in cfg.vrrp_instances}
    has_owner = any(priorities.get(name) == 255 for name in sg.group)
    bfds = _vrrp_bfds(cfg)
    kept: list[tuple[str, m.Tracked, int]] = []
    notes: list[tuple[m.Tracked, str]] = []
    for kind, items in (("script", sg.track_script), ("file", sg.track_file), ("process", sg.track_process),
                        ("bfd", sg.track_bfd), ("interface", sg.track_interface)):
        seen: set[str] = set()
        for t in items:
            if t.name in seen or (kind == "bfd" and t.name not in bfds):
                continue
            seen.add(t.name)
            weight = _weight(t, kind, cfg)
            if has_owner and weight:
                notes.append((t, f"({sg.name}) Cannot have weighted track {kind} '{t.name}' with member having "
                                 f"priority 255 - {_SG_OWNER_ENDING[kind]}"))
                weight = 0
            kept.append((kind, t, weight))
    return kept, notes


def own_interface(vi: m.VrrpInstance, cfg: m.Config) -> str | None:
    """The interface whose state already decides the instance's FAULT (none with dont_track_primary)."""
    return None if vi.dont_track_primary else (vi.interface or cfg.global_defs.default_interface)


def sync_group_overlaps(sg: m.VrrpSyncGroup, cfg: m.Config) -> list[tuple[m.Tracked, str]]:
    """keepalived's error for each member already tracking an interface its group tracks (the
    member's own interface included): one tracker is kept, with the group's weight unless the
    member's was 0 (vrrp.c, add_vrrp_to_interface)."""
    members = [vi for vi in cfg.vrrp_instances if vi.name in sg.group]
    notes: list[tuple[m.Tracked, str]] = []
    for t in dict((t.name, t) for t in sg.track_interface).values():
        for vi in members:
            mine = {x.name for kind, x, _, _ in instance_tracks(vi, cfg)[0] if kind == "interface"}
            if t.name in mine or t.name == own_interface(vi, cfg):
                notes.append((t, f"({vi.name}) track_interface {t.name} is configured on VRRP instance and sync "
                                 "group. Remove vrrp instance or sync group config"))
    return notes
