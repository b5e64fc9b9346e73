"""The nftables backend with real traffic: client -> LVS router (NAT) -> three HTTP real servers."""
from __future__ import annotations

import collections
import copy

import pytest

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from support.nft import CLIENTS, RS_PORT, SERVERS, VIP, build
from support.requires import need_binary, need_root
from lvsfast.lab.netns import Lab

RS = {name: DestKey(addr, RS_PORT) for name, addr in SERVERS.items()}


def table(sched: str, weights: dict[str, int], port: int = 80, pt: int = 0, extra: Table | None = None) -> Table:
    key = ServiceKey(4, "tcp", VIP, port)
    services = dict(extra.services) if extra else {}
    dests = dict(extra.dests) if extra else {}
    services[key] = Service(key, sched, persistence_timeout=pt)
    dests[key] = {RS[n]: Dest(RS[n], w) for n, w in weights.items()}
    return Table(services, dests)


@pytest.fixture(scope="module")
def nlab():
    need_root()
    need_binary("ip", "nft")
    with Lab() as lab:
        yield build(lab)


def test_nft_rr_spreads_evenly(nlab):
    nlab.apply(table("rr", {"rs1": 1, "rs2": 5, "rs3": 1}))
    got = collections.Counter(nlab.get(CLIENTS[0], 30))
    assert got == {"rs1": 10, "rs2": 10, "rs3": 10}


def test_nft_wrr_follows_weights(nlab):
    nlab.apply(table("wrr", {"rs1": 1, "rs2": 2, "rs3": 3}))
    got = collections.Counter(nlab.get(CLIENTS[0], 36))
    assert got == {"rs1": 6, "rs2": 12, "rs3": 18}


def test_nft_sh_keeps_each_client_on_one_server(nlab):
    nlab.apply(table("sh", {"rs1": 1, "rs2": 1, "rs3": 1}))
    seen = {}
    for src in CLIENTS:
        names = set(nlab.get(src, 4))
        assert len(names) == 1, (src, names)
        seen[src] = names.pop()
    assert len(set(seen.values())) >= 2  # ten clients do not all hash to one server


def test_nft_mh_stable_when_one_leaves(nlab):
    nlab.apply(table("mh", {"rs1": 1, "rs2": 1, "rs3": 1}))
    before = {src: set(nlab.get(src, 2)) for src in CLIENTS}
    assert all(len(v) == 1 for v in before.values())
    nlab.apply(table("mh", {"rs1": 1, "rs2": 1}))  # rs3 leaves
    after = {src: set(nlab.get(src, 2)) for src in CLIENTS}
    for src in CLIENTS:
        if before[src] != {"rs3"}:
            assert after[src] == before[src], src  # Maglev: only rs3's clients move
        else:
            assert after[src] <= {"rs1", "rs2"}


def test_nft_persistence_keeps_client(nlab):
    nlab.apply(table("rr", {"rs1": 1, "rs2": 1, "rs3": 1}, pt=300))
    for src in CLIENTS[:4]:
        assert len(set(nlab.get(src, 5))) == 1, src


def test_nft_down_server_gets_no_new_connections_established_continue(nlab):
    nlab.apply(table("rr", {"rs1": 1, "rs2": 1, "rs3": 1}))
    # A kept-alive connection, then find which server it landed on.
    ka = nlab.keepalive(CLIENTS[1])
    ka.stdin.write("\n"); ka.stdin.flush()
    victim = ka.stdout.readline().strip()
    assert victim in SERVERS
    others = {n: 1 for n in SERVERS if n != victim}
    nlab.apply(table("rr", {**others, victim: 0}))  # weight 0: out of the maps
    assert victim not in nlab.get(CLIENTS[2], 12)
    ka.stdin.write("\n"); ka.stdin.flush()
    assert ka.stdout.readline().strip() == victim  # conntrack keeps the established flow
    assert nlab.connections().get(SERVERS[victim], 0) == 1  # what a drain waits on
    nlab.apply(table("rr", others))  # removed by the checker altogether
    assert victim not in nlab.get(CLIENTS[2], 12)
    ka.stdin.write("\n"); ka.stdin.flush()
    assert ka.stdout.readline().strip() == victim
    ka.stdin.close()
    ka.wait(10)


def _objects(doc: dict) -> dict:
    out = {}
    for item in doc["nftables"]:
        for kind in ("set", "map", "chain"):
            if kind in item:
                out[(kind, item[kind]["name"])] = item[kind]
        if "rule" in item:
            out[("rule", item["rule"]["chain"], item["rule"]["handle"])] = item["rule"]
    return out


def test_nft_reload_changes_only_what_changed(nlab):
    other = table("wrr", {"rs1": 1, "rs2": 2}, port=81)
    other = table("sh", {"rs1": 1, "rs3": 1}, port=82, extra=other)
    nlab.apply(table("wrr", {"rs1": 1, "rs2": 1, "rs3": 1}, extra=other))
    before = _objects(nlab.nft_json())
    ops = nlab.apply(table("wrr", {"rs1": 1, "rs2": 4, "rs3": 1}, extra=other))
    assert ops.split() == ["edit_dest", "TCP", f"{VIP}:80", "->", f"{RS['rs2']}"]
    after = _objects(nlab.nft_json())
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed and all("s_tcp_10_0_0_100_80" in str(k) for k in changed), changed
    # Untouched services: same objects, same handles.
    for k, v in before.items():
        if "s_tcp_10_0_0_100_81" in str(k) or "s_tcp_10_0_0_100_82" in str(k) or k[1] in ("services", "prerouting"):
            assert after[k] == v
    assert collections.Counter(nlab.get(CLIENTS[0], 18)) == {"rs1": 3, "rs2": 12, "rs3": 3}


def test_nft_close_removes_only_our_table(nlab):
    nlab.router.run("nft", "add table ip foreign; add chain ip foreign c; add rule ip foreign c counter")
    nlab.apply(table("rr", {"rs1": 1}))
    nlab.close_backend()
    tables = nlab.router.run("nft", "list", "tables").stdout.split("\n")
    assert "table ip foreign" in tables and "table ip lvsfast" not in tables
    assert "counter" in nlab.router.run("nft", "list", "table", "ip", "foreign").stdout
