"""The VRRP state machine under a simulated clock: elections, preemption, hand-over, timers, faults."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from lvsfast.vrrp.machine import (HANDOVER_GRACE, Advert, Fault, Machine, Params, PriorityChange, Recover, ReleaseAddresses,
                                  SendAdvert, Start, State, Stop, TakeAddresses, Tick, skew_cs)
from support.vrrp_sim import SimNet


def P(name, prio, addr, **kw) -> Params:
    return Params(name=name, vrid=51, priority=prio, primary=bytes([10, 0, 0, addr]), **kw)


def test_highest_priority_wins():
    net = SimNet.of(P("a", 100, 1), P("b", 200, 2), P("c", 150, 3))
    net.start()
    net.run_until(10)
    assert net.states() == ["BACKUP", "MASTER", "BACKUP"]


def test_v2_timers():
    m = Machine(P("a", 100, 1, version=2))
    m.handle(Start(0.0))
    assert m.down_at == pytest.approx(3 + (256 - 100) / 256)
    assert m.skew() == pytest.approx(156 / 256)


def test_v3_timers_follow_learned_interval():
    m = Machine(P("a", 100, 1, adver_int_cs=100))
    m.handle(Start(0.0))
    m.handle(Advert(1.0, 200, bytes([10, 0, 0, 9]), 1))  # a master advertising every 10 ms
    assert m.master_adver_cs == 1
    assert m.down_at == pytest.approx(1.0 + (3 * 1 + 156 / 256) / 100)


MASTER_ADDR = bytes([10, 0, 0, 9])


def test_a_backup_woken_late_listens_one_more_interval_before_taking_over():
    # A whole VM descheduled 40 ms: the backup's deadline reaches it late, and the master,
    # frozen with it, speaks again as soon as it runs. Not a failover.
    m = Machine(P("b", 100, 2, adver_int_cs=1))
    m.handle(Start(0.0))
    m.handle(Advert(1.0, 200, MASTER_ADDR, 1))
    due = m.down_at
    assert m.handle(Tick(due + 0.040)) == [] and m.state is State.BACKUP
    assert m.down_at == pytest.approx(due + 0.040 + 0.01) and m.stall_listens == 1
    m.handle(Advert(due + 0.041, 200, MASTER_ADDR, 1))
    assert m.state is State.BACKUP and m.down_at == pytest.approx(due + 0.041 + m.down_interval())


def test_a_dead_master_still_loses_its_role_after_the_extra_interval():
    m = Machine(P("b", 100, 2, adver_int_cs=1))
    m.handle(Start(0.0))
    m.handle(Advert(1.0, 200, MASTER_ADDR, 1))
    late = m.down_at + 0.040
    m.handle(Tick(late))
    assert m.next_deadline() == pytest.approx(late + 0.01)
    m.handle(Tick(late + 0.05))  # late again: the silence had its extra interval already
    assert m.state is State.MASTER and m.stall_listens == 1


def test_an_on_time_deadline_or_a_priority_zero_is_not_postponed():
    m = Machine(P("b", 100, 2, adver_int_cs=1))
    m.handle(Start(0.0))
    m.handle(Advert(1.0, 200, MASTER_ADDR, 1))
    m.handle(Tick(m.down_at + 0.0005))  # within the normal wake-up latency
    assert m.state is State.MASTER
    m = Machine(P("b", 100, 2, adver_int_cs=1))
    m.handle(Start(0.0))
    m.handle(Advert(1.0, 0, MASTER_ADDR, 1))  # the master is leaving
    m.handle(Tick(m.down_at + 0.040))
    assert m.state is State.MASTER and m.stall_listens == 0


def test_the_extra_interval_is_bounded_for_long_adverts():
    m = Machine(P("b", 100, 2, version=2, adver_int_cs=100))
    m.handle(Start(0.0))
    m.handle(Advert(0.5, 200, MASTER_ADDR, 100))
    due = m.down_at
    m.handle(Tick(due + 0.3))  # more than a tenth of the 1 s interval late
    assert m.state is State.BACKUP and m.down_at == pytest.approx(due + 0.3 + 0.1)


def test_priority_zero_handover_within_skew():
    net = SimNet.of(P("a", 200, 1, adver_int_cs=1), P("b", 100, 2, adver_int_cs=1))
    net.start()
    net.run_until(1)
    assert net.masters() == [0]
    t0 = net.now
    net.stop(0)
    net.run_until(t0 + 0.1)
    took_over = [t for t, name, tr in net.log if name == "b" and tr.new is State.MASTER]
    assert took_over and took_over[-1] - t0 <= skew_cs(100, 1, 3) / 100 + 0.001  # 6 ms bound


def test_held_stop_releases_when_the_successor_speaks():
    net = SimNet.of(P("a", 200, 1, adver_int_cs=1), P("b", 100, 2, adver_int_cs=1))
    net.start()
    net.run_until(1)
    t0 = net.now
    net.stop(0, hold=True)
    assert net.machines[0].state is State.INIT and net.machines[0].holding
    net.run_until(t0 + 0.1)
    (taken,) = [t for t, name, what in net.addresses if name == "b" and what == "take"]
    (released,) = [t for t, name, what in net.addresses if name == "a" and what == "release" and t >= t0]
    # a answered for the VIPs until b's first advert as master reached it and b had time to
    # announce them (HANDOVER_GRACE), and not longer
    assert taken + HANDOVER_GRACE <= released <= taken + HANDOVER_GRACE + 2 * net.latency
    assert not net.machines[0].holding and net.masters() == [1]


def test_held_stop_without_a_successor_lets_go_after_the_slowest_backups_skew():
    m = Machine(P("a", 200, 1, adver_int_cs=1))
    m.handle(Start(0.0))
    m.handle(Tick(m.down_at))
    assert m.state is State.MASTER
    out = m.handle(Stop(1.0, hold=True))
    assert SendAdvert(0) in out and ReleaseAddresses() not in out
    limit = 1.0 + (1 + skew_cs(1, 1, 3)) / 100 + 0.05
    assert m.next_deadline() == pytest.approx(limit)
    assert m.handle(Advert(1.005, 0, bytes([10, 0, 0, 3]), 1)) == []  # another router leaving too: no successor
    assert m.handle(Tick(limit - 0.001)) == []
    assert m.handle(Tick(limit)) == [ReleaseAddresses()]
    assert m.next_deadline() is None


def test_stop_without_hold_or_not_master_releases_at_once_or_holds_nothing():
    m = Machine(P("a", 200, 1))
    m.handle(Start(0.0))
    m.handle(Tick(m.down_at))
    assert ReleaseAddresses() in m.handle(Stop(10.0))
    b = Machine(P("b", 100, 2))
    b.handle(Start(0.0))
    out = b.handle(Stop(1.0, hold=True))
    assert ReleaseAddresses() not in out and not b.holding  # a backup holds no VIPs


def test_preempt_versus_nopreempt():
    net = SimNet.of(P("a", 100, 1), P("b", 200, 2))
    net.start(0)
    net.run_until(5)
    net.start(1)
    net.run_until(12)
    assert net.masters() == [1]  # preempts
    net = SimNet.of(P("a", 100, 1), P("b", 200, 2, preempt=False))
    net.start(0)
    net.run_until(5)
    net.start(1)
    net.run_until(30)
    assert net.masters() == [0]  # nopreempt: a lower priority master keeps it


def test_preempt_delay():
    net = SimNet.of(P("a", 100, 1), P("b", 200, 2, preempt_delay=10))
    net.start(0)
    net.run_until(5)
    net.start(1)
    net.run_until(12)
    assert net.masters() == [0]
    net.run_until(20)
    assert net.masters() == [1]


def test_equal_priority_higher_address_wins():
    net = SimNet.of(P("a", 100, 1, initial_state=State.MASTER), P("b", 100, 2, initial_state=State.MASTER))
    net.start()
    net.run_until(5)
    assert net.masters() == [1]


def test_master_answers_lower_priority_at_once():
    m = Machine(P("a", 200, 1))
    m.handle(Start(0.0))
    m.handle(Tick(m.down_at))
    assert m.state is State.MASTER
    acts = m.handle(Advert(4.1, 100, bytes([10, 0, 0, 2]), 100))
    assert SendAdvert(200) in acts


def test_split_brain_heals_to_one_master():
    net = SimNet.of(P("a", 200, 1), P("b", 100, 2))
    net.start()
    net.run_until(5)
    net.links[0] = False
    net.run_until(10)
    assert net.masters() == [0, 1]  # both think they are master while cut
    net.links[0] = True
    net.run_until(15)
    assert net.masters() == [0]


def test_fault_releases_and_recover_rejoins():
    m = Machine(P("a", 200, 1))
    m.handle(Start(0.0))
    m.handle(Tick(m.down_at))
    acts = m.handle(Fault(5.0, "eth0 down"))
    assert SendAdvert(0) in acts and ReleaseAddresses() in acts and m.state is State.FAULT
    assert m.next_deadline() is None
    m.handle(Recover(6.0))
    assert m.state is State.BACKUP and m.down_at is not None


def test_tracking_priority_moves_mastership():
    net = SimNet.of(P("a", 150, 1), P("b", 100, 2))
    net.start()
    net.run_until(5)
    assert net.masters() == [0]
    net.send(0, PriorityChange(net.now, 50, "chk_http failed (weight -100)"))
    net.run_until(10)
    assert net.masters() == [1]


def test_owner_starts_master_and_transitions_are_logged_with_reason():
    m = Machine(P("a", 255, 1))
    acts = m.handle(Start(0.0))
    assert m.state is State.MASTER and TakeAddresses() in acts
    tr = [a for a in acts if hasattr(a, "log_line")][0]
    assert tr.log_line("VI_1") == "(VI_1) Entering MASTER STATE (address owner (priority 255))"


@settings(max_examples=300, deadline=None)
@given(prios=st.lists(st.integers(1, 254), min_size=2, max_size=3),
       interval=st.sampled_from([1, 10, 100]),
       cut=st.integers(0, 2), cut_at=st.floats(0, 3), heal_after=st.floats(0.05, 3),
       stop=st.booleans())
def test_always_exactly_one_master_after_healing(prios, interval, cut, cut_at, heal_after, stop):
    net = SimNet.of(*[P(f"r{i}", p, i + 1, adver_int_cs=interval) for i, p in enumerate(prios)])
    net.start()
    scale = interval / 100
    net.run_until(cut_at * scale * 10)
    victim = cut % len(prios)
    net.links[victim] = False
    net.run_until(net.now + heal_after * scale * 10)
    net.links[victim] = True
    if stop:
        net.stop(victim)
    net.run_until(net.now + 20 * scale * 10)
    alive = [i for i in range(len(prios)) if not (stop and i == victim)]
    masters = net.masters()
    assert len(masters) == 1
    best = max(alive, key=lambda i: (prios[i], i + 1))
    assert masters == [best]


@pytest.mark.parametrize("send", [False, True])
def test_higher_prio_send_advert_answers_once_before_stepping_down(send):
    # keepalived's higher_prio_send_advert: the master that loses sends one advert of its own
    # first, so a master that also thought itself alone re-sends its GARPs.
    m = Machine(P("a", 100, 1, initial_state=State.MASTER, higher_prio_send_advert=send))
    m.handle(Start(0.0))
    assert m.state is State.MASTER
    out = m.handle(Advert(1.0, 200, MASTER_ADDR, 100))
    assert m.state is State.BACKUP
    sends = [a for a in out if isinstance(a, SendAdvert)]
    assert sends == ([SendAdvert(100)] if send else [])
    if send:
        assert out.index(sends[0]) < next(i for i, a in enumerate(out) if isinstance(a, ReleaseAddresses))
