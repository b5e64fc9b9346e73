#!/usr/bin/env python3
"""Resident memory of lvsfast's processes for 100 virtual servers x 10 real servers, against keepalived.

    python bench/memory.py [--quick] [--json OUT]

Runs the real daemon (parent, VRRP child, checker child) in a namespace with one VRRP instance
and 100 x 10 TCP_CHECKed real servers on loopback listeners (the nftables backend: this kernel
may have no IPVS), waits for the checks to settle, then reads RSS and PSS (proportional: shared
pages split between the processes that share them, which is what forking after imports buys)
from /proc/<pid>/smaps_rollup for the parent and its children. Baseline in the same run:
keepalived 2.2.7 with the same config (its checker needs IPVS: on a kernel without it, its
checker child gives up and only the processes still running are measured, which the row says).
The issue's target: at most 35 MB PSS summed over lvsfast's processes.
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

from lvsfast.lab.netns import Lab, Namespace, wait_for  # noqa: E402

N_VS, N_RS = 100, 10
FIRST_PORT = 20000


def config(n_vs: int = N_VS, n_rs: int = N_RS) -> str:
    out = ["global_defs {\n    router_id mem\n    lvs_backend nftables\n}\n",
           "vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n"
           "    priority 100\n    advert_int 1\n    virtual_ipaddress {\n        10.0.0.100/24\n    }\n}\n"]
    for v in range(n_vs):
        out.append(f"virtual_server 10.1.{v // 250}.{v % 250 + 1} 80 {{\n    delay_loop 5\n    lb_algo rr\n"
                   "    lb_kind NAT\n    protocol TCP\n")
        for r in range(n_rs):
            out.append(f"    real_server 127.0.0.1 {FIRST_PORT + r} {{\n        weight 1\n"
                       "        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n")
        out.append("}\n")
    return "".join(out)


def mem(pid: int) -> dict[str, float]:
    """RSS, PSS and PSS of anonymous memory in MB, from smaps_rollup."""
    want = {"Rss:": "rss", "Pss:": "pss", "Pss_Anon:": "pss_anon"}
    out = dict.fromkeys(want.values(), 0.0)
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key = line.split(None, 1)[0] if line else ""
        if key in want:
            out[want[key]] = int(line.split()[1]) / 1024
    return out


def ipvs() -> bool:
    return Path("/proc/net/ip_vs").exists()


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out = [pid]
    for kid in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += tree(int(kid))
    return out


def listeners(lab: Lab, ns: Namespace, n_rs: int = N_RS) -> subprocess.Popen:
    """TCP listeners on 127.0.0.1:FIRST_PORT.. in ``ns``, for the TCP_CHECKs."""
    return lab.spawn(ns, sys.executable, "-c",
                     f"import socket,time\nss=[]\nfor p in range({FIRST_PORT},{FIRST_PORT + n_rs}):\n"
                     " s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
                     "s.bind(('127.0.0.1',p));s.listen(1024);ss.append(s)\ntime.sleep(3600)")


def measure(impl: str, settle: float, n_vs: int = N_VS, n_rs: int = N_RS) -> dict:
    """Start ``impl`` ("lvsfast" or "keepalived") with the 100 x 10 config in a fresh namespace,
    wait ``settle`` seconds, and read every process of its tree."""
    work = Path(tempfile.mkdtemp(prefix="lvsfast-mem-"))
    conf = work / "k.conf"
    conf.write_text(config(n_vs, n_rs))
    with Lab() as lab:
        ns = lab.ns("mem")
        peer = lab.ns("peer")
        lab.veth(ns, "eth0", peer, "eth0")
        ns.ip("addr", "add", "10.0.0.1/24", "dev", "eth0")
        listen = listeners(lab, ns, n_rs)
        pidfile = work / "p.pid"
        if impl == "lvsfast":
            cmd = [sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-f", str(conf),
                   "--control-socket", str(work / "ctl.sock"), "-p", str(pidfile),
                   "-r", str(work / "v.pid"), "-c", str(work / "c.pid")]
        else:
            # Without IPVS keepalived's checker exits FATAL and takes the daemon down: then only
            # its VRRP side runs (-P), and the row says so.
            cmd = ["/usr/sbin/keepalived", "-n", "-l", "-D", "-G", "-f", str(conf), "-p", str(pidfile),
                   "-r", str(work / "v.pid"), "-c", str(work / "c.pid"), *([] if ipvs() else ["-P"])]
        proc = lab.spawn(ns, *cmd, stdout=open(work / "log", "w"), stderr=subprocess.STDOUT)
        try:
            children = ("v.pid", "c.pid") if impl == "lvsfast" or ipvs() else ("v.pid",)
            wait_for(lambda: all((work / c).exists() for c in children), timeout=60, what=f"{impl}'s children")
            time.sleep(settle)
            if proc.poll() is not None:
                raise RuntimeError(f"{impl} exited: {(work / 'log').read_text()[-1500:]}")
            # `ip netns exec` execs the daemon: the Popen's pid is the daemon's parent process.
            per = {pid: mem(pid) for pid in tree(proc.pid)}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            listen.kill()
    return {"processes": len(per), "pss": sum(m["pss"] for m in per.values()),
            "rss": sum(m["rss"] for m in per.values()), "per_process": list(per.values())}


#: The same process model doing nothing: the parent with the daemon's imports and the config read,
#: gc-frozen, forks two children that each set up logging and run a uvloop loop; the parent
#: then imports its own stack and runs its loop too. What three CPython processes cost before
#: either subsystem exists (its PSS, summed, is printed last).
NULL_MODEL = """
import asyncio, gc, os, sys
import lvsfast.cli, lvsfast.config, lvsfast.daemon.main, uvloop
from lvsfast.daemon import logs
from lvsfast.daemon.subsystem import preload
preload()
config = lvsfast.config.load(sys.argv[1])
logs.setup("Lvsfast", console=False)
gc.collect(1)
gc.freeze()
kids = []
for name in ("vrrp", "checker"):
    pid = os.fork()
    if pid == 0:
        logs.setup(name, console=False)
        uvloop.new_event_loop().run_until_complete(asyncio.sleep(6))
        os._exit(0)
    kids.append(pid)
