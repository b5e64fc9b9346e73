#!/usr/bin/env python3
"""Start-up and memory, lvsfast against keepalived 2.2.7 in the same run.

    python bench/startup.py [--quick] [--runs N] [--json PATH]

What, and the issue's targets (#25):
- ``lvsfast -t -f examples/keepalived.conf`` as a user runs it (the installed ``lvsfast``
  script), wall time, median of N runs (at least 20), against ``keepalived -t`` on the same
  file. Target: at most 50 ms.
- The daemon's imports: the parent's before the fork (``lvsfast.cli``, the config package,
  ``lvsfast.daemon.main``), its own after the fork (supervision, control socket), and what each
  child adds after the fork (the VRRP subsystem; the checker with the nftables backend), each in
  a fresh interpreter, median of N. keepalived has no counterpart.
- PSS summed over the daemon's processes for 100 virtual servers x 10 TCP_CHECKed real servers
  (bench/memory.py: nftables backend, loopback listeners). Target: at most 35 MB.
- From start to the VIP held: one router alone on its segment, a ``vrrp_instance`` in state MASTER
  at priority 255, from starting the daemon (``-P``) until the kernel reports the VIP on the
  interface (``ip monitor address`` in the namespace, started before). Median over rounds.
  Target: at most 2x keepalived's.
- The floor under any CPython daemon's start, in the same rounds: the interpreter alone
  (``python -c pass``) and with the event loop the daemon runs on (``import asyncio, uvloop``),
  each against keepalived's start to VIP.

The interpreter runs the byte-compiled sources (as an installed package does): the tree is
compiled first and PYTHONDONTWRITEBYTECODE is dropped for the runs, which a fresh checkout
would otherwise pay for on every start (compiling the sources cost more than the rest).
"""
from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(BENCH))

import memory  # noqa: E402
from lvsfast.lab.netns import Lab, wait_for  # noqa: E402

EXAMPLE = ROOT / "examples" / "keepalived.conf"
KEEPALIVED = "/usr/sbin/keepalived"
VIP = "10.0.0.100"

#: What each process imports: the parent's before the fork; each child's on top of the parent's.
IMPORTS = {
    "parent (cli, config, daemon)": ("", "import lvsfast.cli, lvsfast.config, lvsfast.daemon.main"),
    "VRRP child's own": ("import lvsfast.cli, lvsfast.config, lvsfast.daemon.main", "import lvsfast.vrrp.service"),
    "checker child's own (nftables)": ("import lvsfast.cli, lvsfast.config, lvsfast.daemon.main",
                                       "import lvsfast.check.service, lvsfast.nft.backend"),
    # Imported once the children are forked (lvsfast.daemon.main.run), off the VRRP child's path.
    "parent's own, after the fork": ("import lvsfast.cli, lvsfast.config, lvsfast.daemon.main",
                                     "import lvsfast.daemon.supervisor, lvsfast.daemon.control"),
}


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [e.get("PYTHONPATH")])])
    return e


def lvsfast_cmd() -> list[str]:
    """The ``lvsfast`` script beside this interpreter (what a user runs), else ``-m lvsfast.cli``."""
    script = Path(sys.executable).with_name("lvsfast")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lvsfast.cli"]


def stats(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "n": len(values)}


