"""Notification planning, sans-IO: keepalived's script arguments and FIFO lines."""
from __future__ import annotations

from lvsfast.vrrp.machine import State
from lvsfast.vrrp.notify import Notification, fifo_line, plan

NOTIFY = (("master", "M"), ("backup", "B"), ("fault", "F"), ("stop", "S"), ("notify", "N"))


def test_specific_script_runs_as_configured_and_notify_gets_four_arguments():
    n = Notification("INSTANCE", "VI_1", State.MASTER, 150)
    assert plan(NOTIFY, n) == [("M", ()), ("N", ("INSTANCE", "VI_1", "MASTER", "150"))]
    assert plan(NOTIFY, Notification("INSTANCE", "VI_1", State.INIT, 0)) == [
        ("S", ()), ("N", ("INSTANCE", "VI_1", "STOP", "0"))]


def test_group_notifications_have_no_priority():
    n = Notification("GROUP", "G", State.FAULT)
    assert plan(NOTIFY, n) == [("F", ()), ("N", ("GROUP", "G", "FAULT"))]
    assert fifo_line(n) == 'GROUP "G" FAULT\n'


def test_fifo_line_as_keepalived_writes_it():
    assert fifo_line(Notification("INSTANCE", "VI_1", State.BACKUP, 100)) == 'INSTANCE "VI_1" BACKUP 100\n'
