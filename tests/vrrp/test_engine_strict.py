"""vrrp_strict in namespaces: a non-owner master without ``accept`` drops traffic to its VIPs;
``accept`` lets it through; what strict mode forbids is refused with a plain message; virtual
routes follow mastership."""
from __future__ import annotations

import pytest

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_lab import VIP, VrrpLab, instance_conf

STRICT = "global_defs {\n    vrrp_strict\n}\n"


@pytest.fixture
def vlab(lab, tmp_path):
    return VrrpLab.build(lab, tmp_path)


def test_strict_without_accept_drops_vip_traffic_and_accept_allows_it(vlab):
    r1 = vlab.routers["r1"]
    vlab.start_lvsfast("r1", STRICT + instance_conf(priority=150, advert_int=0.1))
    vlab.wait_master("r1")
    # The drop rule (an nft run) goes in before the VIP, so the VIP can follow MASTER by a moment.
    wait_for(lambda: r1.has(VIP), timeout=10, what="the VIP on the new master")
    assert not vlab.ping(count=2)  # Accept_Mode False: the VIP is held but not answered
    vlab.stop("r1")
    assert "lvsfast_vrrp" in r1.ns.run("nft", "list", "tables").stdout
    assert VIP not in r1.ns.run("nft", "list", "set", "inet", "lvsfast_vrrp", "vips4").stdout  # released
    vlab.start_lvsfast("r1", STRICT + instance_conf(priority=150, advert_int=0.1, extra="    accept\n"))
    vlab.wait_master("r1")
    assert vlab.ping()


def test_strict_refuses_unicast_in_plain_words(vlab):
    uni = "    unicast_peer {\n        10.0.0.2\n    }\n"
    vlab.start_lvsfast("r1", STRICT + instance_conf(priority=150, advert_int=0.1, extra=uni))
    assert "unicast_peer is not allowed in strict mode" in vlab.routers["r1"].log.read_text()


def test_virtual_routes_follow_mastership(vlab):
    routes = "    virtual_routes {\n        192.0.2.0/24 via 10.0.0.10 dev eth0\n    }\n"
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1, extra=routes))
    vlab.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1, extra=routes))
    vlab.wait_master("r1")
    has_route = lambda r: "192.0.2.0/24" in vlab.routers[r].ns.ip("route", "show").stdout
    assert has_route("r1") and not has_route("r2")
    vlab.stop("r1")
    vlab.wait_master("r2", timeout=5)
    assert has_route("r2") and not has_route("r1")
