"""A virtual_ipaddress line's no_track, on the real daemon in namespaces, beside keepalived.

keepalived 2.2.7 (man 5 keepalived.conf, and observed): an instance does not leave MASTER when a
no_track address is deleted, and the address is not put back until the instance next becomes
master. A tracked VIP deleted behind lvsfast's back is put back while master."""
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


def test_a_tracked_vip_is_put_back_but_no_track_only_at_the_next_master(vlab):
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1, vips=VIPS))
    r1 = vlab.routers["r1"]
    wait_for(lambda: r1.has("10.0.0.100") and r1.has("10.0.0.101"), timeout=20, what="the VIPs")
    _delete_both(r1)
    wait_for(lambda: r1.has("10.0.0.101"), timeout=10, what="the tracked VIP put back")
    assert not r1.has("10.0.0.100") and r1.state() == "MASTER"
    # A higher priority router takes over and leaves: r1 becomes master again, with both VIPs.
    vlab.start_lvsfast("r2", instance_conf(priority=200, advert_int=0.1, vips=VIPS))
    vlab.wait_master("r2")
    vlab.stop("r2")
    vlab.wait_master("r1")
    wait_for(lambda: r1.has("10.0.0.100") and r1.has("10.0.0.101"), timeout=10,
             what="the no_track VIP back at the next transition to master")
