"""bfd_instance, track_bfd and BFD_CHECK: ``lvsfast -t``'s verdict (exit status) is ``keepalived -t``'s on
each file, both run in one namespace that has the interface they name."""
from __future__ import annotations

import pytest

from support.config import both_tests, keepalived_namespace

# (keepalived 2.2.7 crashes on a bfd_instance without a name, so that case is not compared.)
CASES = {
    'badnbr': 'bfd_instance B1 {\n neighbor_ip bogus\n}\n',
    'badsrc': 'bfd_instance B2 {\n neighbor_ip 10.0.0.2\n source_ip 10.0.0.x\n}\n',
    'bfdcheck': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\nvirtual_server 10.1.1.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.1.1.2 80 {\n  BFD_CHECK {\n   name B1\n  }\n }\n}\n',
    'bfdcheckmissing': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\nvirtual_server 10.1.1.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.1.1.2 80 {\n  BFD_CHECK {\n   name B8\n  }\n }\n}\n',
    'bfdchecknoname': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\nvirtual_server 10.1.1.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.1.1.2 80 {\n  BFD_CHECK {\n   alpha\n  }\n }\n}\n',
    'bfdcheckvrrponly': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n vrrp\n}\nvirtual_server 10.1.1.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.1.1.2 80 {\n  BFD_CHECK {\n   name B1\n  }\n }\n}\n',
    'decimals': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n min_rx 3.3125\n}\n',
    'dupname': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\nbfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\n',
    'dupnbr': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\nbfd_instance B2 {\n neighbor_ip 10.0.0.2\n}\n',
    'dupnbrsrc': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n source_ip 10.0.0.1\n}\nbfd_instance B2 {\n neighbor_ip 10.0.0.2\n source_ip 10.0.0.3\n}\n',
    'famix': 'bfd_instance B2 {\n neighbor_ip 10.0.0.2\n source_ip fe80::1\n}\n',
    'goodvals': 'bfd_instance B1 {\n neighbor_ip fd00::2\n source_ip fd00::1\n min_rx 3.312\n min_tx 300\n idle_tx 2000\n multiplier 3\n passive\n hoplimit 255\n max_hops 255\n weight -20 reverse\n checker\n vrrp\n}\n',
    'longname': 'bfd_instance ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456 {\n neighbor_ip 10.0.0.2\n}\n',
    'maxhops': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n max_hops 20\n ttl 10\n}\n',
    'minrx0': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n min_rx 0\n}\n',
    'name31': 'bfd_instance ABCDEFGHIJKLMNOPQRSTUVWXYZ01234 {\n neighbor_ip 10.0.0.2\n}\n',
    'neighbour': 'bfd_instance B1 {\n neighbour_ip 10.0.0.2\n neighbour_ip 10.0.0.3\n}\n',
    'nonbr': 'bfd_instance B1 {\n source_ip 10.0.0.1\n}\n',
    'nonum': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n multiplier\n}\n',
    'ok': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\n',
    'ranges': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n min_rx 4294968\n min_tx 0.5\n idle_tx 999\n multiplier 256\n ttl 0\n max_hops -2\n}\n',
    'sgmissing': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\n vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n track_bfd {\n  B7\n }\n}\nvrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  10.9.9.9/32\n }\n}\nvrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n virtual_ipaddress {\n  10.9.9.8/32\n }\n}\n',
    'sgtrack': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\n vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n track_bfd {\n  B1\n }\n}\nvrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  10.9.9.9/32\n }\n}\nvrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n virtual_ipaddress {\n  10.9.9.8/32\n }\n}\n',
    'trackcheckeronly': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n checker\n}\nvrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  10.9.9.9/32\n }\n track_bfd {\n  B1\n }\n}\n',
    'trackmissing': 'vrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  10.9.9.9/32\n }\n track_bfd {\n  B9\n }\n}\n',
    'trackok': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n}\nvrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  10.9.9.9/32\n }\n track_bfd {\n  B1 weight 10 reverse\n }\n}\n',
    'unknownkw': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n frob\n}\n',
    'vrf': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n vrf red\n}\n',
    'weight300': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n weight 300\n}\n',
    'weightopt': 'bfd_instance B1 {\n neighbor_ip 10.0.0.2\n weight -5 bogus\n}\n',
}


@pytest.fixture(scope="module")
def ns():
    yield from keepalived_namespace("bfv", ("eth0",))


@pytest.mark.keepalived
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verdict_as_keepalived(ns, tmp_path, name):
    _, ours, theirs = both_tests(ns, CASES[name], tmp_path)
    assert ours.returncode == theirs.returncode, (ours.output, theirs.output)
