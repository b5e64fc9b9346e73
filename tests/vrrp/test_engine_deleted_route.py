"""A virtual route or rule deleted by someone else while master, on the real daemon in a
namespace, beside keepalived 2.2.7: as for a VIP, the instance leaves MASTER for BACKUP (its
VIPs, routes and rules released) and takes over again after its skew time, putting everything
back; a no_track route is left deleted and the master stays."""
from __future__ import annotations

import time
import uuid

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.vrrp_lab import VrrpLab, instance_conf

EXTRA = """    virtual_routes {
        192.168.90.0/24 dev eth0
        192.168.91.0/24 dev eth0 no_track
    }
    virtual_rules {
        from 192.168.92.0/24 table 100 preference 100
    }
"""


@pytest.fixture
def vlab(tmp_path):
    need_root()
    need_binary("ip")
    with Lab(prefix="dri" + uuid.uuid4().hex[:5]) as lab:
        yield VrrpLab.build(lab, tmp_path, n=1)


def _routes(r) -> str:
    return r.ns.ip("route", "show", "proto", "keepalived").stdout


def _rules(r) -> str:
    return r.ns.ip("rule", "show").stdout


def _entries(r) -> int:
    return r.log.read_text().count("Entering BACKUP STATE")


@pytest.mark.parametrize("impl", ["keepalived", "lvsfast"])
def test_a_deleted_route_or_rule_bounces_the_master(vlab, impl):
    if impl == "keepalived":
        need_binary("/usr/sbin/keepalived")
    r = vlab.routers["r1"]
    (vlab.start_keepalived if impl == "keepalived" else vlab.start_lvsfast)(
        "r1", instance_conf(priority=150, advert_int=0.1, extra=EXTRA))
    wait_for(lambda: "192.168.90.0/24" in _routes(r) and "192.168.92.0/24" in _rules(r), timeout=20,
             what="the routes and rule")
    before = _entries(r)
    r.ns.ip("route", "del", "192.168.90.0/24", "dev", "eth0", "proto", "keepalived")
    wait_for(lambda: _entries(r) == before + 1, timeout=10, what="BACKUP after the route's deletion")
    wait_for(lambda: r.state() == "MASTER" and "192.168.90.0/24" in _routes(r), timeout=10,
             what="MASTER again with the route")
    r.ns.ip("rule", "del", "from", "192.168.92.0/24", "table", "100", "preference", "100")
    wait_for(lambda: _entries(r) == before + 2, timeout=10, what="BACKUP after the rule's deletion")
    wait_for(lambda: r.state() == "MASTER" and "192.168.92.0/24" in _rules(r), timeout=10,
             what="MASTER again with the rule")
    r.ns.ip("route", "del", "192.168.91.0/24", "dev", "eth0", "proto", "keepalived")
    time.sleep(1.5)
    assert _entries(r) == before + 2 and r.state() == "MASTER"
    assert "192.168.91.0/24" not in _routes(r)
