"""Inside the IPVS VM: lb_algo mh through configuration reloads (issue #29), with the checker
subsystem, the real IPVS backend and real HTTP servers in namespaces. The kernel's mh table has a
fixed size (4093 by default); what lvsfast owes it is never recreating the service, so a reload
that adds or removes one real server changes only that server's place in it. The cases are
shared with nftables (tests/nft/test_nft_mh_reload.py) and live in support/mh_lab.py."""
from __future__ import annotations

from support.ipvs import IN_VM
from support.mh_lab import SPORTS, MhReloadCases, mh_lab  # noqa: F401  (fixture)
from support.reload_lab import PORTS, VIP, ReloadLab, hp


class TestMhReloadOnIpvs(MhReloadCases):
    __test__ = IN_VM
    backend = "ipvs"
    runner = "inprocess"
    # IPVS keeps a weight-0 server's slots (its last weight): mh-fallback sends its flows on and
    # every other flow stays, exactly.
    exact_while_draining = True

    def incarnation(self, lab: ReloadLab) -> object:
        """The service's connection counter: a recreated service starts again from 0."""
        out = lab.lb.run("ipvsadm", "-Ln", "--stats", "-t", hp(VIP, PORTS["a"])).stdout
        line = next(x for x in out.splitlines() if x.startswith("TCP"))
        return int(line.split()[2])

    def same_service(self, lab: ReloadLab, before: object) -> bool:
        # IPVS gives a service no identity to compare, only counters that a recreated service
        # starts again from 0. How many of the rounds' connections count as new ones varies (IPVS
        # may reuse a closed connection's entry for the same client port), so only a counter that
        # went back is proof of a new service; the flow checks above carry the behaviour.
        assert isinstance(before, int)
        return self.incarnation(lab) >= before
