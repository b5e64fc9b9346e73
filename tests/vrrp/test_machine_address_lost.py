"""A VIP deleted by someone else while master (keepalived 2.2.7's reaction, sans-IO): BACKUP with
a priority-0 advert and the VIPs released, then MASTER again after the skew time alone."""
from __future__ import annotations

import pytest

from lvsfast.vrrp.machine import (AddressLost, Machine, Params, ReleaseAddresses, SendAdvert, Start, State,
                                  TakeAddresses, Tick, Transition)


def _master(prio: int = 150) -> Machine:
    m = Machine(Params(name="a", vrid=51, priority=prio, primary=bytes([10, 0, 0, 1]), adver_int_cs=100))
    m.handle(Start(0.0))
    m.handle(Tick(m.down_at))
    assert m.state is State.MASTER
    return m


def test_a_lost_vip_sends_the_master_to_backup_and_back_after_the_skew():
    m = _master()
    acts = m.handle(AddressLost(10.0, "VIP 10.0.0.100 removed"))
    assert acts[0] == SendAdvert(0)
    assert ReleaseAddresses() in acts
    assert any(isinstance(a, Transition) and a.new is State.BACKUP for a in acts)
    assert m.down_at == pytest.approx(10.0 + (256 - 150) / 256)  # the skew, not 3 intervals + skew
    acts = m.handle(Tick(m.down_at))
    assert m.state is State.MASTER and TakeAddresses() in acts


def test_a_higher_priority_advert_meanwhile_keeps_it_backup():
    from lvsfast.vrrp.machine import Advert
    m = _master()
    m.handle(AddressLost(10.0, "gone"))
    m.handle(Advert(10.1, 200, bytes([10, 0, 0, 2]), 100))
    m.handle(Tick(10.0 + m.skew() + 0.01))
    assert m.state is State.BACKUP


@pytest.mark.parametrize("state", ["backup", "fault"])
def test_only_a_master_reacts(state):
    from lvsfast.vrrp.machine import Fault
    m = Machine(Params(name="a", vrid=51, priority=100, primary=bytes([10, 0, 0, 1])))
    m.handle(Start(0.0))
    if state == "fault":
        m.handle(Fault(0.5, "link down"))
    before = m.state
    assert m.handle(AddressLost(1.0, "gone")) == []
    assert m.state is before
