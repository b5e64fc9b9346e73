"""The raw-netlink update path leaves the kernel exactly as libnftables would have written it."""
from __future__ import annotations

import asyncio
import json

import pytest

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.lab.netns import Lab
from lvsfast.nft.backend import NftBackend
from support.requires import need_binary, need_root

HELPER = r'''
import asyncio, json, subprocess, sys
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.nft.backend import NftBackend

def objects():
    doc = json.loads(subprocess.run(["nft", "-j", "list", "table", "ip", "lvsfast"],
                                    capture_output=True, text=True, check=True).stdout)["nftables"]
    out = []
    for x in doc:
        kind = next(iter(x))
        if kind in ("rule", "map", "set"):
            x[kind].pop("handle", None)
            out.append(x)
    return out

async def main(sched, fw):
    k = ServiceKey(4, "tcp", None, 0, 5) if fw else ServiceKey(4, "tcp", "10.0.0.100", 80)
    p = 0 if fw else 8080
    rs = lambda i, w: Dest(DestKey(f"10.1.0.{i}", p), w)
    t = Table({k: Service(k, sched)}, {k: {rs(i, i).key: rs(i, i) for i in (1, 2, 3)}})
    steps = [t.with_dest(k, rs(2, 7)), t.with_dest(k, rs(2, 0)), t.without_dest(k, rs(3, 1).key),
             Table({k: Service(k, sched)}, {k: {}}), t.with_dest(k, rs(4, 2))]
    results = []
    for step in steps:
        b = NftBackend()
        await b.apply(t)
        await b.apply(step)
        fast, nfast = objects(), b.fast_updates
        await b.close()
        b = NftBackend()
        await b.apply(step)
        slow = objects()
        back = await b.read()
        await b.close()
        results.append([nfast, fast == slow, back == step])
    print(json.dumps(results))

asyncio.run(main(sys.argv[1], sys.argv[2] == "1"))
'''


@pytest.fixture(scope="module")
def router():
    need_root()
    need_binary("ip", "nft")
    with Lab() as lab:
        yield lab.ns("fp")


@pytest.mark.parametrize("fw", [False, True], ids=["vip", "fwmark"])
@pytest.mark.parametrize("sched", ["rr", "wrr", "random", "sh", "dh", "mh"])
def test_nft_fastpath_matches_libnftables(router, sched, fw):
    import sys
    out = router.run(sys.executable, "-c", HELPER, sched, "1" if fw else "0").stdout
    for nfast, same, read_back in json.loads(out):
        assert nfast == 1  # the update took the raw-netlink path
        assert same  # and left sets, maps and rules as libnftables writes them
        assert read_back


def test_nft_unsupported_names_ipvs():
    from lvsfast.nft import unsupported
    k = ServiceKey(4, "tcp", "10.0.0.1", 80)
    assert "IPVS" in unsupported(Service(k, "wlc"))
    assert "IPVS" in unsupported(Dest(DestKey("10.1.0.1", 80), forward="tun"))
    assert unsupported(Dest(DestKey("10.1.0.1", 80), forward="dr")) is None  # stateless DR (#27)
    assert "IPVS" in unsupported(Service(k, "mh", persistence_timeout=60, forward="dr"))
    assert unsupported(Service(k, "mh")) is None
    assert unsupported(Dest(DestKey("10.1.0.1", 80))) is None
    assert "IPVS" in unsupported(Service(ServiceKey(6, "tcp", "2001:db8::1", 80), "rr"))


def test_nft_select_auto_picks_nftables_without_ipvs(caplog, monkeypatch):
    from lvsfast.dataplane import select
    monkeypatch.setattr(select, "kernel_has_ipvs", lambda: False)
    with caplog.at_level("INFO"):
        assert select.choose("auto") == "nftables"
    assert "nftables" in caplog.text
    monkeypatch.setattr(select, "kernel_has_ipvs", lambda: True)
    assert select.choose("auto") == "ipvs"
    assert select.choose("nftables") == "nftables"
    with pytest.raises(ValueError):
        select.choose("bogus")


def test_nft_maglev_moves_little_when_one_leaves():
    from lvsfast.nft.render import maglev, maglev_size
    ds = [Dest(DestKey(f"10.1.0.{i}", 80)) for i in range(1, 11)]
    size = maglev_size(len(ds))
    before = maglev(ds, size)
    after = maglev(ds[:-1], size)
    gone = ds[-1].key
    moved = sum(1 for a, b in zip(before, after) if a != b and a != gone)
    assert sum(1 for a in before if a == gone) > 0
    assert moved / size < 0.05  # only the leaver's slots change, give or take Maglev's small churn
    counts = {d.key: before.count(d.key) for d in ds}
    assert max(counts.values()) - min(counts.values()) <= 2  # even weights, even share


