"""The timerfd deadlines the VRRP timers wake on: both twins, on a real loop."""
from __future__ import annotations

import asyncio
import os
import select
import time

import pytest

from lvsfast.vrrp import deadline
from support.impls import implementations, resolve_impl


@pytest.fixture(params=implementations("vrrp_socket"))
def core(request):
    return resolve_impl(request.param)


def test_expires_once_at_the_absolute_deadline(core):
    fd = core.timer_open()
    try:
        assert core.timer_expired(fd) == 0  # unarmed: nothing to read, no blocking
        t0 = time.monotonic()
        core.timer_set(fd, t0 + 0.02)
        time.sleep(0.005)
        assert core.timer_expired(fd) == 0
        assert select.select([fd], [], [], 5)[0]  # readable once it expires
        assert time.monotonic() >= t0 + 0.02  # never early
        assert core.timer_expired(fd) == 1
        assert core.timer_expired(fd) == 0  # one-shot
    finally:
        os.close(fd)


def test_rearm_drops_an_unread_expiry_and_disarm_stops_it(core):
    fd = core.timer_open()
    try:
        core.timer_set(fd, time.monotonic() - 1)  # already past: expires at once
        assert select.select([fd], [], [], 5)[0]
        core.timer_set(fd, time.monotonic() + 10)
        assert core.timer_expired(fd) == 0
        core.timer_set(fd, time.monotonic() + 0.005)
        core.timer_set(fd, 0.0)
        time.sleep(0.01)
        assert core.timer_expired(fd) == 0
    finally:
        os.close(fd)


def test_deadline_timer_fires_on_time_on_the_loop(monkeypatch, core):
    for name in ("timer_open", "timer_set", "timer_expired"):
        monkeypatch.setattr(deadline, name, getattr(core, name))

    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        late: list[float] = []
        done = asyncio.Event()
        when = [time.monotonic() + 0.01]

        def fired() -> None:
            late.append(time.monotonic() - when[0])
            if len(late) == 20:
                done.set()
                return
            when[0] += 0.0037  # off the millisecond grid on purpose
            timer.at(when[0])

        timer = deadline.DeadlineTimer(loop, fired)
        timer.at(when[0])
        timer.at(when[0])  # unchanged: no re-arm
        await asyncio.wait_for(done.wait(), 5)
        timer.close()
        timer.at(time.monotonic())  # closed: ignored, no error
        return late

    late = asyncio.run(run())
    assert all(x >= 0 for x in late)  # never early, unlike the loop's millisecond timers
    assert sorted(late)[len(late) // 2] < 0.0005  # the median on time within half a millisecond


def test_moved_deadline_fires_only_at_the_new_time(monkeypatch, core):
    for name in ("timer_open", "timer_set", "timer_expired"):
        monkeypatch.setattr(deadline, name, getattr(core, name))

    async def run() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        fires: list[float] = []
        timer = deadline.DeadlineTimer(loop, lambda: fires.append(time.monotonic()))
        t0 = time.monotonic()
        timer.at(t0 + 0.005)
        timer.at(t0 + 0.05)
        await asyncio.sleep(0.1)
        timer.close()
        return len(fires), fires[0] - t0

    n, at = asyncio.run(run())
    assert n == 1 and at >= 0.05