import lvsfast.daemon.control, lvsfast.daemon.supervisor
uvloop.new_event_loop().run_until_complete(asyncio.sleep(3))
total = 0.0
for pid in (os.getpid(), *kids):
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            total += int(line.split()[1]) / 1024
for pid in kids:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(total)
"""


def null_model(n_vs: int = N_VS, n_rs: int = N_RS) -> float:
    """PSS in MB summed over :data:`NULL_MODEL`'s three processes, with the same config."""
    with tempfile.TemporaryDirectory(prefix="lvsfast-mem-null-") as wd:
        conf = Path(wd) / "k.conf"
        conf.write_text(config(n_vs, n_rs))
        out = subprocess.run([sys.executable, "-c", NULL_MODEL, str(conf)], capture_output=True, text=True,
                             check=True, timeout=60)
    return float(out.stdout.split()[-1])


def _one(value: float) -> dict:
    v = round(value, 1)
    return {"median": v, "min": v, "max": v, "n": 1}


def floor_rows(ours: dict, n_vs: int = N_VS, n_rs: int = N_RS) -> list[dict]:
    """What the target has to fit beside, each against ``ours`` (the full daemon): the same
    processes doing nothing (:func:`null_model`), and the daemon with the smallest table (one
    virtual server, one real server: it settles after its one check, within 5 s)."""
    def one(case: str, pss: float) -> dict:
        return {"case": case, "metric": "PSS summed", "unit": "MB", "better": "lower", "lvsfast": _one(pss),
                "baseline_name": f"the daemon, {n_vs} VS x {n_rs} RS", "baseline": _one(ours["pss"])}
    return [one("floor: parent and two children, the daemon's imports and config, doing nothing", null_model()),
            one("the daemon, 1 VS x 1 RS", measure("lvsfast", 5, 1, 1)["pss"])]


def row(ours: dict, theirs: dict | None, n_vs: int = N_VS, n_rs: int = N_RS) -> dict:
    def st(m: dict) -> dict:
        return {"median": round(m["pss"], 1), "min": round(m["pss"], 1), "max": round(m["rss"], 1), "n": 1}

    note = ""
    if theirs:
        note = f"; keepalived {theirs['processes']} processes" + ("" if ipvs() else " (-P: no IPVS here, VRRP only)")
    return {"case": f"{n_vs} VS x {n_rs} RS, {ours['processes']} processes{note}",
            "metric": "PSS summed (max: RSS summed)", "unit": "MB", "better": "lower", "lvsfast": st(ours),
            "baseline_name": "keepalived" if theirs else "", "baseline": st(theirs) if theirs else None}


def describe(impl: str, m: dict) -> str:
    parts = ", ".join(f"{p['rss']:.1f}/{p['pss']:.1f}" for p in m["per_process"])
    return f"{impl}: {m['processes']} processes, PSS {m['pss']:.1f} MB, RSS {m['rss']:.1f} MB ({parts} RSS/PSS MB)"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    settle = 10 if a.quick else 30
    # The daemons started here run this tree, not whatever lvsfast the interpreter has installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    ours = measure("lvsfast", settle)
    print(describe("lvsfast", ours))
    theirs = None
    if Path("/usr/sbin/keepalived").exists():
        theirs = measure("keepalived", settle)
        print(describe("keepalived", theirs))
    out = {"scenario": "memory", "what": "resident memory of the daemon's processes for 100 VS x 10 RS",
           "how": "bench/memory.py: the daemon in a namespace (nftables backend), PSS and RSS summed over "
                  "the parent and its children from /proc/<pid>/smaps_rollup after the checks settle; "
                  "'min' and 'median' are PSS, 'max' is RSS",
           "results": [row(ours, theirs), *floor_rows(ours)],
           "series": {"lvsfast": ours, "keepalived": theirs}}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
