"""Announcement timing follows keepalived's garp_* knobs (sans-IO, simulated clock)."""
from __future__ import annotations

from lvsfast.vrrp.garp import GarpPolicy, GarpSchedule


def drive(s: GarpSchedule, until: float, step: float = 0.001) -> list[float]:
    times = []
    for i in range(int(round(until / step)) + 1):
        t = round(i * step, 6)
        times += [round(t, 3)] * s.due(t)
    return times


def test_defaults_two_blocks_of_five():
    s = GarpSchedule(GarpPolicy())
    s.became_master(0.0)
    assert drive(s, 10) == [0.0] * 5 + [5.0] * 5
    assert s.next_deadline() is None


def test_interval_spaces_rounds_and_refresh_repeats():
    s = GarpSchedule(GarpPolicy(master_delay=0, master_repeat=3, interval=0.01, master_refresh=2, master_refresh_repeat=2))
    s.became_master(0.0)
    assert drive(s, 4.5) == [0.0, 0.01, 0.02, 2.0, 2.01, 4.0, 4.01]


def test_min_garp_and_leaving_master():
    s = GarpSchedule(GarpPolicy.minimal())
    s.became_master(1.0)
    assert s.due(1.0) == 1 and s.next_deadline() is None
    s = GarpSchedule(GarpPolicy())
    s.became_master(0.0)
    s.due(0.0)
    s.left_master()
    assert s.due(6.0) == 0


def test_lower_priority_advert_triggers_a_block():
    s = GarpSchedule(GarpPolicy(master_repeat=2, lower_prio_repeat=1, lower_prio_delay=0))
    s.became_master(0.0)
    s.due(100)
    s.lower_priority_seen(200.0)
    assert s.due(200.0) == 1


def test_policy_from_config_layers_instance_over_globals():
    from lvsfast.config.model import GlobalDefs, VrrpInstance

    g = GlobalDefs(vrrp_garp_master_delay=2.0, vrrp_garp_master_repeat=3, vrrp_garp_interval=0.01,
                   vrrp_gna_interval=0.02, vrrp_garp_master_refresh=60.0)
    inst = VrrpInstance(name="VI_1", garp_master_repeat=2)
    p4 = GarpPolicy.from_config(g, inst, 4)
    assert (p4.master_delay, p4.master_repeat, p4.interval, p4.master_refresh) == (2.0, 2, 0.01, 60.0)
    assert GarpPolicy.from_config(g, inst, 6).interval == 0.02
    m = GarpPolicy.from_config(GlobalDefs(vrrp_min_garp=True), VrrpInstance(name="VI_1"), 4)
    assert (m.master_delay, m.master_repeat) == (0.0, 1)


def test_vrrp_mac():
    from lvsfast.vrrp.wire_types import vrrp_mac

    assert vrrp_mac(51, 4) == bytes.fromhex("00005e000133") and vrrp_mac(51, 6) == bytes.fromhex("00005e000233")
