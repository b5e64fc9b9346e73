"""The scale-out lab's tour, short (#27): directors behind ECMP announced by FRR, a director
killed, one stopped gracefully, a cable cut, a real server out and back, bgpd killed."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support.requires import need_binary, need_root

pytestmark = [pytest.mark.netns, pytest.mark.root]


def test_scaleout_tour_passes():
    need_root()
    need_binary("nft", "vtysh")
    if not os.path.exists("/usr/lib/frr/bgpd"):
        pytest.skip("needs FRR (/usr/lib/frr/bgpd)")
    proc = subprocess.run([sys.executable, "-m", "lvsfast.lab", "--scale-out", "--tour", "--quick"],
                          capture_output=True, text=True, timeout=600)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "tour passed" in lines
    assert not any(line.startswith("FAIL") for line in lines)
    assert "lab removed" in lines
    prefix = proc.stdout.split("namespaces ", 1)[1].split("-*", 1)[0]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in left
