"""The VRRP engine in namespaces: the real daemon on two routers, a client pinging the VIP."""
from __future__ import annotations

import signal
import time

import pytest

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_lab import VIP, VIP6, VrrpLab, instance_conf, longest_gap, wait_replies


@pytest.fixture
def vlab(lab, tmp_path):
    return VrrpLab.build(lab, tmp_path)


def test_election_failover_and_preempt(vlab):
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1))
    vlab.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1))
    vlab.wait_master("r1")
    assert vlab.routers["r1"].has(VIP) and not vlab.routers["r2"].has(VIP)
    assert vlab.ping()
    # Graceful stop: priority-0 hand-over, and the client's traffic resumes.
    pinger = vlab.pinger()
    before = wait_replies(pinger, 30)  # traffic flows before the stop
    vlab.stop("r1")
    vlab.wait_master("r2", timeout=5)
    wait_replies(pinger, before + 30)  # and again through r2
    gap, replies = longest_gap(pinger)
    assert replies > 50 and gap < 2.0, (gap, replies)
    assert not vlab.routers["r1"].has(VIP)  # a stopped master releases its VIPs
    # r1 returns with the higher priority and preempts.
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1))
    vlab.wait_master("r1", timeout=10)
    assert vlab.ping() and not vlab.routers["r2"].has(VIP)


def test_stopping_master_answers_until_its_successor_speaks(vlab):
    # advert_int 1 (v2): after the priority-0 advert r2 waits its skew time, 0.61 s, before it
    # takes over. r1 keeps the VIP and answers through that wait, so the client sees no gap of
    # the skew's length (without the hold the gap is at least the skew time).
    vlab.start_lvsfast("r1", instance_conf(priority=150, version=2, advert_int=1))
    vlab.start_lvsfast("r2", instance_conf(priority=100, version=2, advert_int=1))
    vlab.wait_master("r1")
    pinger = vlab.pinger()
    before = wait_replies(pinger, 30)
    vlab.stop("r1")
    vlab.wait_master("r2", timeout=5)
    wait_replies(pinger, before + 30)
    gap, replies = longest_gap(pinger)
    skew = (256 - 100) / 256
    assert replies > 50 and gap < skew / 2, (gap, replies)
    assert not vlab.routers["r1"].has(VIP)  # and it let go once r2 spoke
    assert "removed 10.0.0.100/24" in vlab.routers["r1"].log.read_text()


def test_nopreempt_keeps_the_current_master(vlab):
    vlab.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1))
    vlab.wait_master("r2")
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1, extra="    nopreempt\n"))
    time.sleep(2)
    assert vlab.master() == "r2"


def test_cable_cut_and_split_brain_heal(vlab):
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1))
    vlab.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1))
    vlab.wait_master("r1")
    pinger = vlab.pinger()
    before = wait_replies(pinger, 20)
    vlab.cut("r1")  # the switch port goes down: r1 is cut off, r2 must take over
    wait_for(lambda: vlab.routers["r2"].state() == "MASTER", timeout=5, what="r2 master after the cut")
    wait_replies(pinger, before + 20)
    gap, replies = longest_gap(pinger)
    assert replies > 30 and gap < 3.0, (gap, replies)
    vlab.cut("r1", up=True)
    vlab.wait_master("r1", timeout=10)  # healed: exactly one master, the higher priority
    assert vlab.ping()


def test_unicast_peers(vlab):
    uni = lambda me, peer: f"    unicast_src_ip 10.0.0.{me}\n    unicast_peer {{\n        10.0.0.{peer}\n    }}\n"
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1, extra=uni(1, 2)))
    vlab.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1, extra=uni(2, 1)))
    vlab.wait_master("r1")
    vlab.stop("r1")
    vlab.wait_master("r2", timeout=5)
    assert vlab.ping()


def test_ipv6_instance(vlab):
    conf = lambda p: instance_conf(priority=p, advert_int=0.1, vips=(f"{VIP6}/64",), name="VI_6")
    vlab.start_lvsfast("r1", conf(150))
    vlab.start_lvsfast("r2", conf(100))
    wait_for(lambda: vlab.routers["r1"].state("VI_6") == "MASTER" and vlab.routers["r2"].state("VI_6") == "BACKUP",
             timeout=20, what="IPv6 election")
    assert vlab.ping(VIP6)
    vlab.stop("r1")
    wait_for(lambda: vlab.routers["r2"].state("VI_6") == "MASTER", timeout=5, what="IPv6 failover")
    assert vlab.ping(VIP6)


