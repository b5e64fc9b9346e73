"""Where and how a bench script writes its results: one JSON per run, named so headline.py finds it.

bench/results/YYYY-MM-DDTHHMM-<name>.json (UTC, so names sort by time), holding beside the
script's own detail a ``results`` list of common rows (case, metric, unit, better, lvsfast
{median,...}, baseline_name, baseline {median,...}) that bench/headline.py reads.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def stats(xs: list[float]) -> dict:
    """The common {median, min, max, n} of some measurements (NaN dropped)."""
    ok = [x for x in xs if x == x]
    if not ok:
        return {"median": None, "n": 0}
    return {"median": statistics.median(ok), "min": min(ok), "max": max(ok), "n": len(ok)}


def row(case: str, metric: str, unit: str, lvsfast: dict, baseline_name: str = "",
        baseline: dict | None = None, better: str = "lower") -> dict:
    """One common row; no baseline_name/baseline when nothing was measured beside lvsfast."""
    r = {"case": case, "metric": metric, "unit": unit, "better": better, "lvsfast": lvsfast}
    if baseline is not None:
        r |= {"baseline_name": baseline_name, "baseline": baseline}
    return r


def write(name: str, doc: dict, path: Path | str | None = None, directory: Path | str = RESULTS) -> Path:
    """Write doc to path, or to <directory>/<UTC YYYY-MM-DDTHHMM>-<name>.json (bench/results); returns where."""
    out = Path(path) if path else Path(directory) / f"{time.strftime('%Y-%m-%dT%H%M', time.gmtime())}-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return out
