"""VRRPv2 adverts carry whole seconds: a sub-second advert_int is rounded as keepalived rounds it
(at least 1 s), instead of reaching the advert builder, which refuses it."""
from __future__ import annotations

import pytest

from lvsfast.config import loads
from lvsfast.vrrp import spec


@pytest.mark.parametrize("version,interval,cs", [(2, 0.1, 100), (2, 1.6, 200), (2, 3, 300), (3, 0.1, 10), (3, 0.01, 1)])
def test_advert_interval_by_version(version, interval, cs):
    cfg = loads(f"vrrp_instance V {{\n interface eth0\n virtual_router_id 7\n version {version}\n"
                f" advert_int {interval}\n priority 100\n virtual_ipaddress {{\n 10.3.3.9/24\n }}\n}}\n")
    built = spec.build(cfg.vrrp_instances[0], cfg, address_of=lambda ifname, family: "10.3.3.1")
    assert built.params.adver_int_cs == cs
