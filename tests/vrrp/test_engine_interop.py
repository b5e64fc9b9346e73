"""lvsfast and Debian's keepalived 2.2.7 on one segment: they elect one master and fail over both ways."""
from __future__ import annotations

import time

import pytest

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.requires import need_binary
from support.vrrp_lab import VIP, VrrpLab, instance_conf


@pytest.fixture
def vlab(lab, tmp_path):
    need_binary("keepalived")
    return VrrpLab.build(lab, tmp_path)


def _start(vlab: VrrpLab, name: str, kind: str, body: str) -> None:
    if kind == "keepalived":
        vlab.start_keepalived(name, body)
    else:
        vlab.start_lvsfast(name, body)


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("high", ["lvsfast", "keepalived"])
def test_mixed_pair_elects_and_fails_over_both_ways(vlab, version, high):
    low = "keepalived" if high == "lvsfast" else "lvsfast"
    adv = 1 if version == 2 else 0.1
    conf = lambda prio: instance_conf(priority=prio, version=version, advert_int=adv)
    _start(vlab, "r1", high, conf(150))
    _start(vlab, "r2", low, conf(100))
    vlab.wait_master("r1", timeout=20)
    time.sleep(4 * adv)
    assert vlab.master() == "r1" and vlab.routers["r2"].state() == "BACKUP"
    assert vlab.ping()
    # The higher one stops (priority 0): the other implementation takes over and serves the VIP.
    vlab.stop("r1")
    vlab.wait_master("r2", timeout=10)
    assert vlab.ping()
    assert not vlab.routers["r1"].has(VIP)
    # It comes back with the higher priority and preempts the other implementation.
    _start(vlab, "r1", high, conf(150))
    vlab.wait_master("r1", timeout=20)
    wait_for(lambda: not vlab.routers["r2"].has(VIP), timeout=10, what="VIP released by r2")
    assert vlab.ping()


def test_version_mismatch_is_logged_in_plain_words(vlab):
    vlab.start_keepalived("r2", instance_conf(priority=100, version=2, advert_int=1, state="MASTER"))
    vlab.start_lvsfast("r1", instance_conf(priority=150, version=3, advert_int=1))
    want = "received VRRPv2 advert for VRID 51 on eth0"
    wait_for(lambda: want in vlab.routers["r1"].log.read_text(errors="replace"), timeout=15,
             what="the version mismatch in lvsfast's log")
    line = next(l for l in vlab.routers["r1"].log.read_text().splitlines() if want in l)
    assert "instance VI_1 runs VRRPv3" in line