def wall(cmd: list[str], runs: int, warm: int = 3) -> list[float]:
    """Wall time of ``cmd`` in ms, ``runs`` times after ``warm`` unmeasured runs."""
    out = []
    for i in range(warm + runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        if i >= warm:
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def config_test(runs: int) -> dict:
    ours = wall([*lvsfast_cmd(), "-t", "-f", str(EXAMPLE)], runs)
    base = wall([KEEPALIVED, "-t", "-f", str(EXAMPLE)], runs) if Path(KEEPALIVED).exists() else None
    return {"case": "lvsfast -t -f examples/keepalived.conf (target <= 50 ms)", "metric": "wall time",
            "unit": "ms", "better": "lower", "lvsfast": stats(ours),
            "baseline_name": "keepalived -t" if base else "", "baseline": stats(base) if base else None}


def import_time(before: str, what: str, runs: int) -> list[float]:
    code = (f"import time\n{before}\nt0 = time.perf_counter()\n{what}\n"
            "print((time.perf_counter() - t0) * 1e3)")
    out = []
    for _ in range(runs):
        res = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            raise RuntimeError(f"{what}: {res.stderr[-1500:]}")
        out.append(float(res.stdout.split()[-1]))
    return out


def imports(runs: int) -> list[dict]:
    rows = []
    for case, (before, what) in IMPORTS.items():
        rows.append({"case": f"daemon imports: {case}", "metric": "import time", "unit": "ms", "better": "lower",
                     "lvsfast": stats(import_time(before, what, runs)), "baseline_name": "", "baseline": None})
    return rows


def vip_conf() -> str:
    return ("global_defs {\n    router_id vip\n}\n"
            "vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n"
            f"    priority 255\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n")


def start_to_vip(impl: str, lab: Lab, ns, work: Path) -> float:
    """ms from starting ``impl`` until the kernel reports the VIP on eth0."""
    conf = work / "vip.conf"
    conf.write_text(vip_conf())
    for f in work.glob("*.pid"):
        f.unlink()
    mon = lab.spawn(ns, "ip", "-o", "monitor", "address", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.2)  # the monitor has subscribed
    pids = ["-p", str(work / "p.pid"), "-r", str(work / "v.pid"), "-c", str(work / "c.pid")]
    if impl == "lvsfast":
        cmd = [*lvsfast_cmd(), "-n", "-l", "-P", "-f", str(conf), "--control-socket", str(work / "ctl.sock"), *pids]
    else:
        cmd = [KEEPALIVED, "-n", "-l", "-D", "-G", "-P", "-f", str(conf), *pids]
    log = open(work / f"{impl}.log", "a")
    t0 = time.perf_counter()
    proc = lab.spawn(ns, *cmd, stdout=log, stderr=subprocess.STDOUT, env=env())
    took = None
    buf = b""
    deadline = t0 + 30
    try:
        while took is None and time.perf_counter() < deadline:
            ready, _, _ = select.select([mon.stdout], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(mon.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if f" {VIP}/".encode() in buf:
                took = (time.perf_counter() - t0) * 1e3
        if took is None:
            raise RuntimeError(f"{impl}: no VIP within 30 s; log: {(work / f'{impl}.log').read_text()[-1500:]}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        mon.kill()
        mon.wait()
    # Both release the VIP on a graceful stop; make sure of it before the next round.
    wait_for(lambda: f" {VIP}/" not in ns.ip("-o", "addr", "show", "dev", "eth0").stdout, timeout=10,
             what="the VIP released")
    return took


#: What any CPython daemon pays before its first line of its own: timed in the VIP rounds.
FLOORS = {"python -c pass": "pass", "python -c 'import asyncio, uvloop'": "import asyncio, uvloop"}


def vip_rows(rounds: int) -> list[dict]:
    times: dict[str, list[float]] = {"lvsfast": [], "keepalived": []}
    floors: dict[str, list[float]] = {case: [] for case in FLOORS}
    impls = ["lvsfast"] + (["keepalived"] if Path(KEEPALIVED).exists() else [])
    with Lab() as lab, tempfile.TemporaryDirectory(prefix="lvsfast-startup-") as wd:
        ns = lab.ns("vip")
        peer = lab.ns("peer")
        lab.veth(ns, "eth0", peer, "eth0")
        ns.ip("addr", "add", "10.0.0.1/24", "dev", "eth0")
        peer.ip("addr", "add", "10.0.0.2/24", "dev", "eth0")
        for _ in range(rounds):
            for impl in impls:  # alternated, so a busy moment of the machine hits both
                times[impl].append(start_to_vip(impl, lab, ns, Path(wd)))
            for case, code in FLOORS.items():
                floors[case] += wall([sys.executable, "-c", code], 3, warm=0)
    base = stats(times["keepalived"]) if times["keepalived"] else None
    rows = [{"case": "start to VIP held, MASTER priority 255 alone (target <= 2x keepalived)",
             "metric": "time", "unit": "ms", "better": "lower", "lvsfast": stats(times["lvsfast"]),
             "baseline_name": "keepalived" if base else "", "baseline": base}]
    for case, values in floors.items():
        rows.append({"case": f"floor: {case} (CPython {sys.version.split()[0]}, this interpreter)",
                     "metric": "wall time", "unit": "ms", "better": "lower", "lvsfast": stats(values),
                     "baseline_name": "keepalived start to VIP" if base else "", "baseline": base})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 -t runs, 5 import runs, 3 VIP rounds, 10 s settle")
    ap.add_argument("--runs", type=int, default=0, help="-t runs (at least 20)")
    ap.add_argument("--json")
    a = ap.parse_args()
    runs = max(20, a.runs or (20 if a.quick else 50))
    os.environ.update(env())  # every daemon started here, bench/memory.py's too, runs this tree
    load_at_start = Path("/proc/loadavg").read_text().split()[:3]
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], env=env(),
                   stdout=subprocess.DEVNULL, check=False)
    results = [config_test(runs)]
    print(f"-t: {results[-1]['lvsfast']['median']} ms, keepalived {(results[-1]['baseline'] or {}).get('median')} ms",
          flush=True)
    results += imports(5 if a.quick else 15)
    for r in results[1:]:
        print(f"{r['case']}: {r['lvsfast']['median']} ms", flush=True)
    ours = memory.measure("lvsfast", 10 if a.quick else 30)
    print(memory.describe("lvsfast", ours), flush=True)
    theirs = memory.measure("keepalived", 10 if a.quick else 30) if Path(KEEPALIVED).exists() else None
    if theirs:
        print(memory.describe("keepalived", theirs), flush=True)
    mem_row = memory.row(ours, theirs)
    mem_row["case"] += " (target <= 35 MB)"
    results.append(mem_row)
    results += memory.floor_rows(ours)
    for r in results[-2:]:
        print(f"{r['case']}: {r['lvsfast']['median']} MB", flush=True)
    vip = vip_rows(3 if a.quick else 10)
    results += vip
    for r in vip:
        print(f"{r['case']}: {r['lvsfast']['median']} ms, keepalived start to VIP "
              f"{(r['baseline'] or {}).get('median')} ms", flush=True)
    out = {"scenario": "startup", "what": "-t wall time, daemon imports, memory (100 VS x 10 RS) and start to "
                                          "VIP, against keepalived",
           "how": "bench/startup.py: byte-compiled sources; -t: the lvsfast script vs keepalived -t, medians "
                  f"of {runs} runs after 3 warm-ups; imports: fresh interpreters; memory: bench/memory.py "
                  "(PSS summed over the process tree; 'max' is RSS); start to VIP: ip monitor in the "
                  "namespace, -P, rounds alternated between the two",
           "loadavg": {"start": load_at_start, "end": Path("/proc/loadavg").read_text().split()[:3]},
           "results": results,
           "series": {"memory": {"lvsfast": ours, "keepalived": theirs}}}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
