"""lb_algo mh on nftables (issue #29): one lookup-table size per configuration, and a server
that leaves or joins moves only its own flows. Pure: the lookup table as render builds it, every
slot standing for the flows that hash to it."""
from __future__ import annotations

import random

import pytest

from lvsfast.config import loads
from lvsfast.dataplane.from_config import full_table
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.nft import render

KEY = ServiceKey(4, "tcp", "10.0.0.100", 80)
NS = [2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 21, 24, 32, 40, 48, 63, 64]


def servers(n: int, weight: int = 1) -> list[Dest]:
    return [Dest(DestKey(f"10.1.{i // 200}.{i % 200 + 1}", 8080), weight) for i in range(n)]


def service(configured: list[Dest]) -> Service:
    return Service(KEY, "mh", configured=tuple(sorted((d.key, d.weight) for d in configured)))


def lookup(svc: Service, live: list[Dest]) -> list[DestKey]:
    s = render.slots(svc, {d.key: d for d in live})
    return [k for _, _, k in s.elems]


def moved(a: list[DestKey], b: list[DestKey]) -> float:
    return sum(x != y for x, y in zip(a, b)) / len(a)


def test_mh_table_size_follows_the_configuration_never_the_live_count():
    for n in range(1, 70):
        ds = servers(n)
        svc = service(ds)
        sizes = {render.table_size(svc, {d.key: d for d in ds[:m]}) for m in range(0, n + 1)}
        assert len(sizes) == 1, n
        size = sizes.pop()
        assert size >= min(100 * (n + 1), render.MAGLEV_SIZES[-1]) and size >= 4093
        assert all(size % p for p in range(2, int(size ** 0.5) + 1))  # prime
    assert render.table_size(service(servers(39)), {}) == 4093  # 39 + a sorry server: 4000 <= 4093
    assert render.table_size(service(servers(40)), {}) == 16381  # 4100 > 4093
    assert render.table_size(service(servers(700)), {}) == 65521  # the documented most


