"""Inside the IPVS VM: direct routing. The real servers hold the VIP on lo and answer the client
themselves; IPVS only rewrites the destination MAC, in the scheduler's proportions."""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from support.ipvs import IN_VM, NatLab, need_ipvs, sh

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.ipvs.backend import IPVSBackend

VS = ServiceKey(4, "tcp", NatLab.VIP, 80)


@pytest.fixture(scope="module")
def drlab():
    need_ipvs()
    sh("ipvsadm", "-C")
    with NatLab(3, prefix="lvsdr", direct=True) as lab:
        yield lab
    sh("ipvsadm", "-C")


class TestDirectRouting:
    __test__ = IN_VM

    def test_dr_traffic_in_wrr_proportions(self, drlab: NatLab) -> None:
        b = IPVSBackend()
        weights = [1, 2, 3]
        t = Table({VS: Service(VS, "wrr")},
                  {VS: {DestKey(a, 80): Dest(DestKey(a, 80), w, "dr") for a, w in zip(drlab.servers, weights)}})
        asyncio.run(b.apply(t))
        assert "Route" in sh("ipvsadm", "-Ln")
        got = Counter(drlab.request() for _ in range(60))
        # The real servers answered from the VIP themselves: each reply names its server.
        assert got == {a: 10 * w for a, w in zip(drlab.servers, weights)}, got
        asyncio.run(b.close())
