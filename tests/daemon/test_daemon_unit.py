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


def test_each_child_gets_the_view_it_works_from():
    # The VRRP child never reads the virtual servers; a reload hands it the config without them
    # (on a 10,000-server config they are nearly all of the pickle), the checker the whole config.
    from lvsfast.config import loads
    from lvsfast.daemon.subsystem import config_view

    cfg = loads("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n"
                " virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
                "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n"
                " real_server 10.0.1.1 80 {\n  weight 1\n }\n}\n")
    vrrp = config_view("vrrp", cfg)
    assert vrrp.virtual_servers == () and vrrp.vrrp_instances == cfg.vrrp_instances
    assert vrrp.global_defs == cfg.global_defs
    assert config_view("checker", cfg) is cfg
    assert config_view("vrrp", {"value": 1}) == {"value": 1}  # the supervisor tests' dummy config
