"""A crashed VRRP child is restarted by the parent and the VIPs stay consistent; SIGTERM hands over."""
from __future__ import annotations

import os
import signal

from lvsfast.daemon.control import request
from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_lab import VIP, VrrpLab, instance_conf


def test_killed_vrrp_child_restarts_and_vips_stay_consistent(lab, tmp_path):
    v = VrrpLab.build(lab, tmp_path)
    r1 = v.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1))
    r2 = v.start_lvsfast("r2", instance_conf(priority=100, advert_int=0.1))
    v.wait_master("r1")
    child = request(r1.sock, "status")["children"]["vrrp"]["pid"]
    os.kill(child, signal.SIGKILL)  # no priority 0, no VIP removal: a crash

    def restarted():
        c = request(r1.sock, "status")["children"]["vrrp"]
        return c if c["pid"] not in (0, child) and c.get("status") else None

    c = wait_for(restarted, timeout=20, what="the VRRP child restarted")
    assert c["restarts"] == 1 and "SIGKILL" in c["last_exit"]
    v.wait_master("r1", timeout=10)
    # Consistent: exactly one router holds the VIP, and the client reaches it.
    wait_for(lambda: v.routers["r1"].has(VIP) and not v.routers["r2"].has(VIP), timeout=5, what="one VIP holder")
    assert v.ping()
    # SIGTERM on the master: priority 0, VIPs released, the backup takes over.
    v.stop("r1")
    v.wait_master("r2", timeout=3)
    assert not v.routers["r1"].has(VIP) and v.ping()
