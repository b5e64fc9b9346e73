"""keepalived 2.2.7's rules for an instance's own track_* lines (vrrp.c, vrrp_complete_instance):
in a sync group without sync_group_tracking_weight (or global_tracking), and for the address
owner, weighted scripts, files and BFD sessions do not count (a sync group member's weighted
interface, reported as ignored, still does); a track_interface naming the instance's own
interface is dropped. And for a sync group's own lines (sync_group_tracking_init): an owner
member clears their weights, and an object tracked by a member and its group is one tracker. The trackers the VRRP
child builds (vrrp/spec.py), SNMP's tracked tables and the -t messages (config/checks.py) come
from the same rules."""
from __future__ import annotations

import pytest

from lvsfast.config import loads
from lvsfast.config.track_rules import instance_tracks, sync_group_overlaps, sync_group_tracks
from lvsfast.vrrp import spec

HEAD = """vrrp_script chk {
    script "/bin/true"
    weight 10
}
vrrp_script plain {
    script "/bin/true"
}
vrrp_track_file tf {
    file "/tmp/tf"
    weight 3
}
vrrp_track_file tf1 {
    file "/tmp/tf1"
}
vrrp_track_process tp {
    process sshd
    weight 4
}
"""
GROUP = "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n{extra}}}\n"


def inst(name: str, vrid: int, body: str, priority: int = 100, interface: str = "eth0") -> str:
    return (f"vrrp_instance {name} {{\n    interface {interface}\n    virtual_router_id {vrid}\n"
            f"    priority {priority}\n{body}    virtual_ipaddress {{\n        10.9.9.{vrid}/32\n    }}\n}}\n")


TRACKS = ("    track_interface {\n        eth1 weight 10\n        eth2\n    }\n"
          "    track_script {\n        chk\n        plain\n        chk weight 0\n    }\n"
          "    track_file {\n        tf\n        tf1\n    }\n"
          "    track_process {\n        tp\n    }\n")


def tracks(text: str, name: str = "VI_1"):
    cfg = loads(text)
    vi = next(v for v in cfg.vrrp_instances if v.name == name)
    built = spec.build(vi, cfg, address_of=lambda ifname, family: "10.9.9.1")
    return {(t.kind, t.name): t.weight for t in built.tracks}, [msg for _, msg in instance_tracks(vi, cfg)[1]]


def test_sync_group_member():
    got, notes = tracks(HEAD + GROUP.format(extra="") + inst("VI_1", 1, TRACKS) + inst("VI_2", 2, "", interface="eth1"))
    # interface: keepalived says it ignores the weight (and SNMP shows 0) but the weight still
    # counts; weighted script: gone (not even run); default weight file: weight 0 (non-zero =
    # FAULT); weight 3 file: gone; process: as configured.
    assert got == {("interface", "eth1"): 10, ("interface", "eth2"): 0, ("script", "plain"): 0,
                   ("file", "tf1"): 0, ("process", "tp"): 4}
    cfg = loads(HEAD + GROUP.format(extra="") + inst("VI_1", 1, TRACKS) + inst("VI_2", 2, ""))
    shown = {(k, t.name): w for k, t, _, w in instance_tracks(cfg.vrrp_instances[0], cfg)[0]}
    assert shown[("interface", "eth1")] == 0
    assert notes == ["(VI_1) ignoring eth1 tracked interface weight due to SYNC group",
                     "(VI_1) ignoring tracked script chk with weights due to SYNC group",
                     "(VI_1) ignoring tracked file tf with weight 3 due to SYNC group",
                     "(VI_1) ignoring weight from tracked file tf1 due to SYNC group. specify weight 0"]


def test_sync_group_tracking_weight_keeps_weights():
    got, notes = tracks(HEAD + GROUP.format(extra="    sync_group_tracking_weight\n") + inst("VI_1", 1, TRACKS)
                        + inst("VI_2", 2, ""))
    assert got == {("interface", "eth1"): 10, ("interface", "eth2"): 0, ("script", "chk"): 10,
                   ("script", "plain"): 0, ("file", "tf"): 3, ("file", "tf1"): 1, ("process", "tp"): 4}
    assert notes == []


def test_address_owner():
    got, notes = tracks(HEAD + inst("VI_1", 1, TRACKS, priority=255))
    assert got == {("interface", "eth2"): 0, ("script", "plain"): 0, ("file", "tf1"): 0, ("process", "tp"): 4}
    assert notes[0] == "(VI_1) ignoring eth1 tracked interface due to address owner"


