"""The summary of a prober's lateness histogram: the pure twin's, and several shards' summed."""
from __future__ import annotations

#: Bins are 1 ms wide and start this early (a check started ahead of its due time).
#: As includes/probe_consts.pxi and the twin's LATE_EARLY_MS.
LATE_EARLY_MS = 50


def summary(hist: list[int]) -> dict[str, int | None]:
    """p50, p99 and max lateness (ms) of a lateness histogram (bins of 1 ms from -LATE_EARLY_MS);
    also the summary of several shards' summed histograms."""
    total = sum(hist)
    if not total:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    seen, p50, p99 = 0, -1, -1
    for i, k in enumerate(hist):
        seen += k
        if p50 < 0 and seen * 100 >= total * 50:
            p50 = i
        if seen * 100 >= total * 99:
            p99 = i
            break
    last = max(i for i, k in enumerate(hist) if k)
    return {"count": total, "p50_ms": p50 + 1 - LATE_EARLY_MS, "p99_ms": p99 + 1 - LATE_EARLY_MS,
            "max_ms": last + 1 - LATE_EARLY_MS}
