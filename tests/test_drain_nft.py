"""Zero-loss pool changes on nftables (keepalived #1228, #2240): a real server removed by reload
drains: new connections avoid it, a kept-alive connection to it keeps working, no request fails,
and the drain ends once conntrack holds no flow to it."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from lvsfast.lab.netns import wait_for
from lvsfast.lab.topology import GATEWAY_VIP, REAL_SERVERS, VIP, Figure21
from support.requires import need_binary, need_root

KEEPALIVE = """
import http.client, sys, time
c = http.client.HTTPConnection(sys.argv[1], 80, timeout=5)
c.request("GET", "/"); first = c.getresponse().read().decode().strip()
print(first, flush=True)
sys.stdin.readline()          # the test reloads here
c.request("GET", "/"); second = c.getresponse().read().decode().strip()
print(second, flush=True)
"""


def conf(reals: list[str], drain: float) -> str:
    body = "".join(f"""    real_server {addr} 80 {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
""" for addr in reals)
    return (f"global_defs {{\n    lvs_backend nftables\n}}\nvirtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_algo rr\n"
            f"    lb_kind NAT\n    protocol TCP\n    drain_timeout {drain:g}\n{body}}}\n")


def test_reload_removal_drains_without_losing_a_request(tmp_path):
    need_root()
    need_binary("nft", "conntrack")
    with Figure21() as topo:
        for name in REAL_SERVERS:
            topo.start_http(name)
        r1 = topo.routers["r1"]
        r1.ip("addr", "add", f"{VIP}/24", "dev", "eth0")
        r1.ip("addr", "add", f"{GATEWAY_VIP}/24", "dev", "eth1")
        addrs = [topo.real_address(n) for n in REAL_SERVERS]
        cfg = tmp_path / "k.conf"
        cfg.write_text(conf(addrs, drain=30))
        daemon = topo.lab.spawn(r1, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(cfg),
                                "--control-socket", str(tmp_path / "ctl.sock"), "-p", str(tmp_path / "p"),
                                "-r", str(tmp_path / "r"), "-c", str(tmp_path / "c"),
                                stdout=open(tmp_path / "log", "w"), stderr=subprocess.STDOUT)
        load = topo.lab.spawn(topo.client, sys.executable, "-m", "lvsfast.lab.traffic", VIP, "--rate", "50",
                              "--interval", "0.5", "--duration", "60", stdout=subprocess.PIPE, text=True)
        reports: list[dict] = []

        def seen(names: set[str]) -> bool:
            line = load.stdout.readline()
            reports.append(json.loads(line))
            return set(reports[-1]["ok"]) == names

        wait_for(lambda: seen(set(REAL_SERVERS)), timeout=20, what="traffic to all three real servers")
        keep = topo.lab.spawn(topo.client, sys.executable, "-c", KEEPALIVE, VIP, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
        victim = keep.stdout.readline().strip()
        mark = len(reports)
        cfg.write_text(conf([a for n, a in zip(REAL_SERVERS, addrs) if n != victim], drain=30))
        daemon.send_signal(signal.SIGHUP)
        # New connections leave the drained server; the kept-alive one still reaches it.
        wait_for(lambda: seen(set(REAL_SERVERS) - {victim}), timeout=10, what=f"new flows avoiding {victim}")
        keep.stdin.write("\n")
        keep.stdin.flush()
        assert keep.stdout.readline().strip() == victim
        keep.wait(10)
        for _ in range(4):
            seen(set())
        assert sum(r["failed"] for r in reports[mark:]) == 0, reports[mark:]
        # On nftables a draining server is already out of the maps (only conntrack carries its flows);
        # the drain ends when conntrack has no flow to it left, well before drain_timeout.
        addr = dict(zip(REAL_SERVERS, addrs))[victim]
        assert victim_addr_absent(r1, addr)
        wait_for(lambda: "drained (no connections left)" in (tmp_path / "log").read_text(), timeout=150,
                 what="the drain to finish")
        load.send_signal(signal.SIGTERM)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)


def victim_addr_absent(ns, addr: str) -> bool:
    out = ns.run("nft", "-j", "list", "table", "ip", "lvsfast").stdout
    return addr not in out
