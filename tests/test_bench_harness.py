"""The benchmark harness runs and writes its JSON and summary; a figure never fails CI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.requires import need_binary, need_root

ROOT = Path(__file__).resolve().parents[1]


# The harness's --smoke run in CI (--quick, one small case per scenario), every scenario this
# host can run: the VM scenarios (ipvs, reload) are left to `make bench`, since the IPVS suite
# already boots the VM once per CI run.
HOST_SCENARIOS = ("micro", "failover", "checker", "flap", "nft", "memory")


def test_smoke_run_writes_report_plots_and_summary(tmp_path):
    need_root()
    need_binary("ip", "nft", "keepalived")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--only", ",".join(HOST_SCENARIOS),
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    reports = list(tmp_path.glob("*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["machine"]["cores"] and report["quick"] is True and report["smoke"] is True
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


def _headline():
    sys.path.insert(0, str(ROOT / "bench"))
    import headline
    return headline


def test_readme_results_table_is_the_one_bench_writes():
    # The README's table is made by bench/headline.py from bench/results, never by hand.
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "headline.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_headline_takes_each_figure_from_the_newest_file_that_has_it(tmp_path):
    h = _headline()
    res = tmp_path / "results"
    res.mkdir()

    def row(case, median, base):
        return {"case": case, "metric": "outage", "unit": "ms", "better": "lower",
                "lvsfast": {"median": median, "min": median, "max": median, "n": 1},
                "baseline_name": "keepalived 2.2.7", "baseline": {"median": base, "min": base, "max": base, "n": 1}}

    old = {"scenario": "failover", "results": [row("graceful stop, advert_int 1 (v2)", 5.0, 600.0),
                                               row("cable cut, advert_int 1 (v2)", 3600.0, 3600.0)]}
    new = {"scenario": "failover", "results": [row("graceful stop, advert_int 1 (v2)", 2.0, 610.0)]}
    (res / "2026-01-01T0000-failover.json").write_text(json.dumps(old))
    (res / "2026-02-01T0000-failover.json").write_text(json.dumps(new))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{h.START}\nstale\n{h.END}\nrest\n")
    assert h.main(["--readme", str(readme), "--results", str(res), "--check"]) == 1
    assert h.main(["--readme", str(readme), "--results", str(res)]) == 0
    text = readme.read_text()
    assert "stale" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    graceful = next(line for line in text.splitlines() if "graceful stop, client outage, advert_int 1 " in line)
    assert "| 2 ms |" in graceful and "305.00×" in graceful and "2026-02-01T0000-failover.json" in graceful
    cut = next(line for line in text.splitlines() if "cable cut, client outage, advert_int 1 " in line)
    assert "2026-01-01T0000-failover.json" in cut  # only the older file measured it
    assert h.main(["--readme", str(readme), "--results", str(res), "--check"]) == 0


def test_bfd_wire_bench_writes_common_rows_headline_finds(tmp_path):
    # Run alone with --bench-results, a micro bench writes the common rows and no samples; the
    # README's BFD decode figure is the first of them.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "testpaths=bench",
                           str(ROOT / "bench" / "test_bench_bfd_wire.py"), "--benchmark-only",
                           "--benchmark-min-rounds=3", "--benchmark-max-time=0.02", f"--bench-results={tmp_path}"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    (written,) = tmp_path.glob("*-bfd_wire.json")
    doc = json.loads(written.read_text())
    assert doc["scenario"] == "bfd_wire" and "benchmarks" not in doc and doc["loadavg"]
    assert all(set(r) >= {"case", "metric", "unit", "lvsfast"} and "data" not in r["lvsfast"] for r in doc["results"])
    found = _headline().newest(tmp_path)
    (row, name), = [v for h, v in found.items() if h.scenario == "bfd_wire"]
    assert name == written.name and row["baseline_name"] == "pure-Python twin" and row["unit"] == "ns"
