"""lb_algo mh through configuration reloads on nftables (issue #29), with the checker subsystem
and real HTTP servers in namespaces; the same cases run on IPVS in tests/ipvs_vm/test_ipvsvm_mh.py."""
from __future__ import annotations

import json

from lvsfast.nft.render import chain_name
from lvsfast.dataplane.model import ServiceKey
from support.mh_lab import MhReloadCases, mh_lab  # noqa: F401  (fixture)
from support.reload_lab import PORTS, VIP, ReloadLab

CHAIN = chain_name(ServiceKey(4, "tcp", VIP, PORTS["a"]))


class TestMhReloadOnNftables(MhReloadCases):
    backend = "nftables"
    runner = "inprocess"
    exact_while_draining = False  # the reload changed the configured servers the table is built over

    def incarnation(self, lab: ReloadLab) -> object:
        doc = json.loads(lab.lb.run("nft", "-j", "list", "chain", "ip", "lvsfast", CHAIN).stdout)
        return [x["rule"]["handle"] for x in doc["nftables"] if "rule" in x]

    def same_service(self, lab: ReloadLab, before: object) -> bool:
        # The chain and its scheduling rule stay (a fixed table size never rewrites the rule).
        return self.incarnation(lab) == before
