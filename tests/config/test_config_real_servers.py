"""The builder's fast path for plain real_server blocks, compiled and pure: for every block it
either makes exactly the RealServer the builder's own path makes, or hands the block over.

Each config is built three ways: with the implementation under test, and with a maker that
sends every block down the long path (the builder as it is without the fast path). The
configs, every real server's place and keyword lines, and the diagnostics must be the same."""
from __future__ import annotations

import random

import pytest
from support.impls import compiled_and_twin, implementations, resolve_impl, resolve_pair

from lvsfast.config import analyse
from lvsfast.config import build as build_mod
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.reader import _Reader, build_tree


class LongPathOnly:
    """make_all without a fast path: every block through ``slow``."""

    def make_all(self, nodes, inherit, tunnelled, slow, duplicate):
        seen, out = set(), []
        for c in nodes:
            rs = slow(c)
            if rs is None:
                continue
            if (rs.address, rs.port) in seen:
                duplicate(c, rs)
                continue
            seen.add((rs.address, rs.port))
            out.append(rs)
        return tuple(out)


@pytest.fixture(params=implementations("real_servers"))
def impl(request):
    return resolve_impl(request.param)


def built(monkeypatch, text: str, maker):
    with monkeypatch.context() as mp:
        if maker is not None:
            mp.setattr(build_mod.Builder, "real_servers", lambda self: maker)
        a = analyse("t.conf", "x", text=text)
    reals = [(rs, rs.keyword_lines, rs.file, rs.line, type(rs.port), type(rs.weight))
             for vs in (a.config.virtual_servers if a.config else ()) for rs in vs.real_servers]
    return a.config, reals, [str(d) for d in a.diagnostics]


def maker_of(impl):
    fields = build_mod.dc_fields(build_mod.m.RealServer)
    defaults = tuple(f.default if f.default is not build_mod.MISSING else None for f in fields)
    return impl.RealServerMaker(build_mod.plan_of(build_mod.m.RealServer), tuple(f.name for f in fields),
                                defaults, build_mod.parse_ip)


ADDRESSES = ["10.0.0.1", "10.0.0.2", "010.0.0.1", "10.0.0.256", "2001:db8::1", "2001:DB8:0::2", "fe80::1%eth0",
             "bogus", "10.0.0.1%eth0"]
PORTS = [[], ["80"], ["8080"], ["080"], ["+81"], ["70000"], ["-1"], ["http"], ["80", "extra"], ["1_000"]]
STATEMENTS = ["weight 3", "weight 0", "weight 2147483647", "weight 2147483648", "weight -1", "weight", "weight x",
              "weight 5 reverse", "weight ٣", "uthreshold 100", "lthreshold 7", "uthreshold -2", "lthreshold",
              "inhibit_on_failure", "notify_up /bin/true", "TCP_CHECK {\n connect_timeout 2\n }",
              "lb_kind TUN", "no_such_keyword 1", "weight { 1 }", "drain_timeout 3", "virtualhost x"]
VS_HEADS = ["10.1.0.1 80", "10.1.0.1 0", "2001:db8::10 443", "fwmark 7"]
VS_BODY = ["lb_kind NAT", "lb_kind TUN", "lb_kind DR", "inhibit_on_failure", "drain_timeout 9", "protocol TCP",
           "lb_algo wrr"]


def random_config(rnd: random.Random) -> str:
    out = []
    for _ in range(rnd.randint(1, 3)):
        body = rnd.sample(VS_BODY, rnd.randint(0, 3))
        reals = []
        for _ in range(rnd.randint(0, 5)):
            head = " ".join([rnd.choice(ADDRESSES), *rnd.choice(PORTS)])
            stmts = rnd.sample(STATEMENTS, rnd.choice([0, 1, 1, 1, 2, 3]))
            if rnd.random() < 0.1:
                stmts.append("weight 9")  # a repeated keyword: the last one counts
            reals.append(f"  real_server {head} {{\n" + "".join(f"    {s}\n" for s in stmts) + "  }\n")
        if rnd.random() < 0.2 and reals:
            reals.append(reals[0])  # a duplicate
        if rnd.random() < 0.05:
            reals.append("  real_server 10.0.0.9 80\n")  # no block
        mid = rnd.randint(0, len(body))
        lines = [f"  {s}\n" for s in body[:mid]] + reals + [f"  {s}\n" for s in body[mid:]]
        out.append(f"virtual_server {rnd.choice(VS_HEADS)} {{\n" + "".join(lines) + "}\n")
    return "".join(out)