@pytest.mark.parametrize("n", NS)
def test_mh_removing_one_moves_only_its_own_flows(n):
    ds = servers(n)
    svc = service(ds)
    before = lookup(svc, ds)
    assert len(before) == render.table_size(svc, {}) and set(before) == {d.key for d in ds}
    rnd = random.Random(n)
    for gone in rnd.sample(ds, min(n, 4)):
        after = lookup(svc, [d for d in ds if d is not gone])
        assert gone.key not in after
        # Exactly: every slot (every flow) that was on another server stays where it was.
        assert all(b == a for b, a in zip(before, after) if b != gone.key)
    # Also when others are already out: flows on live servers stay.
    if n > 3:
        down = set(rnd.sample(range(n), n // 3))
        live = [d for i, d in enumerate(ds) if i not in down]
        base = lookup(svc, live)
        gone = live[0]
        after = lookup(svc, live[1:])
        assert all(b == a for b, a in zip(base, after) if b != gone.key)


@pytest.mark.parametrize("n", NS)
def test_mh_adding_one_moves_its_share_and_only_to_it(n):
    ds = servers(n + 1)
    svc = service(ds)  # n + 1 configured, one of them out until its check passes
    new = ds[n // 2]
    before = lookup(svc, [d for d in ds if d is not new])
    after = lookup(svc, ds)
    share = moved(before, after)
    assert share <= 1 / (n + 1) + 0.01, (n, share)
    assert all(a == new.key for b, a in zip(before, after) if b != a)  # every moved flow went to it


@pytest.mark.parametrize("n", [4, 8, 16, 32, 64])
def test_mh_configuration_change_is_maglev_bounded(n):
    """A real server added to or removed from the configuration changes the servers the table is
    built over: Maglev's own churn, measured here (bench/mh_remap.py gives the numbers)."""
    ds = servers(n + 1)
    small, big = service(ds[:n]), service(ds)
    a, b = lookup(small, ds[:n]), lookup(big, ds)
    assert render.table_size(small, {}) == render.table_size(big, {}) or n + 2 > 40
    if len(a) == len(b):
        assert moved(a, b) <= 1 / (n + 1) + 0.03


def _config(reals: list[str], extra: str = "") -> str:
    body = "".join(f"    real_server {r} 8080 {{\n        weight {1 + i % 3}\n    }}\n" for i, r in enumerate(reals))
    return (f"virtual_server 10.0.0.100 80 {{\n    lb_algo mh\n    lb_kind NAT\n    protocol TCP\n{extra}"
            f"{body}}}\n")


def test_mh_two_daemons_build_identical_tables():
    reals = [f"10.1.0.{i}" for i in range(1, 25)]
    shuffled = reals[:]
    random.Random(7).shuffle(shuffled)
    weights = {r: 1 + i % 3 for i, r in enumerate(reals)}
    text_a = _config(reals)
    # The other director lists the same servers (same weights) in another order.
    body = "".join(f"    real_server {r} 8080 {{\n        weight {weights[r]}\n    }}\n" for r in shuffled)
    text_b = ("virtual_server 10.0.0.100 80 {\n    lb_algo mh\n    lb_kind NAT\n    protocol TCP\n"
              + body + "}\n")
    ta, tb = full_table(loads(text_a)), full_table(loads(text_b))
    (key,) = ta.services
    sa, sb = ta.services[key], tb.services[key]
    assert sa.configured == sb.configured and len(sa.configured) == 24
    assert render.slots(sa, ta.dests[key]) == render.slots(sb, tb.dests[key])
    # And the nft transaction each daemon writes: the same, but for the weight set's element order.
    def script(t: Table) -> list[str]:
        lines = render.transaction(Table(), t, exists=False).splitlines()
        return [str(sorted(e.strip() for e in x[x.index("{") + 1:-1].split(","))) if "_d {" in x and "add element" in x else x
                for x in lines]
    assert script(ta) == script(tb)
    # With a server out on both (its check failed), still the same.
    gone = DestKey("10.1.0.5", 8080)
    da = {k: d for k, d in ta.dests[key].items() if k != gone}
    db = {k: d for k, d in tb.dests[key].items() if k != gone}
    assert render.slots(sa, da) == render.slots(sb, db)


def test_mh_reload_that_changes_nothing_keeps_every_flow():
    text = _config([f"10.1.0.{i}" for i in range(1, 9)])
    t1, t2 = full_table(loads(text)), full_table(loads(text))
    (key,) = t1.services
    assert render.slots(t1.services[key], t1.dests[key]) == render.slots(t2.services[key], t2.dests[key])
    assert render.transaction(t1, t2, exists=True) == ""  # nothing to write at all
    # A reload that changes something else (another virtual server) leaves this one alone.
    t3 = full_table(loads(text + _config(["10.2.0.1"]).replace("10.0.0.100 80", "10.0.0.101 80")))
    script = render.transaction(t1, t3, exists=True)
    assert render.chain_name(key) not in script


def test_mh_weights_are_proportional():
    ds = [Dest(DestKey(f"10.1.0.{i}", 8080), w) for i, w in enumerate((1, 2, 3, 4, 6, 8), start=1)]
    svc = service(ds)
    table = lookup(svc, ds)
    total = sum(d.weight for d in ds)
    for d in ds:
        assert abs(table.count(d.key) / len(table) - d.weight / total) < 0.01, d
    # Equal weights: Maglev's even shares, within one slot.
    eq = servers(16)
    counts = [lookup(service(eq), eq).count(d.key) for d in eq]
    assert max(counts) - min(counts) <= 1


def test_mh_turns_as_ipvs_counts_them():
    assert render.turns([2, 4, 6], 4093) == [1, 2, 3]  # over the gcd
    assert render.turns([1, 1000], 4093) == [1, 62]  # 1000 needs 10 bits: shifted right by 4
    assert render.turns([0, 5], 4093) == [0, 1]
    assert render.turns([0, 0], 4093) == [0, 0]


def test_mh_weight_zero_is_out_of_the_table_and_moves_only_its_flows():
    ds = servers(10)
    svc = service(ds)
    before = lookup(svc, ds)
    quiesced = [Dest(d.key, 0) if i == 3 else d for i, d in enumerate(ds)]
    after = lookup(svc, quiesced)
    assert ds[3].key not in after
    assert all(b == a for b, a in zip(before, after) if b != ds[3].key)


def test_mh_update_writes_only_the_slots_that_moved():
    ds = servers(10)
    svc = service(ds)
    full = {d.key: d for d in ds}
    less = {d.key: d for d in ds[1:]}
    script = render.transaction(Table({KEY: svc}, {KEY: full}), Table({KEY: svc}, {KEY: less}), exists=True)
    assert "flush map" not in script and "add rule" not in script  # the rule and its modulus stay
    c = render.chain_name(KEY)
    (adds,) = [line for line in script.splitlines() if line.startswith(f"add element ip lvsfast {c}_m")]
    n = adds.count(" : ")
    owned = lookup(svc, ds).count(ds[0].key)
    assert n == owned  # exactly the leaver's slots


def test_mh_port_hashes_the_source_port_too():
    svc = Service(KEY, "mh", frozenset({"mh-port"}), configured=((DestKey("10.1.0.1", 80), 1),))
    script = render.transaction(Table(), Table({KEY: svc}, {KEY: {DestKey("10.1.0.1", 80): Dest(DestKey("10.1.0.1", 80))}}),
                                exists=False)
    assert "jhash ip saddr . tcp sport mod 4093 seed 0x4c56" in script


def test_mh_table_written_before_the_configured_set_is_rewritten_whole():
    """A table read back without S_u (written by an older lvsfast, its size from the live count):
    the update writes the whole lookup table and the rule, never patches a guessed old table."""
    ds = servers(8)
    live = {d.key: d for d in ds}
    old = Service(KEY, "mh")  # as parse gives it without S_u
    script = render.transaction(Table({KEY: old}, {KEY: live}), Table({KEY: service(ds)}, {KEY: live}), exists=True)
    c = render.chain_name(KEY)
    assert f"flush map ip lvsfast {c}_m" in script and f"flush chain ip lvsfast {c}" in script
    assert "mod 4093" in script and f"add element ip lvsfast {c}_u" in script
