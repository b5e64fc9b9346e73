"""One checker's verdict over time, as keepalived decides it. Sans-IO: results and time in,
the verdict and the next run time out.

A failed attempt is retried ``retry`` times, ``delay_before_retry`` apart, before the checker
says down; so a dead server is detected within connect_timeout x (retry + 1) +
delay_before_retry x retry. One success says up. Checks run every ``delay_loop``; the first run
is spread over ``warmup`` (a random fraction, from the caller's RNG) so thousands of checks do
not fire together. ``alpha`` starts a checker down.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timing:
    delay_loop: float = 60.0
    connect_timeout: float = 5.0
    retry: int = 1
    delay_before_retry: float = 1.0
    warmup: float = 0.0
    alpha: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    up: bool
    reason: str


@dataclass(slots=True)
class CheckState:
    timing: Timing
    up: bool = True
    failures: int = 0
    next_at: float = 0.0
    last_reason: str = ""
    runs: int = 0

    def __post_init__(self) -> None:
        self.up = not self.timing.alpha

    def schedule_first(self, now: float, fraction: float) -> float:
        """``fraction`` in [0, 1) from the caller's RNG spreads first runs over ``warmup``."""
        self.next_at = now + self.timing.warmup * fraction
        return self.next_at

    def result(self, now: float, ok: bool, reason: str = "") -> Change | None:
        """Record one attempt; returns the verdict change, if any, and sets :attr:`next_at`."""
        t = self.timing
        self.runs += 1
        if ok:
            self.failures = 0
            self.next_at = now + t.delay_loop
            if not self.up:
                self.up = True
                self.last_reason = reason or "check succeeded"
                return Change(True, self.last_reason)
            return None
        self.failures += 1
        self.last_reason = reason
        if self.up and self.failures <= t.retry:
            self.next_at = now + t.delay_before_retry
            return None
        self.next_at = now + t.delay_loop
        self.failures = 0
        if self.up:
            self.up = False
            return Change(False, reason)
        return None
