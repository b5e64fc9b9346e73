"""Static track groups (``track_group``) on the real daemon in namespaces, beside keepalived.

keepalived 2.2.7: the instances of a track group track the interface of each static address,
route or rule that names the group; while that interface is down they are in FAULT (the VIPs
go), and they come back once it is up. A no_track line is not tracked."""
from __future__ import annotations

import uuid

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.vrrp_lab import VrrpLab, instance_conf

GROUP = "track_group TG1 {\n    group {\n        VI_1\n    }\n}\n"


def _conf(line_options: str = "") -> str:
    return (GROUP + "static_ipaddress {\n    192.168.77.1/24 dev eth1 track_group TG1" + line_options + "\n}\n"
            + "static_routes {\n    192.168.78.0/24 via 192.168.76.2 dev eth2 track_group TG1\n}\n"
            + instance_conf(priority=150, advert_int=0.1))


@pytest.fixture
def vlab(tmp_path):
    need_root()
    need_binary("ip")
    with Lab(prefix="dri" + uuid.uuid4().hex[:5]) as lab:
        v = VrrpLab.build(lab, tmp_path, n=1)
        ns = v.routers["r1"].ns
        for dev, peer in (("eth1", "e1peer"), ("eth2", "e2peer")):
            ns.ip("link", "add", dev, "type", "veth", "peer", "name", peer)
            ns.ip("link", "set", dev, "up")
            ns.ip("link", "set", peer, "up")
        ns.ip("addr", "add", "192.168.76.1/24", "dev", "eth2")
        yield v


@pytest.mark.parametrize("impl", ["keepalived", "lvsfast"])
def test_the_group_faults_while_a_static_line_s_interface_is_down(vlab, impl):
    if impl == "keepalived":
        need_binary("/usr/sbin/keepalived")
    r = vlab.routers["r1"]
    (vlab.start_keepalived if impl == "keepalived" else vlab.start_lvsfast)("r1", _conf())
    wait_for(lambda: r.state() == "MASTER" and r.has("10.0.0.100"), timeout=20, what="MASTER")
    assert r.has("192.168.77.1")
    for dev in ("eth1", "eth2"):  # the address's interface, then the route's
        r.ns.link_set(dev, False)
        wait_for(lambda: r.state() == "FAULT", timeout=10, what=f"FAULT with {dev} down")
        wait_for(lambda: not r.has("10.0.0.100"), timeout=5, what="the VIP gone in FAULT")
        r.ns.link_set(dev, True)
        wait_for(lambda: r.state() == "MASTER" and r.has("10.0.0.100"), timeout=15, what=f"MASTER with {dev} up")


@pytest.mark.parametrize("impl", ["keepalived", "lvsfast"])
def test_a_no_track_line_is_not_tracked(vlab, impl):
    if impl == "keepalived":
        need_binary("/usr/sbin/keepalived")
    r = vlab.routers["r1"]
    conf = _conf(" no_track").replace(" dev eth2 track_group TG1", " dev eth2")
    (vlab.start_keepalived if impl == "keepalived" else vlab.start_lvsfast)("r1", conf)
    wait_for(lambda: r.state() == "MASTER", timeout=20, what="MASTER")
    r.ns.link_set("eth1", False)
    import time
    time.sleep(1.5)
    assert r.state() == "MASTER"
