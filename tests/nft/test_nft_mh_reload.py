"""lb_algo mh through configuration reloads on nftables (issue #29), with the real daemon and real
HTTP servers in namespaces; the same cases run on IPVS in tests/ipvs_vm/test_ipvsvm_mh.py."""
from __future__ import annotations

import json

from lvsfast.nft.render import chain_name
from lvsfast.dataplane.model import ServiceKey
from support.mh_lab import MhReloadCases, mh_lab  # noqa: F401  (fixture)
from support.reload_lab import PORTS, VIP, ReloadLab

CHAIN = chain_name(ServiceKey(4, "tcp", VIP, PORTS["a"]))


class TestMhReloadOnNftables(MhReloadCases):
    backend = "nftables"
    runner = "daemon"  # the real daemon, reloaded by SIGHUP
    exact_while_draining = False  # the reload changed the configured servers the table is built over

    def incarnation(self, lab: ReloadLab) -> object:
        """The service chain's handle (and its slot map's): a recreated service gets new ones."""
        doc = json.loads(lab.lb.run("nft", "-j", "list", "table", "ip", "lvsfast").stdout)["nftables"]
        return ([x["chain"]["handle"] for x in doc if "chain" in x and x["chain"]["name"] == CHAIN],
                [x["map"]["handle"] for x in doc if "map" in x and x["map"]["name"] == f"{CHAIN}_m"])

    def same_service(self, lab: ReloadLab, before: object) -> bool:
        return self.incarnation(lab) == before
