"""A vrrp_sync_group in namespaces: a fault of one member moves both VIPs to the other router."""
from __future__ import annotations

import pytest

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_lab import VIP, VrrpLab, instance_conf

VIP2 = "10.0.0.101"


@pytest.fixture
def vlab(lab, tmp_path):
    return VrrpLab.build(lab, tmp_path)


def _conf(priority: int, track: str = "") -> str:
    group = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
    return group + instance_conf(priority=priority, advert_int=0.1, extra=track) + \
        instance_conf(priority=priority, advert_int=0.1, vrid=52, name="VI_2", vips=(f"{VIP2}/24",))


def test_sync_group_fails_over_as_one(vlab):
    r1 = vlab.routers["r1"]
    r1.ns.ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
    r1.ns.ip("link", "set", "trk0", "up")
    r1.ns.ip("link", "set", "trk1", "up")
    vlab.start_lvsfast("r1", _conf(150, "    track_interface {\n        trk0\n    }\n"))
    vlab.start_lvsfast("r2", _conf(100))
    both = lambda name, st: all(vlab.routers[name].state(i) == st for i in ("VI_1", "VI_2"))
    wait_for(lambda: both("r1", "MASTER") and both("r2", "BACKUP"), timeout=20, what="r1 master of the group")
    assert vlab.ping(VIP) and vlab.ping(VIP2)
    # Only VI_1 tracks trk0, yet the whole group leaves r1.
    r1.ns.ip("link", "set", "trk1", "down")
    wait_for(lambda: both("r1", "FAULT") and both("r2", "MASTER"), timeout=10, what="the group on r2")
    assert not r1.has(VIP) and not r1.has(VIP2)
    assert vlab.ping(VIP) and vlab.ping(VIP2)
    # The link returns: the group comes back to r1 together.
    r1.ns.ip("link", "set", "trk1", "up")
    wait_for(lambda: both("r1", "MASTER") and both("r2", "BACKUP"), timeout=10, what="the group back on r1")
    assert vlab.ping(VIP) and vlab.ping(VIP2)


@pytest.mark.parametrize("kind", ["lvsfast", "keepalived"])
def test_tracking_on_the_sync_group_itself_faults_every_member(vlab, kind, tmp_path):
    # track_interface and track_file in vrrp_sync_group (keepalived 2.2's replacement for
    # global_tracking): no member names them, yet their failure takes the whole group to FAULT.
    from support.requires import need_binary

    if kind == "keepalived":
        need_binary("keepalived")
    r1 = vlab.routers["r1"]
    r1.ns.ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
    r1.ns.ip("link", "set", "trk0", "up")
    r1.ns.ip("link", "set", "trk1", "up")
    flag = tmp_path / "flag"
    flag.write_text("0\n")
    group = (f"vrrp_track_file F {{\n    file {flag}\n}}\n"
             "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n"
             "    track_interface {\n        trk0\n    }\n    track_file {\n        F weight 0\n    }\n}\n")
    body = group + instance_conf(priority=150, advert_int=0.1) + \
        instance_conf(priority=150, advert_int=0.1, vrid=52, name="VI_2", vips=(f"{VIP2}/24",))
    (vlab.start_keepalived if kind == "keepalived" else vlab.start_lvsfast)("r1", body)
    both = lambda st: all(r1.state(i) == st for i in ("VI_1", "VI_2"))
    wait_for(lambda: both("MASTER"), timeout=20, what="the group master on r1")
    r1.ns.ip("link", "set", "trk1", "down")
    wait_for(lambda: both("FAULT"), timeout=10, what="the group in FAULT after the group's interface")
    r1.ns.ip("link", "set", "trk1", "up")
    wait_for(lambda: both("MASTER"), timeout=10, what="the group back")
    flag.write_text("1\n")
    wait_for(lambda: both("FAULT"), timeout=10, what="the group in FAULT after the group's track file")


@pytest.mark.parametrize("kind", ["lvsfast", "keepalived"])
def test_member_weights_in_a_sync_group(vlab, kind, tmp_path):
    # keepalived 2.2.7 without sync_group_tracking_weight drops a member's weighted track_script
    # (never run) and makes its track_file of the default weight 1 weight 0 (a non-zero value is
    # a FAULT). A weighted track_interface it reports as ignored ("ignoring trk0 tracked
    # interface weight due to SYNC group", and SNMP shows weight 0), yet the weight still moves
    # the priority: the interface took it before the weights were cleared. Were the script's
    # weight applied, r1 (150 - 60) would never be master over r2 (100).
    from support.requires import need_binary

    if kind == "keepalived":
        need_binary("keepalived")
    r1 = vlab.routers["r1"]
    r1.ns.ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
    r1.ns.ip("link", "set", "trk0", "up")
    r1.ns.ip("link", "set", "trk1", "up")
    flag = tmp_path / "flag"
    flag.write_text("0\n")
    track = ("    track_interface {\n        trk0 weight -60\n    }\n"
             "    track_script {\n        failing\n    }\n    track_file {\n        F\n    }\n")
    body = (f'vrrp_script failing {{\n    script "/bin/false"\n    interval 1\n    weight -60\n}}\n'
            f"vrrp_track_file F {{\n    file {flag}\n}}\n" + _conf(150, track))
    (vlab.start_keepalived if kind == "keepalived" else vlab.start_lvsfast)("r1", body)
    vlab.start_lvsfast("r2", _conf(100))
    both = lambda name, st: all(vlab.routers[name].state(i) == st for i in ("VI_1", "VI_2"))
    wait_for(lambda: both("r1", "MASTER") and both("r2", "BACKUP"), timeout=20, what="r1 master of the group")
    r1.ns.ip("link", "set", "trk1", "down")
    wait_for(lambda: both("r1", "BACKUP") and both("r2", "MASTER"), timeout=10, what="r1 at 90, backup")
    r1.ns.ip("link", "set", "trk1", "up")
    wait_for(lambda: both("r1", "MASTER") and both("r2", "BACKUP"), timeout=10, what="the group back on r1")
    flag.write_text("1\n")
    wait_for(lambda: both("r1", "FAULT") and both("r2", "MASTER"), timeout=10, what="r1 in FAULT (track file)")


@pytest.mark.parametrize("kind", ["lvsfast", "keepalived"])
def test_group_weights_count_without_sync_group_tracking_weight(vlab, kind, tmp_path):
    # The sync group's own weighted track_* lines move every member's priority whether or not
    # sync_group_tracking_weight is set (it rules only the members' own lines): r1 at 90 with
    # the group's file (weight 2) holding 10 is at 110, master over r2's 100; at 0, back to 90.
    from support.requires import need_binary

    if kind == "keepalived":
        need_binary("keepalived")
    flag = tmp_path / "flag"
    flag.write_text("10\n")
    group = (f"vrrp_track_file F {{\n    file {flag}\n}}\n"
             "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n"
             "    track_file {\n        F weight 2\n    }\n}\n")
    body = group + _conf(90).split("}\n}\n", 1)[1]  # _conf's members without its plain group
    (vlab.start_keepalived if kind == "keepalived" else vlab.start_lvsfast)("r1", body)
    vlab.start_lvsfast("r2", _conf(100))
    both = lambda name, st: all(vlab.routers[name].state(i) == st for i in ("VI_1", "VI_2"))
    wait_for(lambda: both("r1", "MASTER") and both("r2", "BACKUP"), timeout=20, what="r1 at 110, master")
    flag.write_text("0\n")
    wait_for(lambda: both("r1", "BACKUP") and both("r2", "MASTER"), timeout=10, what="r1 at 90, backup")
