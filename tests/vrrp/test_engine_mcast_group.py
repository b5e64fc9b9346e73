"""vrrp_mcast_group4/6: adverts go to the configured group and are heard on it, as keepalived does.

A pair where only one side honours the group splits brain, so the group is checked against
keepalived 2.2.7 set the same way (they elect one master) and set differently (neither hears the
other, both become master: what keepalived itself does with mismatched groups).
"""
from __future__ import annotations

import time

import pytest

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.requires import need_binary
from support.vrrp_lab import VIP, VIP6, VrrpLab, instance_conf

GROUP4 = "224.0.0.100"
GROUP6 = "ff02::1:100"


@pytest.fixture
def vlab(lab, tmp_path):
    need_binary("keepalived")
    return VrrpLab.build(lab, tmp_path)


def _body(prio: int, group: str | None, *, family: int = 4) -> str:
    g = ""
    if group:
        g = f"global_defs {{\n    vrrp_mcast_group{family} {group}\n}}\n"
    vips = (f"{VIP}/24",) if family == 4 else (f"{VIP6}/64",)
    return g + instance_conf(priority=prio, version=3, advert_int=0.1, vips=vips)


def _start(vlab: VrrpLab, name: str, kind: str, body: str) -> None:
    (vlab.start_keepalived if kind == "keepalived" else vlab.start_lvsfast)(name, body)


@pytest.mark.parametrize("high", ["lvsfast", "keepalived"])
def test_same_group_as_keepalived_elects_one_master_and_fails_over(vlab, high):
    low = "keepalived" if high == "lvsfast" else "lvsfast"
    _start(vlab, "r1", high, _body(150, GROUP4))
    _start(vlab, "r2", low, _body(100, GROUP4))
    vlab.wait_master("r1", timeout=20)
    time.sleep(0.5)  # five advert intervals: a backup that did not hear r1 would have taken over
    assert vlab.master() == "r1" and vlab.routers["r2"].state() == "BACKUP"
    assert not vlab.routers["r2"].has(VIP)
    vlab.stop("r1")
    vlab.wait_master("r2", timeout=10)
    assert vlab.ping()


def test_adverts_to_the_default_group_are_not_heard_on_another(vlab):
    # keepalived on the default group, lvsfast on 224.0.0.100: as between two keepalived routers
    # set this way, neither hears the other and both hold the VIP.
    vlab.start_keepalived("r2", _body(100, None))
    vlab.start_lvsfast("r1", _body(150, GROUP4))
    both = lambda: all(vlab.routers[n].state() == "MASTER" for n in ("r1", "r2"))
    wait_for(both, timeout=20, what="both routers master")
    time.sleep(0.5)
    assert both() and vlab.routers["r1"].has(VIP) and vlab.routers["r2"].has(VIP)


def test_ipv6_group_between_two_lvsfast_routers(vlab):
    vlab.start_lvsfast("r1", _body(150, GROUP6, family=6))
    vlab.start_lvsfast("r2", _body(100, GROUP6, family=6))
    vlab.wait_master("r1", timeout=20)
    time.sleep(0.5)
    assert vlab.routers["r2"].state() == "BACKUP"
    assert not vlab.routers["r2"].has(VIP6)
