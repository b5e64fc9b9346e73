"""use_vmac_addr beside keepalived: a VIP on another device than the instance's gets a macvlan of
its own on that device (keepalived's vrrp<N>.<VRID>, with the virtual router MAC), and the
address goes onto it; the instance's own VIPs stay on its vrrp.<VRID>."""
from __future__ import annotations

import re
import uuid

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.vrrp_lab import VrrpLab, instance_conf

BODY = instance_conf(priority=150, advert_int=0.1,
                     vips=("10.0.0.100/24", "10.5.0.100/24 dev eth1", "10.6.0.100/24 dev eth1"),
                     extra="    use_vmac\n    use_vmac_addr\n")


def _layout(workdir, impl: str) -> dict[str, tuple[str, str, str]]:
    """{VIP: (device, its parent, its MAC)} while master, in a fresh lab."""
    with Lab(prefix="vmo" + uuid.uuid4().hex[:5]) as lab:
        vlab = VrrpLab.build(lab, workdir, n=1)
        r = vlab.routers["r1"]
        r.ns.ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
        r.ns.ip("link", "set", "eth1", "up")
        r.ns.ip("link", "set", "eth1p", "up")
        (vlab.start_keepalived if impl == "keepalived" else vlab.start_lvsfast)("r1", BODY)
        wait_for(lambda: all(r.has(a) for a in ("10.0.0.100", "10.5.0.100", "10.6.0.100")), timeout=20,
                 what=f"{impl}'s VIPs")
        links = {}
        for line in r.ns.ip("-o", "link", "show").stdout.splitlines():
            m = re.match(r"\d+: ([^@:]+)(?:@([^:]+))?: .* link/ether (\S+)", line)
            if m:
                links[m[1]] = (m[2] or "", m[3])
        out = {}
        for line in r.ns.ip("-o", "-4", "addr", "show").stdout.splitlines():
            _, dev, _, addr = line.split()[:4]
            if addr.split("/")[0].endswith(".100"):
                out[addr] = (dev, *links[dev])
        vlab.stop("r1")
        gone = r.ns.ip("-o", "link", "show").stdout
        assert "vrrp.51" not in gone and "vrrp1.51" not in gone, "macvlans left behind at stop"
        return out


def test_use_vmac_addr_puts_other_devices_vips_on_their_own_vmac(tmp_path):
    need_root()
    need_binary("ip")
    need_binary("/usr/sbin/keepalived")
    seen = {impl: _layout(tmp_path / impl, impl) for impl in ("keepalived", "lvsfast")
            if not (tmp_path / impl).mkdir()}
    assert seen["lvsfast"] == seen["keepalived"], seen
    assert seen["lvsfast"]["10.5.0.100/24"] == ("vrrp1.51", "eth1", "00:00:5e:00:01:33")
    assert seen["lvsfast"]["10.0.0.100/24"][:2] == ("vrrp.51", "eth0")
