"""Inside the IPVS VM: scale-out (#27) with ``lb_kind TUN``, and the sync daemon for persistence.

The lab of test_ipvsvm_scaleout.py (tests/support/scaleout_vm.py), with real servers that take
IPIP on ``tunl0`` (rp_filter off) and hold the VIP on lo. Both directors run the checker alone
(``-C``, no VRRP, as scale-out directors do) with lvsfast's ``lvs_sync_daemon eth0 role both``:
each runs the kernel's master and backup sync threads together, so each holds the other's
connections and templates. (keepalived's one-way rule, master while a VRRP instance is MASTER,
is tested in test_ipvsvm_sync.py and test_ipvsvm_checker.py.) Three virtual servers on the VIP,
all TUN, ``mh`` and ``announce_route``:
- port 80, ``mh-port``: a flow moved from A to B mid-stream keeps its real server (sloppy_tcp);
- port 81, ``mh-port`` and ``persistence_timeout``: a client's server is its template's, and
  ``mh-port`` makes B's own choice for a new port differ from A's, so only a synced template
  keeps the client on its server once ECMP sends it to the other director (both ways);
- port 82, plain ``mh`` and ``persistence_timeout``: the template's server is mh's choice of
  the client's address, the same on both directors, so the client stays without the sync daemon.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
from support.ipvs import IN_VM, need_ipvs, sh
from support.scaleout_vm import Director, RealServers, ScaleLab, ask

from lvsfast.lab.netns import wait_for

# Client addresses: .2 and .19 for the synced cases (A to B, B to A), .3-.10 for the cases
# without the sync daemon.
LAB = ScaleLab("sct", vip="10.0.12.100", net="10.0.11", tunnel=True,
               clients=("2", "19", *(str(i) for i in range(3, 11))))
UNSYNCED = LAB.clients[2:]
VPORTS = (80, 81, 82)
N_LONG = 20
SAME = range(32000, 32012)

CONF = """global_defs {
    router_id %(name)s
    lvs_backend ipvs
    announce_interface lo
    announce_withdraw_delay 0
    lvs_sync_daemon eth0 role both
}
"""
VS = """virtual_server %(vip)s %(port)d {
    delay_loop 1
    lb_algo mh
%(extra)s    lb_kind TUN
    protocol TCP
    announce_route
%(reals)s}
"""
EXTRA = {80: "    mh-port\n", 81: "    mh-port\n    persistence_timeout 300\n", 82: "    persistence_timeout 300\n"}
REAL = """    real_server %s %d {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
"""


def conf(short: str) -> str:
    text = CONF % {"name": short}
    for port in VPORTS:
        reals = "".join(REAL % (a, port) for a in LAB.server_addrs().values())
        text += VS % {"vip": LAB.vip, "port": port, "extra": EXTRA[port], "reals": reals}
    return text


def sync_state(short: str) -> str:
    return sh("ipvsadm", "-L", "--daemon", ns=LAB.ns(short))


@pytest.fixture(scope="module")
def tunlab() -> Iterator[dict[str, Director]]:
    t0 = time.monotonic()
    need_ipvs()
    LAB.teardown()
    LAB.build()
    servers = RealServers(LAB, VPORTS)
    built = time.monotonic() - t0
    directors: dict[str, Director] = {}
    try:
        with tempfile.TemporaryDirectory() as wd:
            for short in LAB.directors:
                directors[short] = Director(LAB, short, Path(wd), conf(short))
            ready = {d.short: round(d.wait_ready(VPORTS), 1) for d in directors.values()}
            print(f"scale-out TUN lab: built in {built:.1f} s; directors serving and announcing after {ready} s")
            yield directors
            for d in directors.values():  # both at once: each stop takes seconds in the VM
                d.proc.terminate()
            for d in directors.values():
                d.stop()
    finally:
        for d in directors.values():
            d.kill()
        servers.close()
        LAB.teardown()


class TestScaleOutTunAndSync:
    __test__ = IN_VM

    def test_tun_flows_keep_their_real_server_across_directors(self, tunlab) -> None:
        for d in LAB.directors:
            assert sh("sysctl", "-n", "net.ipv4.vs.sloppy_tcp", ns=LAB.ns(d)).strip() == "1"
            assert "Tunnel" in sh("ipvsadm", "-Ln", ns=LAB.ns(d))
        LAB.route_via("da")
        via_a = LAB.probe(SAME)
        assert len(set(via_a.values())) == 3, via_a
        LAB.route_via("db")
        assert LAB.probe(SAME) == via_a
        LAB.route_via("da")
        held = [LAB.connect() for _ in range(N_LONG)]
        first = {s.getsockname()[1]: name for s, name in held}
        assert len(set(first.values())) >= 2, first  # random ports: all three but for 3 * (2/3)^20
        for s, name in held:
            assert ask(s, "a") == name
        # ECMP moves every flow to B mid-stream: B schedules each at its first packet by mh and
        # tunnels it to the server A chose.
        LAB.route_via("db")
        for s, name in held:
            assert ask(s, "b") == name
        assert LAB.ipvs_conns("db", set(first)) == first
        LAB.route_via("da")
        for s, name in held:
            assert ask(s, "c") == name
        for s, _ in held:
            s.close()

    def test_synced_persistence_templates_keep_moved_clients_on_their_server_both_ways(self, tunlab) -> None:
        def both(short: str) -> bool:
            return "master sync daemon" in sync_state(short) and "backup sync daemon" in sync_state(short)

        wait_for(lambda: both("da") and both("db"), timeout=30, interval=0.5,
                 what=f"master and backup threads on A and B: {sync_state('da')!r} / {sync_state('db')!r}")
        for src, first, then, base in ((LAB.client, "da", "db", 33000), (LAB.addr("19"), "db", "da", 33100)):
            LAB.route_via(first)
            s, server = LAB.connect(base, 81, src)
            for word in "abcd":  # past the sync threshold (3 packets): the entry and its template are sent
                assert ask(s, word) == server
            # Persistence through the first director: every new port of this client goes to the
            # template's server.
            assert set(LAB.probe(range(base + 1, base + 5), 81, src).values()) == {server}
            wait_for(lambda: LAB.templates(then, 81).get(src) == server, timeout=20, interval=0.5,
                     what=f"{first}'s template for {src} on {then}: {sh('ipvsadm', '-Lnc', ns=LAB.ns(then))}")
            # ECMP now sends this client to the other director: its old connection and its new
            # ones stay on the server.
            LAB.route_via(then)
            assert ask(s, "e") == server
            assert set(LAB.probe(range(base + 10, base + 20), 81, src).values()) == {server}
            s.close()
        LAB.route_via("da")

    def test_without_the_sync_daemon_only_plain_mh_keeps_the_client(self, tunlab) -> None:
        # The sync masters off: B learns nothing. Each client address makes its template on A,
        # then reaches B from a new port.
        for d in LAB.directors:
            sh("ipvsadm", "--stop-daemon", "master", ns=LAB.ns(d))
        addrs = [LAB.addr(c) for c in UNSYNCED]
        moved = {}
        for vport in (81, 82):
            LAB.route_via("da")
            on_a = {a: LAB.probe(range(34000, 34001), vport, a)[34000] for a in addrs}
            LAB.route_via("db")
            assert not set(LAB.templates("db", vport)) & set(addrs)
            on_b = {a: LAB.probe(range(34001, 34002), vport, a)[34001] for a in addrs}
            moved[vport] = sorted(a for a in addrs if on_a[a] != on_b[a])
        LAB.route_via("da")
        print(f"scale-out TUN without the sync daemon: {len(moved[81])} of {len(addrs)} clients moved to another "
              f"server with mh-port and persistence, {len(moved[82])} with plain mh")
        # mh-port: B's template comes from the new port's hash, A's from the old one's (1 in 3
        # the same server by chance; 8 clients all the same is 3^-8).
        assert moved[81]
        # Plain mh hashes the address only: both directors make the same template.
        assert moved[82] == []
