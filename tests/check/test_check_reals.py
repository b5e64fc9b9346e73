"""The checker's real-server bookkeeping at a load, compiled and pure: the same names, the same
wanted mapping (order included) and the same placing of kept, new and checked real servers."""
from __future__ import annotations

import random

import pytest
from support.impls import implementations, resolve_impl

from lvsfast.check import core as service
from lvsfast.config import loads


@pytest.fixture(params=implementations("checker_reals"))
def impl(request):
    return resolve_impl(request.param)


@pytest.mark.parametrize("address,port,name", [("10.0.0.1", 80, "10.0.0.1:80"), ("10.0.0.1", None, "10.0.0.1:0"),
                                               ("2001:db8::1", 443, "[2001:db8::1]:443"), ("fe80::1", 0, "[fe80::1]:0")])
def test_real_name(impl, address: str, port, name: str) -> None:
    assert impl.real_name(address, port) == name


def config(rnd: random.Random):
    out = []
    for v in range(rnd.randint(1, 4)):
        reals = []
        for _ in range(rnd.randint(0, 5)):
            addr = rnd.choice(["10.0.0.1", "10.0.0.2", "2001:db8::5", "10.0.0.3"])
            check = rnd.choice(["", "", "TCP_CHECK {\n connect_timeout 1\n }\n"])
            reals.append(f" real_server {addr} {rnd.choice(['80', '8080', ''])} {{\n weight {rnd.randint(0, 3)}\n {check}}}\n")
        fam = f"2001:db8::1{v}" if rnd.random() < .2 else f"10.1.0.{v + 1}"
        out.append(f"virtual_server {fam} {rnd.choice([80, 443])} {{\n lb_kind TUN\n protocol TCP\n lb_algo rr\n"
                   + "".join(reals) + "}\n")
    return loads("".join(out))


def test_the_same_as_the_twin(impl) -> None:
    from lvsfast.check import _reals_py as twin
    rnd = random.Random(3)
    for _ in range(100):
        cfg = config(rnd)
        keys_of = {id(vs): [object()] for vs in cfg.virtual_servers}
        got, want = {}, {}
        impl.wanted_reals(cfg.virtual_servers, keys_of, got)
        twin.wanted_reals(cfg.virtual_servers, keys_of, want)
        assert list(got.items()) == list(want.items())
        kept = service.Real(None, None, [])
        before = {k: kept for k in list(want)[:1]} | {("gone", "x"): kept}
        mine, theirs = dict(before), dict(before)
        todo_a = impl.place_reals(got, mine, service._REAL_PLAN.new)
        todo_b = twin.place_reals(want, theirs, service._REAL_PLAN.new)
        assert [(r.vs, r.rs, r.keys) for r in todo_a] == [(r.vs, r.rs, r.keys) for r in todo_b]
        assert list(mine) == list(theirs)
        assert [(r.vs, r.rs, r.keys, r.checks) for r in mine.values()] == \
               [(r.vs, r.rs, r.keys, r.checks) for r in theirs.values()]
        assert all(any(r is mine[k] for k in mine) for r in todo_a)
        assert [r.rs for r in todo_a] == [rs for key, (_, rs, _) in got.items() if rs.checkers and key not in before]
        for key, (vs, rs, keys) in got.items():
            if key in before and key != ("gone", "x"):
                assert mine[key] is kept and (kept.vs, kept.rs) == (vs, rs)
            else:
                assert type(mine[key]) is service.Real and mine[key].rs is rs and mine[key].checks == []


def test_the_service_uses_the_selected_implementation() -> None:
    from lvsfast import _native
    assert service.place_reals is _native.load("checker_reals").place_reals
