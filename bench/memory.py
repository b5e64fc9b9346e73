#!/usr/bin/env python3
"""Resident memory of lvsfast's three processes for 100 virtual servers x 10 real servers.

    python bench/memory.py [--quick] [--json OUT]

Runs the real daemon (parent, VRRP child, checker child) in a namespace with one VRRP instance
and 100 x 10 TCP_CHECKed real servers on loopback listeners, waits for the checks to settle,
then reads RSS and PSS (proportional: shared pages split between the processes that share them,
which is what forking after imports buys) from /proc. Baseline in the same run: keepalived
2.2.7 with the same config (-P -C; its checker needs IPVS, so on a kernel without IPVS only its
VRRP process is measured and said so). The issue's target: at most 60 MB for the three together.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lvsfast.lab.netns import Lab, wait_for  # noqa: E402


def config(n_vs: int, n_rs: int) -> str:
    out = ["global_defs {\n    router_id mem\n    lvs_backend nftables\n}\n",
           "vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n"
           "    priority 100\n    advert_int 1\n    virtual_ipaddress {\n        10.0.0.100/24\n    }\n}\n"]
    for v in range(n_vs):
        out.append(f"virtual_server 10.1.{v // 250}.{v % 250 + 1} 80 {{\n    delay_loop 5\n    lb_algo rr\n"
                   "    lb_kind NAT\n    protocol TCP\n")
        for r in range(n_rs):
            out.append(f"    real_server 127.0.0.1 {20000 + r} {{\n        weight 1\n"
                       "        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n")
        out.append("}\n")
    return "".join(out)


def mem(pid: int) -> tuple[float, float]:
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss / 1024, pss / 1024


def tree(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [int(k) for k in kids]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    n_vs, n_rs = 100, 10
    work = Path(tempfile.mkdtemp(prefix="lvsfast-mem-"))
    conf = work / "k.conf"
    conf.write_text(config(n_vs, n_rs))
    rows = []
    with Lab() as lab:
        ns = lab.ns("mem")
        peer = lab.ns("peer")
        lab.veth(ns, "eth0", peer, "eth0")
        ns.ip("addr", "add", "10.0.0.1/24", "dev", "eth0")
        listeners = lab.spawn(ns, sys.executable, "-c",
                              "import socket,time\nss=[]\nfor p in range(20000,20010):\n s=socket.socket();"
                              "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',p));"
                              "s.listen(1024);ss.append(s)\ntime.sleep(3600)")
        proc = lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-f", str(conf),
                         "--control-socket", str(work / "ctl.sock"), "-p", str(work / "p.pid"),
                         "-r", str(work / "v.pid"), "-c", str(work / "c.pid"),
                         stdout=open(work / "log", "w"), stderr=subprocess.STDOUT)
        wait_for(lambda: (work / "c.pid").exists() and (work / "v.pid").exists(), timeout=60, what="children")
        time.sleep(10 if a.quick else 30)
        parent = int((work / "p.pid").read_text())
        pids = tree(parent)
        per = [mem(p) for p in pids]
        rss, pss = sum(r for r, _ in per), sum(p for _, p in per)
        rows.append({"case": f"{n_vs} VS x {n_rs} RS, 3 processes", "metric": "PSS (RSS in how)",
                     "unit": "MB", "better": "lower",
                     "lvsfast": {"median": round(pss, 1), "min": round(pss, 1), "max": round(rss, 1), "n": 1},
                     "baseline_name": "", "baseline": None})
        print(f"lvsfast: {len(pids)} processes, PSS {pss:.1f} MB, RSS {rss:.1f} MB "
              f"({', '.join(f'{r:.1f}/{p:.1f}' for r, p in per)} RSS/PSS MB)")
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        listeners.kill()
    out = {"scenario": "memory", "what": "resident memory of the three processes for 100 VS x 10 RS",
           "how": "bench/memory.py: the daemon in a namespace, PSS and RSS from /proc/<pid>/smaps_rollup "
                  "after the checks settle; 'min' and 'median' are PSS, 'max' is RSS",
           "results": rows}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
