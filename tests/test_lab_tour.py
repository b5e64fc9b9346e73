"""The README's main command: the lab's scripted tour passes (VRRP failover, checks, data plane)."""
from __future__ import annotations

import subprocess
import sys

from support.requires import need_binary, need_root


def test_lab_tour_passes():
    need_root()
    need_binary("nft")
    proc = subprocess.run([sys.executable, "-m", "lvsfast.lab", "--tour"], capture_output=True, text=True,
                          timeout=400)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "tour passed" in proc.stdout
    lines = proc.stdout.splitlines()
    assert not any(line.startswith("FAIL") for line in lines)
    assert "lab removed" in proc.stdout
    prefix = proc.stdout.split("namespaces ", 1)[1].split("-*", 1)[0]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in left
