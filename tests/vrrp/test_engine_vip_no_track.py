"""A virtual_ipaddress line's no_track, on the real daemon in namespaces, beside keepalived.

keepalived 2.2.7 (man 5 keepalived.conf, and observed): an instance does not leave MASTER when a
no_track address is deleted, and the address is not put back until the instance next becomes
master. A tracked VIP deleted while master bounces the instance through BACKUP."""
from __future__ import annotations

import time
import uuid

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.vrrp_lab import VrrpLab, instance_conf

VIPS = ("10.0.0.100/24 no_track", "10.0.0.101/24")


@pytest.fixture
def vlab(tmp_path):
    need_root()
    need_binary("ip")
    with Lab(prefix="vmo" + uuid.uuid4().hex[:5]) as lab:
        yield VrrpLab.build(lab, tmp_path)


def _delete_both(r) -> None:
    for addr in ("10.0.0.100/24", "10.0.0.101/24"):
        r.ns.ip("addr", "del", addr, "dev", "eth0")


@pytest.mark.parametrize("impl", ["keepalived", "lvsfast"])
def test_a_deleted_no_track_vip_stays_away_and_the_master_stays(vlab, impl):
    if impl == "keepalived":
        need_binary("/usr/sbin/keepalived")
    body = instance_conf(priority=150, advert_int=0.1, vips=VIPS)
    (vlab.start_keepalived if impl == "keepalived" else vlab.start_lvsfast)("r1", body)
    r = vlab.routers["r1"]
    wait_for(lambda: r.has("10.0.0.100") and r.has("10.0.0.101"), timeout=20, what="the VIPs")
    r.ns.ip("addr", "del", "10.0.0.100/24", "dev", "eth0")
    deadline = time.monotonic() + 7  # past lvsfast's 5 s resync, well past a netlink notice
    while time.monotonic() < deadline:
        assert r.state() == "MASTER"
        assert not r.has("10.0.0.100"), "a no_track VIP was put back"
        time.sleep(0.25)


@pytest.mark.parametrize("impl", ["keepalived", "lvsfast"])
def test_a_deleted_tracked_vip_bounces_the_master_which_puts_every_vip_back(vlab, impl):
    """keepalived 2.2.7: a tracked VIP deleted while master sends the instance to BACKUP (its
    VIPs released) and, after the skew time alone, back to MASTER with every VIP, no_track
    ones included."""
    if impl == "keepalived":
        need_binary("/usr/sbin/keepalived")
    (vlab.start_keepalived if impl == "keepalived" else vlab.start_lvsfast)(
        "r1", instance_conf(priority=150, advert_int=0.1, vips=VIPS))
    r1 = vlab.routers["r1"]
    wait_for(lambda: r1.has("10.0.0.100") and r1.has("10.0.0.101"), timeout=20, what="the VIPs")
    _delete_both(r1)
    wait_for(lambda: r1.has("10.0.0.100") and r1.has("10.0.0.101"), timeout=10,
             what="both VIPs back, the no_track one with the tracked one")
    assert r1.state() == "MASTER"
    log = r1.log.read_text()
    assert log.rfind("Entering BACKUP STATE") > log.find("Entering MASTER STATE") > 0, log[-2000:]