def test_nft_weighted_ranges():
    from lvsfast.nft.render import ranges
    k = ServiceKey(4, "tcp", "10.0.0.1", 80)
    ds = {DestKey(f"10.1.0.{i}", 80): Dest(DestKey(f"10.1.0.{i}", 80), w) for i, w in ((1, 1), (2, 0), (3, 3))}
    total, rs = ranges(Service(k, "wrr"), ds)
    assert total == 4 and [(lo, hi, d.key.address) for lo, hi, d in rs] == [(0, 0, "10.1.0.1"), (1, 3, "10.1.0.3")]
    total, rs = ranges(Service(k, "rr"), ds)
    assert total == 2  # rr: one slot each, weight 0 left out


SLOW_HELPER = r'''
import asyncio
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.nft.backend import NftBackend

async def main():
    b = NftBackend()
    k, k2 = ServiceKey(4, "tcp", "10.0.0.100", 80), ServiceKey(4, "udp", "10.0.0.100", 53)
    rs = lambda i, w: Dest(DestKey(f"10.1.0.{i}", 8080), w)
    ds = {rs(i, i).key: rs(i, i) for i in (1, 2, 3)}
    t = Table({k: Service(k, "sh", frozenset({"sh-port"})),
               k2: Service(k2, "mh", frozenset({"mh-port"}), persistence_timeout=60, persistence_granularity=24)},
              {k: ds, k2: ds})
    steps = [t, t.with_dest(k2, rs(1, 0)).with_dest(k, rs(1, 5)), t.without_dest(k2, rs(2, 1).key),
             Table({k2: Service(k2, "wrr", persistence_timeout=30)}, {k2: ds}), Table()]
    for step in steps:
        await b.apply(step)
        assert await b.read() == step, step
    await b.close()
    print("ok")

asyncio.run(main())
'''


def test_nft_persistent_and_port_hash_services_change_through_libnftables(router):
    import sys
    assert router.run(sys.executable, "-c", SLOW_HELPER).stdout.strip() == "ok"


REPAIR_HELPER = r'''
import asyncio, subprocess
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.nft.backend import NftBackend

def nft(cmd):
    subprocess.run(["nft", cmd], check=True)

async def main():
    b = NftBackend()
    k, k2 = ServiceKey(4, "tcp", "10.0.0.100", 80), ServiceKey(4, "tcp", "10.0.0.100", 81)
    rs = lambda i, w: Dest(DestKey(f"10.1.0.{i}", 8080), w)
    ds = {rs(i, i).key: rs(i, i) for i in (1, 2, 3)}
    t = Table({k: Service(k, "wrr"), k2: Service(k2, "mh")}, {k: ds, k2: ds})
    await b.apply(t)
    nft("delete element ip lvsfast services { 10.0.0.100 . tcp . 81 }")  # an outside deletion
    await b.apply(t, reread=True)
    assert await b.read() == t
    rules = subprocess.run(["nft", "list", "chain", "ip", "lvsfast", "s_tcp_10_0_0_100_81"],
                           capture_output=True, text=True, check=True).stdout
    assert rules.count("dnat") == 1, rules  # restored, not duplicated
    nft("flush chain ip lvsfast s_tcp_10_0_0_100_80; delete map ip lvsfast s_tcp_10_0_0_100_80_m")
    await b.apply(t, reread=True)
    assert await b.read() == t
    nft("flush ruleset")  # a firewall restart
    await b.apply(t, reread=True)
    assert await b.read() == t
    await b.close()
    print("ok")

asyncio.run(main())
'''


def test_nft_repair_after_outside_changes(router):
    import sys
    assert router.run(sys.executable, "-c", REPAIR_HELPER).stdout.strip() == "ok"


GENERATION_HELPER = r'''
import asyncio, subprocess
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.nft.backend import NftBackend

async def main():
    b = NftBackend()
    k = ServiceKey(4, "tcp", "10.0.0.100", 80)
    d = Dest(DestKey("10.1.0.1", 8080), 1)
    t = Table({k: Service(k, "rr")}, {k: {d.key: d}})
    await b.apply(t)
    assert await b.apply(t, reread=True) == [] and b.rereads_skipped == 0  # first check reads
    assert await b.apply(t, reread=True) == [] and b.rereads_skipped == 1  # nothing committed since
    subprocess.run(["nft", "add table ip somebody_else"], check=True)  # any commit: read again
    assert await b.apply(t, reread=True) == [] and b.rereads_skipped == 1
    assert await b.apply(t, reread=True) == [] and b.rereads_skipped == 2
    subprocess.run(["nft", "flush ruleset"], check=True)
    ops = await b.apply(t, reread=True)
    assert ops and await b.read() == t and b.rereads_skipped == 2
    await b.close()
    print("ok")

asyncio.run(main())
'''


def test_nft_repair_skips_the_listing_while_the_ruleset_generation_is_unchanged(router):
    import sys
    out = router.run(sys.executable, "-c", GENERATION_HELPER)
    assert out.stdout.strip() == "ok", out.stdout + out.stderr
