"""The packaged systemd unit passes systemd's own checks (systemd-analyze verify), pointed at
this installation's lvsfast."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.requires import need_binary

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "lvsfast.service"


def test_unit_file_verifies(tmp_path):
    need_binary("systemd-analyze")
    exe = shutil.which("lvsfast", path=str(Path(sys.executable).parent)) or shutil.which("lvsfast")
    assert exe, "the lvsfast console script is installed with the package"
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/lvsfast " in text and "Type=notify" in text and "WatchdogSec=" in text
    unit = tmp_path / "lvsfast.service"
    unit.write_text(text.replace("/usr/local/bin/lvsfast", exe))
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [ln for ln in (res.stdout + res.stderr).splitlines() if "lvsfast.service" in ln]
    assert res.returncode == 0 and not problems, res.stdout + res.stderr
