"""The sans-IO verdict: retries, delay_before_retry, alpha, warmup spread; in a simulated clock."""
from __future__ import annotations

import random

from lvsfast.check.state import CheckState, Timing


def test_retries_then_down_then_one_success_up():
    s = CheckState(Timing(delay_loop=10, retry=2, delay_before_retry=3))
    assert s.up
    assert s.result(0, False, "a") is None and s.next_at == 3  # retry 1 of 2
    assert s.result(3, False, "b") is None and s.next_at == 6  # retry 2 of 2
    ch = s.result(6, False, "status 503 not in 200-299")
    assert ch is not None and not ch.up and ch.reason == "status 503 not in 200-299"
    assert s.next_at == 16  # down: back to delay_loop
    assert s.result(16, False, "c") is None  # no repeated DOWN
    ch = s.result(26, True, "status 200")
    assert ch is not None and ch.up and s.next_at == 36


def test_success_between_failures_resets_the_retry_count():
    s = CheckState(Timing(delay_loop=10, retry=1, delay_before_retry=1))
    assert s.result(0, False, "x") is None
    assert s.result(1, True) is None
    assert s.result(11, False, "x") is None  # a fresh first failure, not the second
    assert s.result(12, False, "x") is not None


def test_alpha_starts_down_and_warmup_spreads_first_runs():
    s = CheckState(Timing(alpha=True))
    assert not s.up
    assert s.result(0, True).up
    rng = random.Random(5)
    firsts = [CheckState(Timing(warmup=60)).schedule_first(100.0, rng.random()) for _ in range(1000)]
    assert min(firsts) >= 100 and max(firsts) < 160
    buckets = [sum(1 for f in firsts if 100 + 6 * i <= f < 106 + 6 * i) for i in range(10)]
    assert min(buckets) > 50  # spread across the whole warmup, not bunched
    assert CheckState(Timing(warmup=0)).schedule_first(7.0, 0.9) == 7.0
