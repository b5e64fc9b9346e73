"""The benchmark harness runs and writes its JSON and summary; a figure never fails CI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_micro_run_writes_report(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "micro",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    reports = list(tmp_path.glob("*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["machine"]["cores"] and report["quick"] is True
    micro = report["scenarios"][0]
    assert "error" not in micro, micro.get("error")
    assert any(r["baseline_name"] == "python" for r in micro["results"])
    assert "| micro |" in (tmp_path / "latest.md").read_text()


def test_summary_and_plots_from_scenario_files(tmp_path):
    """The report's table and PNGs from scenario results in the shape the scripts write: the
    failover timeline, a size series, and a row whose lvsfast figure is 0 (no ratio)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "bench"))

    def st(x):
        return {"median": x, "min": x, "max": x, "n": 1}

    report = {"machine": run.machine(), "quick": True, "scenarios": [
        {"scenario": "failover", "results": [
            {"case": "cable cut, advert_int 0.1 (v3)", "metric": "outage", "unit": "ms", "better": "lower",
             "lvsfast": st(310.0), "baseline_name": "keepalived 2.2.7", "baseline": st(420.0)}],
         "series": {"timeline": {"cable cut, advert_int 0.1 (v3)": {
             "lvsfast": [[-20.0, 6.0], [305.0, 310.0]], "keepalived": [[415.0, 420.0]]}}}},
        {"scenario": "ipvs", "results": [],
         "series": {"size_vs_time": {"lvsfast apply (load)": [[1000, 200.0], [10000, 2600.0]]}}},
        {"scenario": "reload", "results": [
            {"case": "10 reloads at 100 req/s, ipvs (VM)", "metric": "failed requests", "unit": "req",
             "better": "lower", "lvsfast": st(0), "baseline_name": "keepalived 2.2.7", "baseline": st(7)}]},
        {"scenario": "nft", "what": "x", "error": "RuntimeError: broken\nmore"},
    ]}
    made = run.plots(report, tmp_path, "t")
    assert set(made) == {"t-failover.png", "t-programming.png"}
    assert all((tmp_path / m).stat().st_size > 1000 for m in made)
    text = run.summary(report)
    assert "| failover | cable cut, advert_int 0.1 (v3) | outage | 310 ms [310–310] | keepalived 2.2.7 |" in text
    assert "1.35x" in text
    assert "| reload | 10 reloads at 100 req/s, ipvs (VM) | failed requests | 0 req [0–0] |" in text
    assert "| nft | – | not run | RuntimeError: broken |" in text
