"""Inside the IPVS VM: real TCP traffic from a client namespace through lvsfast-programmed NAT
services to real-server namespaces."""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from support.ipvs import IN_VM, NatLab, need_ipvs, sh

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.ipvs.backend import IPVSBackend

VS = ServiceKey(4, "tcp", NatLab.VIP, 80)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def lab():
    need_ipvs()
    sh("ipvsadm", "-C")
    with NatLab(3) as lab:
        yield lab
    sh("ipvsadm", "-C")


def table(sched: str, weights: list[int], lab: NatLab, flags: frozenset[str] = frozenset()) -> Table:
    return Table({VS: Service(VS, sched, flags)},
                 {VS: {DestKey(a, 80): Dest(DestKey(a, 80), w) for a, w in zip(lab.servers, weights)}})


class TestNatTraffic:
    __test__ = IN_VM

    def test_rr_spreads_evenly(self, lab: NatLab) -> None:
        b = IPVSBackend()
        run(b.apply(table("rr", [1, 1, 1], lab)))
        hits = Counter(lab.request() for _ in range(30))
        run(b.close())
        assert hits == Counter({a: 10 for a in lab.servers})

    def test_wrr_follows_weights(self, lab: NatLab) -> None:
        b = IPVSBackend()
        run(b.apply(table("wrr", [1, 2, 3], lab)))
        hits = Counter(lab.request() for _ in range(60))
        run(b.close())
        assert hits == Counter(dict(zip(lab.servers, [10, 20, 30])))

    @pytest.mark.parametrize("sched", ["sh", "mh"])
    def test_source_hashing_keeps_each_client_on_one_server(self, lab: NatLab, sched: str) -> None:
        b = IPVSBackend()
        run(b.apply(table(sched, [1, 1, 1], lab)))
        seen = {src: {lab.request(src) for _ in range(8)} for src in (NatLab.CLIENT, "10.0.1.3")}
        run(b.close())
        assert all(len(servers) == 1 for servers in seen.values()), seen

    def test_removed_server_gets_no_new_connections(self, lab: NatLab) -> None:
        b = IPVSBackend()
        run(b.apply(table("rr", [1, 1, 1], lab)))
        assert {lab.request() for _ in range(6)} == set(lab.servers)
        gone = lab.servers[1]
        ops = run(b.apply(table("rr", [1, 1, 1], lab).without_dest(VS, DestKey(gone, 80))))
        assert [str(op) for op in ops] == [f"del_dest {VS} -> {gone}:80"]
        hits = Counter(lab.request() for _ in range(12))
        run(b.close())
        assert gone not in hits and sum(hits.values()) == 12

    def test_weight_change_keeps_established_connection(self, lab: NatLab) -> None:
        b = IPVSBackend()
        run(b.apply(table("rr", [1, 1, 1], lab)))
        conns = [lab.connect() for _ in range(3)]
        names = [c.makefile().readline().strip() for c in conns]
        assert sorted(names) == sorted(lab.servers)
        # Weight 0 for all: no new connections anywhere, but open ones keep flowing.
        ops = run(b.apply(table("rr", [0, 0, 0], lab)))
        assert {op.kind for op in ops} == {"edit_dest"}
        for c in conns:
            c.sendall(b"still here\n")
            assert c.recv(64) == b"still here\n"
            c.close()
        states = run(b.dest_states(VS))
        assert {s.dest.weight for s in states} == {0}
        run(b.close())

    def test_reapply_with_one_server_changed_touches_only_it(self, lab: NatLab) -> None:
        b = IPVSBackend()
        run(b.apply(table("wrr", [1, 1, 1], lab)))
        for _ in range(6):
            lab.request()
        before = {s.dest.key: s.inactive_conns + s.active_conns for s in run(b.dest_states(VS))}
        sent = b.messages_sent
        ops = run(b.apply(table("wrr", [1, 5, 1], lab)))
        assert [str(op) for op in ops] == [f"edit_dest {VS} -> {lab.servers[1]}:80"]
        assert b.messages_sent - sent == 1
        after = {s.dest.key: s.inactive_conns + s.active_conns for s in run(b.dest_states(VS))}
        assert after == before  # no entry was recreated: their connection counts are intact
        run(b.close())
