"""keepalived's VRRP options, each on the real daemon in namespaces: check_unicast_src with peers'
TTL ranges, unicast_ttl, dont_track_primary, vrrp_startup_delay, promote_secondaries."""
from __future__ import annotations

import time

import pytest

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.requires import need_binary
from support.vrrp_lab import VIP, VrrpLab, instance_conf


@pytest.fixture
def vlab(lab, tmp_path):
    return VrrpLab.build(lab, tmp_path)


def _unicast(prio: int, peer: str, extra: str = "", peer_opts: str = "") -> str:
    return instance_conf(priority=prio, advert_int=0.1, extra=f"""    unicast_src_ip 10.0.0.{1 if prio == 150 else 2}
    unicast_peer {{
        {peer} {peer_opts}
    }}
{extra}""")


def _both_master(vlab: VrrpLab) -> bool:
    return all(vlab.routers[n].state() == "MASTER" for n in ("r1", "r2"))


def test_check_unicast_src_ignores_adverts_from_outside_the_peer_list(vlab):
    # r2 lists 10.0.0.9 as its only peer, so r1's adverts (from 10.0.0.1) do not count.
    vlab.start_lvsfast("r1", _unicast(150, "10.0.0.2"))
    vlab.start_lvsfast("r2", _unicast(100, "10.0.0.9", "    check_unicast_src\n"))
    wait_for(lambda: _both_master(vlab), timeout=20, what="both routers master")
    st = vlab.routers["r2"].status()["instances"]["VI_1"]
    assert st["unicast_src_drops"] > 0
    assert "dropped (check_unicast_src): not a unicast peer" in vlab.routers["r2"].log.read_text()


def test_check_unicast_src_accepts_its_peer(vlab):
    vlab.start_lvsfast("r1", _unicast(150, "10.0.0.2"))
    vlab.start_lvsfast("r2", _unicast(100, "10.0.0.1", "    check_unicast_src\n"))
    vlab.wait_master("r1")
    time.sleep(0.5)
    assert vlab.routers["r2"].state() == "BACKUP"
    assert vlab.routers["r2"].status()["instances"]["VI_1"]["unicast_src_drops"] == 0


@pytest.mark.parametrize("min_ttl,heard", [(5, True), (20, False)])
def test_unicast_ttl_against_a_peers_ttl_range(vlab, min_ttl, heard):
    # r1 sends its unicast adverts with TTL 10; r2 takes only TTLs from min_ttl to 255.
    vlab.start_lvsfast("r1", _unicast(150, "10.0.0.2", "    unicast_ttl 10\n"))
    vlab.start_lvsfast("r2", _unicast(100, "10.0.0.1", peer_opts=f"min_ttl {min_ttl}"))
    if heard:
        vlab.wait_master("r1")
        time.sleep(0.5)
        assert vlab.routers["r2"].state() == "BACKUP"
    else:
        wait_for(lambda: _both_master(vlab), timeout=20, what="both routers master")
        assert "TTL 10 outside 20-255" in vlab.routers["r2"].log.read_text()


@pytest.mark.parametrize("dont_track", [False, True])
def test_dont_track_primary_keeps_the_instance_out_of_fault(vlab, dont_track):
    extra = "    dont_track_primary\n" if dont_track else ""
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1, extra=extra))
    vlab.wait_master("r1")
    vlab.routers["r1"].ns.ip("link", "set", "eth0", "down")
    if dont_track:
        time.sleep(1.0)  # ten advert intervals: a tracked primary would have faulted long before
        assert vlab.routers["r1"].state() == "MASTER"
    else:
        wait_for(lambda: vlab.routers["r1"].state() == "FAULT", timeout=10, what="FAULT on the primary's loss")


def test_vrrp_startup_delay_holds_the_instances_back(vlab):
    body = "global_defs {\n    vrrp_startup_delay 3\n}\n" + instance_conf(priority=150, advert_int=0.1,
                                                                               state="MASTER")
    t0 = time.monotonic()
    r1 = vlab.start_lvsfast("r1", body)
    assert r1.state() != "MASTER" and not r1.has(VIP)
    vlab.wait_master("r1", timeout=20)
    assert time.monotonic() - t0 >= 3
    assert "vrrp_startup_delay: instances start in 3 s" in r1.log.read_text()


def test_promote_secondaries_is_set_on_the_interface(vlab):
    r1 = vlab.routers["r1"]
    r1.ns.run("sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=0")
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1, extra="    promote_secondaries\n"))
    vlab.wait_master("r1")
    out = r1.ns.run("sysctl", "-n", "net.ipv4.conf.eth0.promote_secondaries").stdout.strip()
    assert out == "1"


def test_same_options_accepted_by_keepalived(vlab, tmp_path):
    # The configurations above are keepalived's own language: its config test agrees.
    need_binary("keepalived")
    import subprocess

    conf = tmp_path / "ka.conf"
    conf.write_text("global_defs {\n    vrrp_startup_delay 3\n}\n"
                    + _unicast(100, "10.0.0.1", "    check_unicast_src\n    unicast_ttl 10\n    dont_track_primary\n"
                               "    promote_secondaries\n    higher_prio_send_advert\n", "min_ttl 20"))
    res = vlab.routers["r1"].ns.run("/usr/sbin/keepalived", "-t", "-f", str(conf), check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([__import__("sys").executable, "-m", "lvsfast.cli", "-t", "-f", str(conf)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_keepalived_hears_unicast_adverts_sent_with_unicast_ttl(vlab):
    # keepalived 2.2.7 takes unicast adverts whatever their TTL (only multicast ones must be 255),
    # so a unicast_ttl below 255 still reaches a keepalived peer.
    need_binary("keepalived")
    vlab.start_lvsfast("r1", _unicast(150, "10.0.0.2", "    unicast_ttl 10\n"))
    vlab.start_keepalived("r2", _unicast(100, "10.0.0.1"))
    vlab.wait_master("r1")
    time.sleep(1.0)
    assert vlab.routers["r2"].state() == "BACKUP"
