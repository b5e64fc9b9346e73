"""The benchmark harness runs and writes its JSON and summary; a figure never fails CI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.requires import need_binary, need_root

ROOT = Path(__file__).resolve().parents[1]


# The harness's --quick run in CI, every scenario this host can run: the VM scenarios (ipvs,
# reload) are left to `make bench`, since the IPVS suite already boots the VM once per CI run.
HOST_SCENARIOS = ("micro", "failover", "checker", "flap", "nft", "memory")


def test_quick_run_writes_report_plots_and_summary(tmp_path):
    need_root()
    need_binary("ip", "nft", "keepalived")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", ",".join(HOST_SCENARIOS),
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    reports = list(tmp_path.glob("*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["machine"]["cores"] and report["quick"] is True
    by = {sc["scenario"]: sc for sc in report["scenarios"]}
    assert set(by) == set(HOST_SCENARIOS)
    for name, sc in by.items():
        assert "error" not in sc, (name, sc.get("error"))
        assert sc["results"], name  # a figure is never checked, only that each scenario reported
    assert any(r["baseline_name"] == "python" for r in by["micro"]["results"])
    assert any(r["baseline_name"] == "keepalived 2.2.7" for r in by["failover"]["results"])
    assert {p.name.rsplit("-", 1)[1] for p in tmp_path.glob("*.png")} >= {"failover.png", "lateness.png",
                                                                           "programming.png"}
    text = (tmp_path / "latest.md").read_text()
    assert all(f"| {name} |" in text for name in HOST_SCENARIOS)


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
