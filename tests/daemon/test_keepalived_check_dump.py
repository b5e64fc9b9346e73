"""SIGUSR1's keepalived_check.data from a running lvsfast checker (nftables data plane) checking
real servers in a namespace: one HTTP server up, one TCP port with nothing listening.

keepalived's own checker cannot run beside it here: without IPVS it exits at start ("IPVS:
Can't initialize ipvs"), so the layout is held to keepalived 2.2.7's by the golden test
(tests/check/test_check_dump_fields.py); this one asserts what the file says of live state.
The daemon's TMPDIR points at the test's folder: keepalived writes its dumps there too.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import uuid

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root

VIP = "10.0.0.100"
UP, DOWN = "10.0.0.11", "10.0.0.12"


def _conf() -> str:
    return f"""instance cdu
global_defs {{
    lvs_backend nftables
    data_use_instance
}}
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server {UP} 80 {{
        weight 5
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 1
            retry 0
        }}
    }}
    real_server {DOWN} 80 {{
        weight 7
        TCP_CHECK {{
            connect_timeout 1
            retry 1
            delay_before_retry 0.2
        }}
    }}
}}
"""


def _block(text: str, start: str, end: str) -> str:
    assert start in text, (start, text)
    return text.split(start, 1)[1].split(end, 1)[0]


def test_sigusr1_writes_the_checkers_view_of_live_servers(tmp_path):
    need_root()
    need_binary("ip", "nft")
    cfg = tmp_path / "k.conf"
    cfg.write_text(_conf())
    dump = tmp_path / "keepalived_check.cdu.data"  # data_use_instance: stem.INSTANCE.ext
    with Lab(prefix="cdu" + uuid.uuid4().hex[:4]) as lab:
        ns = lab.ns("lb")
        for a in (UP, DOWN):
            ns.ip("addr", "add", f"{a}/32", "dev", "lo")
        lab.spawn(ns, sys.executable, "-m", "http.server", "80", "--bind", UP, "--directory", str(tmp_path))
        probe = f"import socket; socket.create_connection(({UP!r}, 80), 1)"
        wait_for(lambda: ns.run(sys.executable, "-c", probe, check=False).returncode == 0, timeout=10,
                 what="the HTTP server")
        log = open(tmp_path / "log", "w")
        pid = tmp_path / "p"
        daemon = lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(cfg),
                           "--control-socket", str(tmp_path / "ctl.sock"), "-p", str(pid), "-r", str(tmp_path / "r"),
                           "-c", str(tmp_path / "c"), stdout=log, stderr=subprocess.STDOUT,
                           env={**os.environ, "TMPDIR": str(tmp_path)})
        wait_for(lambda: pid.exists() and "child started" in (tmp_path / "log").read_text(), timeout=20,
                 what="the checker child")

        def settled() -> bool:
            dump.unlink(missing_ok=True)
            os.kill(int(pid.read_text()), signal.SIGUSR1)
            wait_for(dump.exists, timeout=10, what=f"{dump.name}, log: {(tmp_path / 'log').read_text()}")
            time.sleep(0.1)
            text = dump.read_text()
            return text.count("   Up = no") == 1 and text.count("   Has run = yes") == 2

        wait_for(settled, timeout=20, what="both checks run, the TCP one failed")
        text = dump.read_text()
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
        # -C: no VRRP child, so no VRRP dump (keepalived's VRRP process writes keepalived.data).
        assert not any(p.name.startswith("keepalived.") for p in tmp_path.iterdir())
        assert text.startswith("------< LVS Topology >------\n System is compiled with LVS v1.2.1\n")
        vs = _block(text, f" VS VIP = {VIP}, VPORT = 80\n", "   ------< Real server >------")
        for line in ("   delay_loop = 1.000000", "   lvs_sched = wrr", "   protocol = TCP",
                     "   default forwarding method = NAT", "   alive = 1", "   quorum_state_up = 1"):
            assert line + "\n" in vs, line
        up = _block(text, f"   RIP = {UP}, RPORT = 80, WEIGHT = 5 EFF WEIGHT = 5\n", "   reloaded")
        assert "   alive = 1\n   num failed checkers = 0\n   RS set = 1\n" in up, up
        down = _block(text, f"   RIP = {DOWN}, RPORT = 80, WEIGHT = 7 EFF WEIGHT = 7\n", "   reloaded")
        assert "   alive = 0\n   num failed checkers = 1\n   RS set = 0\n" in down, down
        assert "   Retry count" not in down and "   initial weight = 7\n" in down
        http = _block(text, f" [{VIP}]:tcp:80 -> [{UP}]:tcp:80\n", "\n [")
        assert http.startswith("   Enabled = yes\n   Up = yes\n   Has run = yes\n   Current weight = 0\n"), http
        for line in ("   Retries = 0", "   Default delay before retry = 3000000 us", "     Dest = [10.0.0.11]:80",
                     "     Timeout = 1.000000", "   Keepalive method = HTTP_GET, http protocol 1.0",
                     "   Checked url = /", "       200"):
            assert line + "\n" in http + "\n", line
        tcp = text.split(f" [{VIP}]:tcp:80 -> [{DOWN}]:tcp:80\n", 1)[1]
        assert tcp.startswith("   Enabled = yes\n   Up = no\n   Has run = yes\n"), tcp
        for line in ("   Retries = 1", "   Delay before retry = 200000 us", "   Delay loop = 1000000 us",
                     "     Dest = [10.0.0.12]:80", "   Keepalive method = TCP_CHECK"):
            assert line + "\n" in tcp, line
        # The nftables data plane agrees: only the up server is in the table.
        ruleset = ns.run("nft", "list", "ruleset").stdout
        assert UP in ruleset and DOWN not in ruleset
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
