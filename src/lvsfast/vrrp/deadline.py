"""A callback at an exact instant, for the VRRP machine's timers.

The loop's own timers count milliseconds (libuv rounds every timeout to one), which put up to a
millisecond and a half of jitter on every advert at advert_int 0.01. A timerfd armed at the
absolute deadline wakes the loop's poll on time, to the kernel's hrtimer precision, and costs one
syscall per re-arm: the deadline is only re-armed when the machine moved it.
"""
from __future__ import annotations

import asyncio
import os
from typing import Callable

from lvsfast._native import load as _load

_core = _load("vrrp_socket")
timer_open, timer_set, timer_expired = _core.timer_open, _core.timer_set, _core.timer_expired

__all__ = ["DeadlineTimer"]


class DeadlineTimer:
    """Calls ``callback()`` once at each :meth:`at` deadline (time.monotonic()'s clock)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._fd = timer_open()
        self._when: float | None = None
        loop.add_reader(self._fd, self._ready)

    def at(self, when: float | None) -> None:
        """Arm for ``when`` (None disarms). A deadline already past fires on the next poll."""
        if when == self._when or self._fd < 0:
            return
        self._when = when
        timer_set(self._fd, 0.0 if when is None else max(when, 1e-9))

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
            self._when = None

    def _ready(self) -> None:
        if self._fd < 0 or not timer_expired(self._fd):
            return  # re-armed after it expired, before the loop read it
        self._when = None
        self._callback()