def test_outside_a_group_weights_count():
    got, notes = tracks(HEAD + inst("VI_1", 1, TRACKS))
    assert got[("interface", "eth1")] == 10 and got[("script", "chk")] == 10 and got[("file", "tf")] == 3
    assert notes == []


@pytest.mark.parametrize("line", ["eth0", "eth0 weight 5", "eth0 weight -5 reverse"])
@pytest.mark.parametrize("grouped", [False, True])
def test_own_interface_is_not_tracked(line, grouped):
    text = inst("VI_1", 1, f"    track_interface {{\n        {line}\n        eth1\n    }}\n")
    if grouped:
        text = GROUP.format(extra="") + text + inst("VI_2", 2, "", interface="eth1")
    got, notes = tracks(text)
    assert got == {("interface", "eth1"): 0}
    assert notes == ["(VI_1) Ignoring track_interface eth0 since own interface"]  # and no weight message


BFDS = ("bfd_instance B1 {\n    neighbor_ip 10.0.0.2\n    weight 20\n}\n"
        "bfd_instance B2 {\n    neighbor_ip 10.0.0.3\n}\n"
        "bfd_instance BC {\n    neighbor_ip 10.0.0.4\n    checker\n}\n")
BFD_TRACKS = "    track_bfd {\n        B1\n        B2 weight 5\n        B2 weight -4\n        BC\n    }\n"


def test_sync_group_member_drops_weighted_bfd():
    # The bfd_instance's own weight counts as the line's; an unweighted session stays a FAULT
    # tracker; a checker-only instance is "not found" for VRRP, so never tracked.
    got, notes = tracks(BFDS + GROUP.format(extra="") + inst("VI_1", 1, BFD_TRACKS) + inst("VI_2", 2, ""))
    assert got == {}
    assert notes == ["(VI_1) ignoring tracked bfd B1 with weight 20 due to SYNC group",
                     "(VI_1) ignoring tracked bfd B2 with weight 5 due to SYNC group"]
    unweighted = BFD_TRACKS.replace("B1\n", "B1 weight 0\n")
    got, notes = tracks(BFDS + GROUP.format(extra="") + inst("VI_1", 1, unweighted) + inst("VI_2", 2, ""))
    assert got == {("bfd", "B1"): 0} and len(notes) == 1


def test_address_owner_drops_weighted_bfd():
    got, notes = tracks(BFDS + inst("VI_1", 1, BFD_TRACKS, priority=255))
    assert got == {}
    assert notes == ["(VI_1) ignoring tracked bfd B1 with weight 20 due to address_owner",
                     "(VI_1) ignoring tracked bfd B2 with weight 5 due to address_owner"]


def test_bfd_weights_count_outside_a_group_and_with_tracking_weight():
    got, notes = tracks(BFDS + inst("VI_1", 1, BFD_TRACKS))
    assert got == {("bfd", "B1"): 20, ("bfd", "B2"): 5} and notes == []
    got, notes = tracks(BFDS + GROUP.format(extra="    sync_group_tracking_weight\n") + inst("VI_1", 1, BFD_TRACKS)
                        + inst("VI_2", 2, ""))
    assert got == {("bfd", "B1"): 20, ("bfd", "B2"): 5} and notes == []


