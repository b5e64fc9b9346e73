"""use_vmac in namespaces: the VIP answers with the virtual router MAC, which moves with mastership,
so the client's neighbour entry stays valid across a failover."""
from __future__ import annotations

import pytest

from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_lab import VIP, VrrpLab, instance_conf

VMAC = "00:00:5e:00:01:33"  # VRID 51


@pytest.fixture
def vlab(lab, tmp_path):
    return VrrpLab.build(lab, tmp_path)


def test_use_vmac_moves_the_virtual_mac(vlab):
    conf = lambda p: instance_conf(priority=p, advert_int=0.1, extra="    use_vmac\n")
    vlab.start_lvsfast("r1", conf(150))
    vlab.start_lvsfast("r2", conf(100))
    vlab.wait_master("r1")
    r1 = vlab.routers["r1"].ns
    link = r1.ip("-d", "link", "show", "vrrp.51").stdout
    assert VMAC in link and "macvlan mode bridge" in link
    assert f" {VIP}/" in r1.ip("-o", "addr", "show", "dev", "vrrp.51").stdout
    assert vlab.ping()
    assert VMAC in vlab.client.ip("neigh", "show", VIP).stdout
    vlab.stop("r1")
    vlab.wait_master("r2", timeout=5)
    assert vlab.ping()  # no neighbour flush: the MAC did not change
    assert VMAC in vlab.client.ip("neigh", "show", VIP).stdout
    assert "vrrp.51" not in r1.ip("link", "show").stdout  # the macvlan we made is removed on stop