FIXED = [
    "virtual_server 10.1.0.1 80 {\n  lb_kind NAT\n  protocol TCP\n  real_server 10.0.0.1 80 {\n    weight 2\n  }\n}\n",
    "virtual_server 10.1.0.1 80 {\n  inhibit_on_failure\n  drain_timeout 4\n  real_server 10.0.0.1 {\n  }\n}\n",
    "virtual_server 10.1.0.1 80 {\n  real_server 2001:db8::1 80 {\n    weight 1\n  }\n  lb_kind TUN\n}\n",
    "virtual_server 10.1.0.1 80 {\n  real_server 2001:db8::1 80 {\n    weight 1\n  }\n}\n",
    "virtual_server fwmark 3 {\n  real_server 10.0.0.1 80 {\n  }\n  real_server 10.0.0.1 80 {\n weight 4\n }\n}\n",
]


@pytest.mark.parametrize("text", FIXED)
def test_fixed_cases_match_the_long_path(monkeypatch, impl, text: str) -> None:
    assert built(monkeypatch, text, maker_of(impl)) == built(monkeypatch, text, LongPathOnly())


def test_random_configs_match_the_long_path(monkeypatch, impl) -> None:
    rnd = random.Random(20261202)
    maker = maker_of(impl)
    for _ in range(400):
        text = random_config(rnd)
        assert built(monkeypatch, text, maker) == built(monkeypatch, text, LongPathOnly()), text


def test_plain_blocks_take_the_fast_path(impl) -> None:
    """The blocks a large config is made of never reach the long path."""
    d = Diagnostics()
    r = _Reader("x", d)
    r.read_text(FIXED[0] + FIXED[1], "t.conf")
    long_path = []
    for vs in build_tree(r.out, d):
        reals = [c for c in vs.children if c.keyword == "real_server"]
        got = maker_of(impl).make_all(reals, (False, 0.0, 4, 80), False, long_path.append, lambda c, rs: None)
        assert [(rs.address, rs.port) for rs in got] == [("10.0.0.1", 80)]
    assert long_path == []


def test_the_builder_uses_the_selected_implementation() -> None:
    from lvsfast import _native
    from lvsfast.config.real_servers import RealServerMaker
    want = _native.load("real_servers").RealServerMaker
    assert RealServerMaker is want


@pytest.mark.parametrize("pair", compiled_and_twin("real_servers"))
def test_compiled_and_twin_make_the_same(pair) -> None:
    """make_all fed the same blocks by both: the same RealServers, and the same blocks handed to
    the long path and reported as duplicates, in the same order."""
    comp, twin = resolve_pair(pair)
    rnd = random.Random(77)
    for _ in range(300):
        d = Diagnostics()
        r = _Reader("x", d)
        r.read_text(random_config(rnd), "t.conf")
        inherit = (rnd.random() < .5, rnd.choice([0.0, 3.0]), rnd.choice([4, 6]), rnd.choice([0, 80]))
        tunnelled = rnd.random() < .3
        for vs in build_tree(r.out, d):
            reals = [c for c in vs.children if c.keyword == "real_server"]
            runs = []
            for impl in (comp, twin):
                slow, dups = [], []
                got = maker_of(impl).make_all(reals, inherit, tunnelled, lambda c: slow.append(c) or None,
                                              lambda c, rs: dups.append((c, rs)))
                runs.append((got, [id(c) for c in slow], dups))
            assert runs[0] == runs[1]
