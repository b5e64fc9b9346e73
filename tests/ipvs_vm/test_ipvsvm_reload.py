"""Inside the IPVS VM: reload correctness (issue #11) on IPVS, with the checker subsystem and the
real IPVS backend, and real HTTP servers in namespaces. The cases shared with nftables live in support/reload_lab.py; the two
here are removal under load (keepalived #1228, #2240) and an outside ``ipvsadm -d`` (#1018, #1877).
One lab and one checker serve every case; each case owns one virtual server of the config.

The checker runs in-process (support.reload_lab.InProcess) on plain asyncio: the emulated VM
has no time for the daemon's processes. TestIpvsOnUvloop checks that the backend opens on the
daemon's uvloop loop too (it could not while the family lookup went through pyroute2)."""
from __future__ import annotations

import time

from support.ipvs import IN_VM, need_ipvs
from support.reload_lab import (PORTS, REALS, VIP, Load, ReloadCases, ReloadLab, ask, hp, real,  # noqa: F401
                                reload_lab, rs, virtual)

from lvsfast.ipvs.backend import IPVSBackend
from lvsfast.lab.netns import wait_for


class TestReloadOnIpvs(ReloadCases):
    __test__ = IN_VM
    backend = "ipvs"
    runner = "inprocess"

    def test_removal_by_reload_under_load_loses_no_request(self, reload_lab: ReloadLab) -> None:
        """A kept-alive connection to the removed server still gets its answer; no request fails."""
        lab, p = reload_lab, PORTS["a"]
        lab.wait_service("a", {rs(i, "a"): 1 for i in range(3)}, what="all three real servers in")
        with Load(lab, p, rate=10) as load:
            wait_for(lambda: len(load.results) >= 5, timeout=20, what="traffic through the VIP")
            conn = lab.keepalive(p)
            victim = ask(conn)
            kept = {hp(a, p): 1 for a in REALS if hp(a, p) != victim}
            t0 = time.monotonic()
            lab.reload("a", virtual("a", "".join(real(a, p) for a in REALS if hp(a, p) != victim),
                                    "    drain_timeout 4\n"))
            t1 = time.monotonic()
            assert lab.service("a") == {**kept, victim: 0}  # draining: weight 0, still in the kernel
            assert ask(conn) == victim  # the established connection still reaches it
            conn.close()
            # With its TIME_WAIT entries IPVS still counts connections: it leaves at drain_timeout.
            lab.wait_service("a", kept, timeout=30, what=f"{victim} out after its drain")
            n = len(load.results)
            wait_for(lambda: len(load.results) >= n + 5, timeout=20, what="traffic after the drain")
        during = load.since(t0)
        assert during and None not in during, f"{during.count(None)} of {len(during)} requests failed"
        assert victim not in load.since(t1)  # new connections avoided it from the reload on
        assert set(load.since(t1)) == set(kept)

    def test_ipvsadm_delete_is_restored(self, reload_lab: ReloadLab) -> None:
        lab, p = reload_lab, PORTS["e"]
        want = {rs(0, "e"): 1, rs(1, "e"): 1}
        lab.wait_service("e", want)
        lab.lb.run("ipvsadm", "-d", "-t", hp(VIP, p), "-r", rs(1, "e"))
        assert lab.service("e") == {rs(0, "e"): 1}
        lab.wait_service("e", want, timeout=15, what="the deleted real server restored")


class TestIpvsOnUvloop:
    __test__ = IN_VM

    # The daemon's children run on uvloop: the IPVS backend must open and read there.
    def test_backend_reads_ipvs_on_the_daemons_loop(self) -> None:
        import uvloop

        need_ipvs()
        uvloop.run(IPVSBackend().read())
