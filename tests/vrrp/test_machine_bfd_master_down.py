"""bfd_master_down on the VRRP machine, under a simulated clock: a BFD session to the master
going Down is Master_Down after the skew time alone, with VRRP's skew ordering among backups;
nothing on the master or when the session's neighbour is not the master; adverts still decide."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from lvsfast.vrrp.machine import Advert, Machine, Params, PeerDown, Start, State, Tick, skew_cs
from support.vrrp_sim import SimNet


def P(name, prio, addr, **kw) -> Params:
    return Params(name=name, vrid=51, priority=prio, primary=bytes([10, 0, 0, addr]), **kw)


def addr(i: int) -> bytes:
    return bytes([10, 0, 0, i])


def test_a_backup_takes_over_after_its_skew_when_the_master_s_session_goes_down():
    # advert_int 1 s: without BFD the backup waits 3 s + skew after the last advert.
    net = SimNet.of(P("a", 200, 1), P("b", 100, 2))
    net.start()
    net.run_until(5)
    assert net.masters() == [0]
    net.links[0] = False  # the cable is cut
    cut = net.now
    net.run_until(cut + 0.030)  # BFD 10 ms x 3 detects it
    net.send(1, PeerDown(net.now, addr(1)))
    net.run_until(cut + 1.0)
    took = [t for t, name, tr in net.log if name == "b" and tr.new is State.MASTER]
    assert took and took[0] - (cut + 0.030) == pytest.approx(skew_cs(100, 100, 3) / 100, abs=1e-6)
    assert "BFD" in net.machines[1].last_reason


def test_skew_ordering_is_kept_among_several_backups():
    net = SimNet.of(P("a", 200, 1), P("b", 150, 2), P("c", 100, 3))
    net.start()
    net.run_until(5)
    net.links[0] = False
    t = net.now + 0.03
    net.run_until(t)
    for i in (1, 2):  # both backups hear BFD say Down at the same instant
        net.send(i, PeerDown(t, addr(1)))
    net.run_until(t + 2)
    # The cut-off master still thinks itself master; of the others, the higher priority spoke
    # first and c, hearing it within its longer skew, stayed backup.
    assert net.masters() == [0, 1]
    assert [name for when, name, tr in net.log if tr.new is State.MASTER and when > 4] == ["b"]


def test_an_advert_within_the_skew_keeps_the_master():
    m = Machine(P("b", 100, 2))
    m.handle(Start(0.0))
    m.handle(Advert(1.0, 200, addr(1), 100))
    m.handle(PeerDown(1.5, addr(1)))
    assert m.down_at == pytest.approx(1.5 + m.skew())
    m.handle(Advert(1.6, 200, addr(1), 100))  # the master was alive: its advert restarts the timer
    assert m.down_at == pytest.approx(1.6 + m.down_interval())
    m.handle(Tick(1.5 + m.skew()))
    assert m.state is State.BACKUP


def test_nothing_on_the_master_nor_for_a_neighbour_that_is_not_the_master():
    m = Machine(P("a", 200, 1))
    m.handle(Start(0.0))
    m.handle(Tick(m.down_at))
    assert m.state is State.MASTER
    assert m.handle(PeerDown(5.0, addr(2))) == [] and m.state is State.MASTER
    b = Machine(P("b", 100, 2))
    b.handle(Start(0.0))
    b.handle(PeerDown(0.5, addr(1)))  # no master heard yet
    assert b.down_at == pytest.approx(b.down_interval())
    b.handle(Advert(1.0, 200, addr(1), 100))
    due = b.down_at
    b.handle(PeerDown(1.1, addr(3)))  # a session to another router
    assert b.down_at == due


@settings(max_examples=200, deadline=None)
@given(prios=st.lists(st.integers(1, 254), min_size=2, max_size=4, unique=True),
       detect=st.floats(0.001, 0.5), heal_after=st.floats(0.0, 5.0))
def test_one_master_after_healing(prios, detect, heal_after):
    # Whatever BFD said, once the link is back VRRP's election leaves exactly one master: the
    # highest priority.
    net = SimNet.of(*(P(f"r{i}", p, i + 1, adver_int_cs=100) for i, p in enumerate(prios)))
    net.start()
    net.run_until(5)
    master = net.masters()[0]
    net.links[master] = False
    t = net.now + detect
    net.run_until(t)
    for i in range(len(prios)):
        if i != master:
            net.send(i, PeerDown(t, addr(master + 1)))
    net.run_until(t + heal_after)
    net.links[master] = True
    net.run_until(t + heal_after + 10)
    assert net.masters() == [max(range(len(prios)), key=lambda i: prios[i])]
