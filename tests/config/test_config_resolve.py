"""Effective values derived from several places, as keepalived derives them."""
from __future__ import annotations

from pathlib import Path

from lvsfast.config import load, loads
from lvsfast.config import resolve as r

DATA = Path(__file__).parent / "data"


def test_config_resolve_vrrp_effective_values():
    cfg = load(str(DATA / "kitchen_vrrp.conf"), "x")
    g = cfg.global_defs
    vi1, vi2 = cfg.vrrp_instances
    assert r.vrrp_version(vi1, g) == 3 and r.vrrp_version(vi2, g) == 2
    assert r.strict_mode(vi1, g) is False and r.strict_mode(vi2, g) is True
    assert r.accept_mode(vi1, g) is True and r.accept_mode(vi2, g) is False
    assert r.initial_state(vi1) == "MASTER" and r.initial_state(vi2) == "BACKUP"
    assert r.preempt(vi1) and r.preempt_delay(vi1) == 0.0
    gs = r.garp(vi2, g)
    assert (gs.master_delay, gs.master_repeat, gs.lower_prio_delay, gs.master_refresh, gs.master_refresh_repeat) == \
        (10.0, 1, 10.0, 60.0, 2)
    assert r.sync_group_of(vi1, cfg).name == "G1"
    chk = [t for t in vi1.track_script][0]
    assert chk.weight is None and r.tracked_weight(chk, cfg, "script") == -20


def test_config_resolve_defaults():
    cfg = loads("vrrp_instance V {\n interface lo\n virtual_router_id 1\n nopreempt\n preempt_delay 5\n"
                " virtual_ipaddress {\n  10.0.0.1\n }\n}\n", config_id="x")
    vi, g = cfg.vrrp_instances[0], cfg.global_defs
    assert not r.preempt(vi) and r.preempt_delay(vi) == 5.0 and r.down_timer_adverts(vi, g) == 3
    gs = r.garp(vi, g)
    assert (gs.master_delay, gs.master_repeat, gs.lower_prio_delay, gs.lower_prio_repeat) == (5.0, 5, 5.0, 5)


def test_config_resolve_service_addresses_expand_groups():
    cfg = load(str(DATA / "kitchen_lvs.conf"), "x")
    group_vs, vs443, vs53, fwm = cfg.virtual_servers
    got = list(r.service_addresses(group_vs, cfg))
    assert [(s.address, s.port, s.fwmark) for s in got] == \
        [("192.168.200.1", 80, None)] + [(f"192.168.200.{n}", 80, None) for n in range(2, 11)] + \
        [(f"192.168.202.{n}", 80, None) for n in range(8, 16)] + [(None, 0, 7)]
    assert list(r.service_addresses(vs443, cfg)) == [r.ServiceAddress(4, "10.0.0.1", 443)]
    assert list(r.service_addresses(fwm, cfg)) == [r.ServiceAddress(4, None, 0, 5)]
    rs = vs443.real_servers[0]
    assert r.forwarding(rs, vs443).kind == "DR" and r.forwarding(fwm.real_servers[0], fwm).kind == "NAT"
