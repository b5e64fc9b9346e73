"""bfd_master_down end to end: two lvsfast routers with a BFD session between them at
advert_int 1; cutting the master's cable makes the backup master through the BFD session (the
transition's reason says so), not the master down timer; the cut-off master changes nothing
because of its own session going down (its carrier loss is FAULT, as ever), and once the cable is back VRRP's election decides."""
from __future__ import annotations

import re
import uuid

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.vrrp_lab import VrrpLab, instance_conf

pytestmark = [pytest.mark.netns, pytest.mark.root]
ADDR = {"r1": "10.0.0.1", "r2": "10.0.0.2"}


def conf(me: str, priority: int) -> str:
    other = "r2" if me == "r1" else "r1"
    return (f"bfd_instance B {{\n    neighbor_ip {ADDR[other]}\n    source_ip {ADDR[me]}\n    min_rx 10\n"
            f"    min_tx 10\n    multiplier 3\n}}\n"
            + instance_conf(priority=priority, version=3, advert_int=1, extra="    bfd_master_down B\n"))


@pytest.fixture
def vlab(tmp_path):
    need_root()
    need_binary("ip")
    with Lab(prefix="bfr" + uuid.uuid4().hex[:5]) as lab:
        yield VrrpLab.build(lab, tmp_path)


def test_the_backup_takes_over_on_the_bfd_session_and_the_election_heals(vlab):
    vlab.start_lvsfast("r1", conf("r1", 200))
    vlab.start_lvsfast("r2", conf("r2", 100))
    vlab.wait_master("r1", timeout=30)
    wait_for(lambda: "BFD_Instance(B) Entering UP" in vlab.routers["r2"].log.read_text(), timeout=10,
             what="the BFD session up")
    vlab.cut("r1")
    wait_for(lambda: vlab.routers["r2"].state() == "MASTER", timeout=10, what="r2 master")
    r2_log = vlab.routers["r2"].log.read_text()
    took = re.findall(r"\(VI_1\) Entering MASTER STATE \((.*)\)", r2_log)
    assert took and "BFD_Instance(B) to the master went down" in took[-1], r2_log[-2000:]
    # The master's own session going down moves nothing there: the cut (its carrier gone) puts it
    # in FAULT through interface tracking, as without BFD.
    r1_log = vlab.routers["r1"].log.read_text()
    assert "BFD_Instance(B) Entering DOWN" in r1_log
    assert all("BFD" not in why for why in re.findall(r"\(VI_1\) Entering \w+ STATE \((.*)\)", r1_log)), r1_log
    # The cable back: adverts again, and the election gives r1 (200) the role back.
    vlab.cut("r1", up=True)
    vlab.wait_master("r1", timeout=15)
    wait_for(lambda: vlab.routers["r2"].state() == "BACKUP", timeout=10, what="r2 backup")
