"""Inside the VM (Debian's kernel has ipvlan; this host's test kernel does not): use_ipvlan on
the real daemon in namespaces, with a keepalived 2.2.7 peer.

keepalived (man 5 keepalived.conf): ``use_ipvlan [NAME] [ADDRESS] [bridge|private|vepa]``
creates an L2 ipvlan on the instance's interface, with that address as the instance's own (and
its adverts' source). keepalived 2.2.7 puts the VIPs on the instance's interface, not on the
ipvlan (only use_vmac moves them): an ipvlan shares its parent's MAC and the kernel hands it the
frames addressed to its own IPs, ARP replies included, so a VIP on the ipvlan answered by the
parent's route never got its reply out. lvsfast and keepalived, each so set up on its router,
elect one master and hand over both ways; the VIP sits where keepalived puts it and the client
reaches it on whichever is master. lvsfast removes the ipvlan it made at stop."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.ipvs import IN_VM
from support.vrrp_lab import VIP, VrrpLab, instance_conf


def _conf(priority: int, addr: str, mode: str = "") -> str:
    return instance_conf(priority=priority, advert_int=0.1, extra=f"    use_ipvlan ipvl0 {addr}/24 {mode}\n")


def _ipvlan(r) -> str:
    return r.ns.ip("-d", "-o", "link", "show", "ipvl0", check=False).stdout


class TestIpvlan:
    __test__ = IN_VM

    def test_lvsfast_and_keepalived_over_ipvlans(self) -> None:
        subprocess.run(["modprobe", "ipvlan"], capture_output=True)
        if shutil.which("keepalived") is None and not Path("/usr/sbin/keepalived").exists():
            pytest.fail("keepalived is not installed in the VM's root")
        with tempfile.TemporaryDirectory() as wd, Lab(prefix="dri" + uuid.uuid4().hex[:5]) as lab:
            vlab = VrrpLab.build(lab, Path(wd))
            r1, r2 = vlab.routers["r1"], vlab.routers["r2"]
            try:
                vlab.start_lvsfast("r1", _conf(150, "10.0.0.21", "private"))
                vlab.start_keepalived("r2", _conf(100, "10.0.0.22"))
                vlab.wait_master("r1")
                link = _ipvlan(r1)
                assert "ipvlan" in link and "mode l2 private" in link, link
                assert "10.0.0.21/24" in " ".join(r1.ns.addresses("ipvl0"))
                wait_for(lambda: f"{VIP}/24" in r1.ns.addresses("eth0"), timeout=10,
                         what="the VIP on r1's interface")
                assert f"{VIP}/24" not in r1.ns.addresses("ipvl0")
                assert "mode l2 bridge" in _ipvlan(r2)
                assert not r2.has(VIP)  # keepalived hears lvsfast's adverts (from 10.0.0.21)
                assert vlab.ping()
                vlab.stop("r1")
                vlab.wait_master("r2")
                wait_for(lambda: f"{VIP}/24" in r2.ns.addresses("eth0"), timeout=10,
                         what="keepalived's VIP on r2's interface")
                assert f"{VIP}/24" not in r2.ns.addresses("ipvl0")  # where lvsfast puts it too
                assert vlab.ping()
                assert _ipvlan(r1) == "", "lvsfast left its ipvlan behind"
                vlab.start_lvsfast("r1", _conf(150, "10.0.0.21", "private"))
                vlab.wait_master("r1")
                wait_for(lambda: not r2.has(VIP), timeout=10, what="keepalived releasing the VIP")
                wait_for(lambda: f"{VIP}/24" in r1.ns.addresses("eth0"), timeout=10,
                         what="the VIP back on r1's interface")
                assert vlab.ping()  # the client has r1's MAC again from lvsfast's gratuitous ARP
            finally:
                for name in ("r1", "r2"):
                    vlab.stop(name)
