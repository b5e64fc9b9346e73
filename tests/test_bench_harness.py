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
