"""Inside the IPVS VM: scale-out (#27) on IPVS. Two directors, each its own namespace running
lvsfast with ``lvs_backend ipvs``, serve the same virtual server (``lb_algo mh``, ``mh-port``,
``lb_kind DR``, ``announce_route``); three real servers hold the VIP on lo. The client's route to
the VIP (what the upstream's ECMP decides) goes through director A, then switches to B with
connections open: B has never seen those flows, and with the ``sloppy_tcp`` lvsfast turns on when
it announces, IPVS schedules each one at its first mid-stream packet, by ``mh``, to the real
server A chose. The lab is tests/support/scaleout_vm.py (the TUN and sync-daemon cases,
test_ipvsvm_scaleout_tun.py, use it too)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from support.ipvs import IN_VM, need_ipvs, sh
from support.scaleout_vm import Director, RealServers, ScaleLab, ask

from lvsfast.lab.netns import wait_for

LAB = ScaleLab("sci", vip="10.0.8.100", net="10.0.7")
VIP = LAB.vip
SERVERS = LAB.server_addrs()
ns, route_via, connect, probe, ipvs_conns, dests = LAB.ns, LAB.route_via, LAB.connect, LAB.probe, LAB.ipvs_conns, LAB.dests
N_LONG = 50
# Client ports for new flows, below the ephemeral range. Each range is probed at most once per
# director: IPVS keeps a closed flow's entry for a while and would send that port's next SYN
# where the entry says, not where the scheduler says now.
SAME = range(31000, 31040)
BEFORE = range(31100, 31140)
AFTER = range(31200, 31240)

CONF = """global_defs {
    router_id %(name)s
    lvs_backend ipvs
    announce_interface lo
    announce_withdraw_delay 0
}
virtual_server %(vip)s 80 {
    delay_loop 1
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
    announce_route
%(reals)s}
"""
REAL = """    real_server %s 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
"""


@pytest.fixture(scope="module")
def scilab() -> Iterator[tuple[RealServers, dict[str, Director]]]:
    need_ipvs()
    LAB.teardown()
    LAB.build()
    servers = RealServers(LAB)
    directors: dict[str, Director] = {}
    try:
        with tempfile.TemporaryDirectory() as wd:
            for short in LAB.directors:
                conf = CONF % {"name": short, "vip": VIP, "reals": "".join(REAL % a for a in SERVERS.values())}
                directors[short] = Director(LAB, short, Path(wd), conf)
            for d in directors.values():
                d.wait_ready()
            yield servers, directors
            for d in directors.values():
                d.stop()
    finally:
        for d in directors.values():
            d.kill()
        servers.close()
        LAB.teardown()


class TestScaleOutOnIpvs:
    __test__ = IN_VM

    def test_flows_keep_their_real_server_across_directors(self, scilab) -> None:
        servers, directors = scilab
        for d in directors:
            # lvsfast turned it on when it announced (the kernel's default is 0).
            assert sh("sysctl", "-n", "net.ipv4.vs.sloppy_tcp", ns=ns(d)).strip() == "1"
        route_via("da")
        # New flows map identically on both directors: the same client ports, through A then B.
        via_a = probe(SAME)
        assert len(set(via_a.values())) == 3, via_a  # mh-port spreads one client's ports
        route_via("db")
        assert probe(SAME) == via_a
        route_via("da")
        held = [connect() for _ in range(N_LONG)]
        first = {s.getsockname()[1]: name for s, name in held}
        assert len(set(first.values())) == 3, first
        for s, name in held:
            assert ask(s, "a") == name
        # The upstream rehashes every flow to B, mid-stream: B schedules each at its first
        # packet (sloppy_tcp) by mh, to the server A chose, and the connection goes on.
        route_via("db")
        for s, name in held:
            assert ask(s, "b") == name
        assert ipvs_conns("db", set(first)) == first  # B's own entries, made from mid-stream packets
        assert ipvs_conns("da", set(first)) == first
        route_via("da")  # and back: A still holds them
        for s, name in held:
            assert ask(s, "c") == name
        for s, _ in held:
            s.close()

    def test_without_sloppy_tcp_a_moved_flow_is_reset(self, scilab) -> None:
        # The control: what lvsfast's sysctl is for. B without it hands a mid-stream packet to
        # its own stack (the VIP is on its lo), which resets the connection.
        route_via("da")
        s, name = connect()
        assert ask(s, "a") == name
        sh("sysctl", "-qw", "net.ipv4.vs.sloppy_tcp=0", ns=ns("db"))
        try:
            route_via("db")
            with pytest.raises(ConnectionResetError):
                ask(s, "b")
        finally:
            sh("sysctl", "-qw", "net.ipv4.vs.sloppy_tcp=1", ns=ns("db"))
            route_via("da")
            s.close()

    def test_removed_real_server_moves_only_its_own_flows(self, scilab) -> None:
        servers, directors = scilab
        route_via("da")
        before = probe(BEFORE)
        held = [connect() for _ in range(N_LONG)]
        first = {s.getsockname()[1]: name for s, name in held}
        victim = "r2"
        assert victim in first.values()
        # r2 fails its checks on both directors at once (its open connections stay open on it).
        servers.close_listener(victim)
        for d in directors:
            wait_for(lambda d=d: dests(d) == set(SERVERS) - {victim}, timeout=60, interval=0.5,
                     what=f"{victim} out of {d}'s service: {sh('ipvsadm', '-Ln', ns=ns(d))}")
        # The other servers' established flows all stay through A, which holds their entries.
        others = [(s, name) for s, name in held if name != victim]
        for s, name in others:
            assert ask(s, "d") == name
        # Moved mid-stream to B, which first sees them after the change: B schedules them by the
        # new table, and Maglev's table over the shorter list also moves a few of the others'
        # slots (near-minimal, not minimal): those few reach another server, which resets them.
        route_via("db")
        broken = 0
        for s, name in others:
            s.settimeout(5)
            try:
                assert ask(s, "e") == name
            except ConnectionResetError:
                broken += 1
        assert broken <= 3, f"{broken} of {len(others)}"
        print(f"scale-out on IPVS: after the removal, {broken} of {len(others)} other flows broke when moved to B")
        route_via("da")
        # New flows: r2's ports went elsewhere, the others (nearly) stay: BEFORE's ports again,
        # through B, which has not seen them.
        route_via("db")
        after = probe(BEFORE)
        assert victim not in after.values()
        moved = [p for p in BEFORE if before[p] != victim and after[p] != before[p]]
        # Maglev's table over the changed list may move a few slots of the others (mh_lab's bound).
        assert len(moved) <= 3, (moved, before, after)
        # And both directors still agree.
        route_via("da")
        after_a = probe(AFTER)
        route_via("db")
        assert probe(AFTER) == after_a
        route_via("da")
        print(f"scale-out on IPVS: {sum(v == victim for v in before.values())} of {len(before)} probe flows "
              f"were {victim}'s and moved; {len(moved)} others moved")
        # The removed server's own established flows are lost even through the director that
        # scheduled them (the server still holds them): IPVS drops packets whose entry points at
        # a removed destination (expire_nodest_conn=0), as under keepalived.
        lost = next(s for s, name in held if name == victim)
        lost.settimeout(3)
        with pytest.raises(TimeoutError):
            ask(lost, "f")
        for s, _ in held:
            s.close()
