"""lvsfast with FRR 8.4's vrrpd (VRRPv3): one master, failover both ways, client pings the VIP."""
from __future__ import annotations

import pytest

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_frr import Frr
from support.vrrp_lab import VIP, VrrpLab, instance_conf


@pytest.fixture
def vlab(lab, tmp_path):
    return VrrpLab.build(lab, tmp_path)


@pytest.mark.parametrize("high", ["lvsfast", "frr"])
def test_lvsfast_and_frr_elect_and_fail_over_both_ways(vlab, high, request):
    frr = Frr.on(vlab, "r2" if high == "lvsfast" else "r1")
    request.addfinalizer(frr.close)
    lf = "r1" if high == "lvsfast" else "r2"
    prio = {"lvsfast": 150, "frr": 100} if high == "lvsfast" else {"lvsfast": 100, "frr": 150}
    start_lf = lambda: vlab.start_lvsfast(lf, instance_conf(priority=prio["lvsfast"], advert_int=0.1))
    start_frr = lambda: frr.start(priority=prio["frr"], vip=VIP, interval_ms=100)
    start_lf()
    start_frr()
    vlab.wait_master("r1", timeout=20)
    wait_for(lambda: vlab.routers["r2"].state() == "BACKUP", timeout=5, what="r2 backup")
    assert vlab.master() == "r1"
    assert vlab.ping()
    # The master stops; the other implementation takes over and the client still reaches the VIP.
    if high == "lvsfast":
        vlab.stop("r1")
    else:
        frr.stop()
    vlab.wait_master("r2", timeout=10)
    vlab.client.run("ip", "neigh", "flush", "dev", "eth0", check=False)
    assert vlab.ping()
    # It returns with the higher priority and takes the VIP back.
    start_lf() if high == "lvsfast" else start_frr()
    vlab.wait_master("r1", timeout=20)
    vlab.client.run("ip", "neigh", "flush", "dev", "eth0", check=False)
    assert vlab.ping()