def test_sync_group_with_an_owner_member_clears_its_own_weights():
    extra = ("    sync_group_tracking_weight\n    track_bfd {\n        B1\n        B2\n    }\n"
             "    track_script {\n        chk\n    }\n    track_file {\n        tf\n    }\n"
             "    track_process {\n        tp\n    }\n    track_interface {\n        eth1 weight 5\n    }\n")
    text = HEAD + BFDS + GROUP.format(extra=extra) + inst("VI_1", 1, "") + inst("VI_2", 2, "", priority=255)
    cfg = loads(text)
    kept, notes = sync_group_tracks(cfg.vrrp_sync_groups[0], cfg)
    assert {(k, t.name): w for k, t, w in kept} == {("bfd", "B1"): 0, ("bfd", "B2"): 0, ("script", "chk"): 0,
                                                   ("file", "tf"): 0, ("process", "tp"): 0, ("interface", "eth1"): 0}
    assert [msg for _, msg in notes] == [
        "(G) Cannot have weighted track script 'chk' with member having priority 255 - clearing weight",
        "(G) Cannot have weighted track file 'tf' with member having priority 255 - setting weight 0",
        "(G) Cannot have weighted track process 'tp' with member having priority 255 - setting weight 0",
        "(G) Cannot have weighted track bfd 'B1' with member having priority 255 - setting weight 0",
        "(G) Cannot have weighted track interface 'eth1' with member having priority 255 - clearing weight"]
    assert tracks(text)[0] == {("bfd", "B1"): 0, ("bfd", "B2"): 0, ("script", "chk"): 0, ("file", "tf"): 0,
                               ("process", "tp"): 0, ("interface", "eth1"): 0}
    got, _ = tracks(text.replace("priority 255", "priority 200"))
    assert got[("bfd", "B1")] == 20 and got[("script", "chk")] == 10 and got[("interface", "eth1")] == 5
    # The group's own weights count without sync_group_tracking_weight too (it rules only the
    # members' own lines): keepalived 2.2.7 moved both members of such a group to 120 on a
    # track_file of weight 2 holding 10, where lvsfast once made them FAULT.
    got, _ = tracks(text.replace("priority 255", "priority 200").replace("    sync_group_tracking_weight\n", ""))
    assert got[("bfd", "B1")] == 20 and got[("file", "tf")] == 3 and got[("process", "tp")] == 4


def test_bfd_on_the_instance_and_its_sync_group_is_one_tracker():
    # keepalived: "track_bfd B1 is configured on VRRP instance and sync group": one tracker, the
    # group's weight unless the instance's line was unweighted.
    group = GROUP.format(extra="    sync_group_tracking_weight\n"
                                "    track_bfd {\n        B1 weight 7\n        B2 weight 9\n    }\n")
    own = "    track_bfd {\n        B1 weight 30\n        B2 weight 0\n    }\n"
    got, _ = tracks(BFDS + group + inst("VI_1", 1, own) + inst("VI_2", 2, ""))
    assert got == {("bfd", "B1"): 7, ("bfd", "B2"): 0}
    cfg = loads(BFDS + group + inst("VI_1", 1, own) + inst("VI_2", 2, ""))
    built = spec.build(cfg.vrrp_instances[0], cfg, address_of=lambda ifname, family: "10.9.9.1")
    assert [(t.kind, t.name) for t in built.tracks] == [("bfd", "B1"), ("bfd", "B2")]


def test_global_tracking_is_sync_group_tracking_weight():
    got, notes = tracks(HEAD + GROUP.format(extra="    global_tracking\n") + inst("VI_1", 1, TRACKS)
                        + inst("VI_2", 2, ""))
    assert got[("script", "chk")] == 10 and got[("file", "tf")] == 3 and notes == []


def test_an_interface_on_the_member_and_its_group_is_one_tracker():
    # keepalived: "(VI_1) track_interface eth2 is configured on VRRP instance and sync group.
    # Remove vrrp instance or sync group config", for the member's own interface too (unless
    # dont_track_primary); one tracker, the group's weight unless the member's was 0.
    group = GROUP.format(extra="    track_interface {\n        eth2 weight 5\n        eth3 weight 7\n"
                               "        eth0 weight 9\n    }\n")
    text = group + inst("VI_1", 1, "    track_interface {\n        eth2\n        eth3 weight 4\n    }\n") \
        + inst("VI_2", 2, "", interface="eth1")
    cfg = loads(text)
    assert [msg for _, msg in sync_group_overlaps(cfg.vrrp_sync_groups[0], cfg)] == [
        f"(VI_1) track_interface {n} is configured on VRRP instance and sync group. Remove vrrp instance or sync "
        "group config" for n in ("eth2", "eth3", "eth0")]
    assert tracks(text)[0] == {("interface", "eth2"): 0, ("interface", "eth3"): 7}
    assert tracks(text, "VI_2")[0] == {("interface", "eth2"): 5, ("interface", "eth3"): 7, ("interface", "eth0"): 9}
    loose = text.replace("    priority 100\n", "    priority 100\n    dont_track_primary\n", 1)
    cfg = loads(loose)
    assert len(sync_group_overlaps(cfg.vrrp_sync_groups[0], cfg)) == 2
    assert tracks(loose)[0][("interface", "eth0")] == 9
