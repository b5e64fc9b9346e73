"""The checker's real-server bookkeeping at a load: names, the wanted mapping (order included),
placing kept, new and checked real servers, grouping by virtual server and the unchecked weight."""
from __future__ import annotations

import random

import pytest
from lvsfast.check import reals as impl
from lvsfast.config import loads


@pytest.mark.parametrize("address,port,name", [("10.0.0.1", 80, "10.0.0.1:80"), ("10.0.0.1", None, "10.0.0.1:0"),
                                               ("2001:db8::1", 443, "[2001:db8::1]:443"), ("fe80::1", 0, "[fe80::1]:0")])
def test_real_name(address: str, port, name: str) -> None:
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


class Real:
    """What the checker's Real holds, as place_reals and group_by_vs see it."""
    __slots__ = ("vs", "rs", "keys", "checks")

    def __init__(self, vs, rs, keys, checks) -> None:
        self.vs, self.rs, self.keys, self.checks = vs, rs, keys, checks


def new_real(values: tuple) -> Real:
    return Real(*values)


def test_wanted_and_placed() -> None:
    rnd = random.Random(3)
    for _ in range(100):
        cfg = config(rnd)
        keys_of = {id(vs): [object()] for vs in cfg.virtual_servers}
        got: dict = {}
        impl.wanted_reals(cfg.virtual_servers, keys_of, got)
        want: dict = {}
        for vs in cfg.virtual_servers:
            for rs in vs.real_servers:
                want[(vs.name, impl.real_name(rs.address, rs.port))] = (vs, rs, keys_of[id(vs)])
        assert list(got.items()) == list(want.items())
        kept = Real(None, None, None, [])
        before = {k: kept for k in list(want)[:1]} | {("gone", "x"): kept}
        mine = dict(before)
        todo = impl.place_reals(got, mine, new_real)
        assert list(mine) == list(before) + [k for k in got if k not in before]
        assert [r.rs for r in todo] == [rs for key, (_, rs, _) in got.items() if rs.checkers and key not in before]
        assert all(any(r is mine[k] for k in mine) for r in todo)
        for key, (vs, rs, keys) in got.items():
            if key in before:
                assert mine[key] is kept and (kept.vs, kept.rs, kept.keys) == (vs, rs, keys)
            else:
                assert type(mine[key]) is Real and (mine[key].vs, mine[key].rs, mine[key].keys) == (vs, rs, keys)
                assert mine[key].checks == []


def test_group_by_vs_and_split_checked() -> None:
    rnd = random.Random(5)
    for _ in range(50):
        cfg = config(rnd)
        reals = [Real(vs, rs, None, [object()] if rs.checkers else [])
                 for vs in cfg.virtual_servers for rs in vs.real_servers]
        rnd.shuffle(reals)
        renamed = {id(vs): f"n{i}" for i, vs in enumerate(cfg.virtual_servers) if rnd.random() < .5}
        groups = impl.group_by_vs(reals, renamed)
        want: dict = {}
        for r in reals:
            want.setdefault(renamed.get(id(r.vs), r.vs.name), []).append(r)
        assert list(groups) == list(want)
        assert all(list(map(id, groups[k])) == list(map(id, want[k])) for k in want)
        total, checked = impl.split_checked(reals)
        assert total == sum(r.rs.weight for r in reals if not r.checks)
        assert checked == [r for r in reals if r.checks]