def test_track_script_moves_mastership_and_track_interface_faults(vlab, tmp_path):
    flag = tmp_path / "healthy"
    flag.write_text("ok")
    script = tmp_path / "check.sh"
    script.write_text(f"#!/bin/sh\ntest -e {flag}\n")
    script.chmod(0o755)
    scripts = f"vrrp_script chk {{\n    script \"{script}\"\n    interval 0.2\n    weight -100\n    fall 1\n    rise 1\n}}\n"
    track = "    track_script {\n        chk\n    }\n"
    vlab.start_lvsfast("r1", scripts + instance_conf(priority=150, advert_int=0.1, extra=track))
    vlab.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1))
    vlab.wait_master("r1")
    flag.unlink()
    vlab.wait_master("r2", timeout=10)
    assert vlab.routers["r1"].status()["instances"]["VI_1"]["priority"] == 50
    flag.write_text("ok")
    vlab.wait_master("r1", timeout=10)
    # track_interface: a tracked link going down forces FAULT.
    r1 = vlab.routers["r1"].ns
    r1.ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
    r1.ip("link", "set", "trk0", "up")
    r1.ip("link", "set", "trk1", "up")
    vlab.stop("r1")
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1,
                                           extra="    track_interface {\n        trk0\n    }\n"))
    vlab.wait_master("r1")
    r1.ip("link", "set", "trk1", "down")  # trk0 loses its carrier
    wait_for(lambda: vlab.routers["r1"].state() == "FAULT", timeout=5, what="FAULT on r1")
    vlab.wait_master("r2", timeout=5)
    assert not vlab.routers["r1"].has(VIP)


def test_lost_vip_is_put_back(vlab):
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1))
    vlab.wait_master("r1")
    vlab.routers["r1"].ns.ip("addr", "del", f"{VIP}/24", "dev", "eth0")
    wait_for(lambda: vlab.routers["r1"].has(VIP), timeout=5, what="VIP restored")
    assert vlab.ping()


def test_track_file_weight_and_track_process_fault(vlab, tmp_path):
    import shutil
    import subprocess

    value = tmp_path / "weightfile"
    value.write_text("0\n")
    daemon = tmp_path / "lvsfasttrk"  # a process name no one else on the machine runs
    shutil.copy("/bin/sleep", daemon)
    proc = subprocess.Popen([str(daemon), "600"])
    try:
        blocks = (f"vrrp_track_file tf {{\n    file \"{value}\"\n}}\n"
                  f"vrrp_track_process tp {{\n    process lvsfasttrk\n    weight 0\n}}\n")
        track = "    track_file {\n        tf weight -1\n    }\n    track_process {\n        tp\n    }\n"
        vlab.start_lvsfast("r1", blocks + instance_conf(priority=150, advert_int=0.1, extra=track))
        vlab.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1))
        vlab.wait_master("r1")
        value.write_text("80\n")  # 150 - 80 = 70 < 100: r2 takes over
        vlab.wait_master("r2", timeout=10)
        assert vlab.routers["r1"].status()["instances"]["VI_1"]["priority"] == 70
        assert vlab.ping()
        value.write_text("0\n")
        vlab.wait_master("r1", timeout=10)
        proc.kill()
        proc.wait()
        wait_for(lambda: vlab.routers["r1"].state() == "FAULT", timeout=10, what="FAULT when the process is gone")
        vlab.wait_master("r2", timeout=5)
        assert vlab.ping()
    finally:
        proc.kill()


def test_stale_vip_from_a_crash_does_not_survive_on_a_backup(vlab):
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1))
    vlab.wait_master("r1")
    # r2 "crashed" while master: its VIP is still in the kernel when it starts again.
    vlab.routers["r2"].ns.ip("addr", "add", f"{VIP}/24", "dev", "eth0")
    vlab.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1))
    wait_for(lambda: vlab.routers["r2"].state() == "BACKUP", timeout=10, what="r2 backup")
    assert not vlab.routers["r2"].has(VIP)
    vlab.client.run("ip", "neigh", "flush", "dev", "eth0", check=False)
    assert vlab.ping()
    assert "removed stale VIPs" in vlab.routers["r2"].log.read_text()
