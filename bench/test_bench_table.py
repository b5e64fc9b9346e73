"""A large reload's per-real-server paths on 10,000 real servers (1,000 virtual servers x 10): the
builder's real_server blocks and NEW_DEST encoding, compiled core against pure twin; the checker's
wanted and placed real servers and the full table's Dests, plain Python (their compiled forms
measured 1.1x and 1.15x and were removed), timed so a regression shows."""
from __future__ import annotations

from dataclasses import MISSING
from dataclasses import fields as dc_fields

import pytest

from lvsfast import _native
from lvsfast.check import core
from lvsfast.check import reals as checker_reals
from lvsfast.config import loads
from lvsfast.config import model as m
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.reader import _Reader, build_tree
from lvsfast.config.values import parse_ip
from lvsfast.dataplane import dest_table, from_config
from lvsfast.dataplane.diff import Op
from lvsfast.dataplane.model import Dest, DestKey
from lvsfast.frozen import plan_of
from lvsfast.ipvs import wire

N_VS, N_RS = 1000, 10
TEXT = "".join(
    f"virtual_server 10.1.{v // 250}.{v % 250 + 1} 80 {{\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n"
    + "".join(f"    real_server 10.200.{r}.{v % 250 + 1} 80 {{\n        weight 1\n    }}\n" for r in range(N_RS))
    + "}\n" for v in range(N_VS))
IMPLS = ["compiled", "python"]


def impl_of(name: str, which: str):
    mod = _native.compiled_module(name) if which == "compiled" else _native.twin_module(name)
    if mod is None:
        pytest.skip("compiled core not built")
    return mod


@pytest.fixture(scope="module")
def config():
    return loads(TEXT)


@pytest.fixture(scope="module")
def real_server_nodes():
    d = Diagnostics()
    r = _Reader("x", d)
    r.read_text(TEXT, "bench.conf")
    return [[c for c in vs.children if c.keyword == "real_server"] for vs in build_tree(r.out, d)]


@pytest.mark.parametrize("which", IMPLS)
def test_real_server_blocks(benchmark, which, real_server_nodes):
    fields = dc_fields(m.RealServer)
    maker = impl_of("real_servers", which).RealServerMaker(
        plan_of(m.RealServer), tuple(f.name for f in fields),
        tuple(f.default if f.default is not MISSING else None for f in fields), parse_ip)
    benchmark.group = "10,000 real_server blocks -> RealServer"
    benchmark.extra_info["impl"] = which
    made = benchmark(lambda: [maker.make_all(nodes, (False, 60.0, 4, 80), False, None, None)
                              for nodes in real_server_nodes])
    assert sum(map(len, made)) == N_VS * N_RS


def test_checker_wanted_and_placed(benchmark, config):
    mod = checker_reals
    keys_of = {id(vs): from_config.service_keys(vs, config) for vs in config.virtual_servers}
    benchmark.group = "checker: 10,000 real servers wanted and placed"
    benchmark.extra_info["impl"] = "python"

    def run():
        wanted: dict = {}
        mod.wanted_reals(config.virtual_servers, keys_of, wanted)
        reals: dict = {}
        mod.place_reals(wanted, reals, core._REAL_PLAN.new)
        return reals
    assert len(benchmark(run)) == N_VS * N_RS


def test_full_table_dests(benchmark, config):
    maker = dest_table.DestMaker(plan_of(DestKey), plan_of(Dest))
    fwd = from_config._forwarding(m.ForwardingMethod())
    jobs = [(maker.rows(vs.real_servers, fwd, from_config.canonical_address, from_config._forwarding),
             from_config.service_keys(vs, config)[0]) for vs in config.virtual_servers]
    benchmark.group = "full table: 10,000 Dests"
    benchmark.extra_info["impl"] = "python"

    def run():
        out = {}
        for rows, key in jobs:
            maker.add_all(out.setdefault(key, {}), rows, key, None)
        return out
    assert sum(map(len, benchmark(run).values())) == N_VS * N_RS


@pytest.mark.parametrize("which", IMPLS)
def test_new_dest_messages(benchmark, which, config):
    mod = impl_of("ipvs_dest", which)
    enc = mod.DestMessages(wire.service_key_attrs, wire._packed_addr, wire.FWD, wire.struct_dest_msg)
    full = from_config.full_table(config)
    ops: list = []
    for key, inner in full.dests.items():
        dest_table.add_dest_ops(ops, Op, key, inner.values())
    benchmark.group = "10,000 add_dest ops -> NEW_DEST messages"
    benchmark.extra_info["impl"] = which

    def run():
        msgs: list = []
        end, size = enc.encode_run(28, ops, 0, msgs, 0, 1 << 40)
        return msgs
    assert len(benchmark(run)) == N_VS * N_RS
