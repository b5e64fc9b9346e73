"""SSL_GET in the IPVS VM: keepalived 2.2.7's checker against lvsfast's (sessions resumed, and not)
and the bare TLS handshake floor, all in one VM run, in alternating rounds.

    python bench/checker_tls_vm.py --n 2000 250 --seconds 12 [--json PATH]   # on the host: boots the VM once
    scripts/vm.sh 'python bench/checker_tls_vm.py --inner --n 250 --raw /tmp/r/raw.json'   # what it runs there

keepalived's checker needs IPVS, which only the VM's kernel has (scripts/vm.sh, emulated: no KVM,
so absolute figures are 5-10x the host's; the ratios within the run are what count). In the guest,
in a network namespace of its own: nginx (one worker) serves N TLS real servers (bench/checker_scale.py's:
ECDSA P-256 certificate made with cryptography, TLS 1.3, session tickets on) on 127.1.x.y:20100-20109;
then each daemon is started as keepalived is, ``-C -n -l -f conf``, with a real IPVS virtual server
of its own (keepalived 192.0.2.1, lvsfast 192.0.2.2, lvsfast with resumption off 192.0.2.3; lvsfast's
``lvs_backend ipvs``), all N real servers SSL_GET at delay_loop 1, no certificate verification
configured (keepalived's default, which lvsfast follows). Once each has settled it is stopped
(SIGSTOP, all its processes); the rounds then take turns: one daemon continued, given RESUME_S to be
back on schedule, measured for a window, stopped again; then the TLS floors (bench/tls_floor.py's
selectors loop: bare handshake, and handshake + GET) for a window each. Per daemon: CPU per check
summed over all its processes from /proc/<pid>/stat, checks/s as nginx counted them (accepted
handshakes), against the N/s of the schedule.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))

import checker_scale as cs  # noqa: E402
import results_file  # noqa: E402

VIPS = {"keepalived": "192.0.2.1", "lvsfast": "192.0.2.2", "lvsfast-noresume": "192.0.2.3"}
FLOORS = {"floor-handshake": ("selectors", False, False), "floor-get": ("selectors", True, False)}
RESUME_S = 4.0  # after SIGCONT: a stopped checker's overdue checks fire at once, then it is on schedule
# lvsfast with every SSL_GET a full handshake, as keepalived makes: the checker child is forked from
# this process, so the patch reaches it.
NORESUME = ("from lvsfast.check import probes; probes.TlsMemo.offer = lambda self, ctx, now: None; "
            "import sys; from lvsfast.cli import main; sys.exit(main())")
VM_LOCK = "/tmp/lvsfast-vm.lock"


def _tree(root: int) -> list[int]:
    """root and all its descendants, from /proc."""
    parent: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parent.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parent.get(p, [])
    return out


def _cpu(pids: list[int]) -> tuple[float, float]:
    tot = sys_ = 0.0
    for p in pids:
        try:
            a, b = cs._proc_cpu(p)
        except OSError:
            continue
        tot, sys_ = tot + a, sys_ + b
    return tot, sys_


def _signal(pids: list[int], sig: int) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


class Daemon:
    """One checker daemon started as keepalived is; its pid tree once the checker child is up."""

    def __init__(self, impl: str, n: int, wd: Path) -> None:
        self.impl, self.n = impl, n
        conf = wd / f"{impl}.conf"
        backend = "" if impl == "keepalived" else " lvs_backend ipvs\n"
        conf.write_text(f"global_defs {{\n router_id chktls\n{backend}}}\n"
                        + cs.config_text(n, "SSL").replace("192.0.2.1", VIPS[impl]))
        self.cpid = wd / f"{impl}.cpid"
        self.log = open(wd / f"{impl}.log", "w")
        flags = ["-C", "-n", "-l", "-f", str(conf), "-p", str(wd / f"{impl}.pid"), "-c", str(self.cpid)]
        if impl == "keepalived":
            argv = ["keepalived", *flags]
        elif impl == "lvsfast":
            argv = [sys.executable, "-m", "lvsfast.cli", *flags]
        else:
            argv = [sys.executable, "-c", NORESUME, *flags]
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        self.pids: list[int] = []
        self.start_s = 0.0

    def wait_up(self, accepted) -> None:
        end = time.monotonic() + 300
        while not (self.cpid.exists() and self.cpid.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"{self.impl} did not start: {Path(self.log.name).read_text()[-2000:]}")
            time.sleep(0.2)
        cs._wait_steady(accepted, self.n, 20)
        self.start_s = round(time.monotonic() - self.t0, 1)
        self.pids = _tree(self.proc.pid)

    def stop(self) -> None:
        _signal(self.pids, signal.SIGSTOP)

    def cont(self) -> None:
        _signal(self.pids[::-1], signal.SIGCONT)

    def close(self) -> None:
        self.cont()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_n(n: int, seconds: float, rounds: int, impls: list[str], workers: int) -> list[dict]:
    ctx = mp.get_context("spawn")
    ready, stop, accepted = ctx.Event(), ctx.Event(), ctx.Value("q", 0, lock=False)
    server = ctx.Process(target=cs._nginx_servers, args=(n, ready, stop, accepted, None, workers), daemon=True)
    server.start()
    if not ready.wait(120):
        raise SystemExit("nginx did not start")
    sums: dict[str, dict] = {k: {"cpu": 0.0, "sys": 0.0, "acc": 0, "wall": 0.0} for k in impls}
    floors: dict[str, list[dict]] = {k: [] for k in FLOORS}
    daemons: dict[str, Daemon] = {}
    window = seconds / rounds
    with tempfile.TemporaryDirectory(prefix="chktls-") as wd:
        try:
            for impl in impls:  # one at a time: each settles alone, then waits stopped
                d = daemons[impl] = Daemon(impl, n, Path(wd))
                d.wait_up(accepted)
                d.stop()
            for k in range(rounds):
                order = impls[k % len(impls):] + impls[:k % len(impls)]
                for impl in order:
                    d = daemons[impl]
                    d.cont()
                    time.sleep(RESUME_S)
                    (c0, s0), a0, w0 = _cpu(d.pids), accepted.value, time.monotonic()
                    time.sleep(window)
                    (c1, s1), a1, w1 = _cpu(d.pids), accepted.value, time.monotonic()
                    d.stop()
                    s = sums[impl]
                    s["cpu"], s["sys"], s["acc"], s["wall"] = (s["cpu"] + c1 - c0, s["sys"] + s1 - s0,
                                                               s["acc"] + a1 - a0, s["wall"] + w1 - w0)
                for name, variant in FLOORS.items():
                    floors[name].append(cs._floor_in_child(n, "SSL", window, accepted, None, "127.1", variant))
            rss = {impl: round(sum(cs._proc_rss_mb(p) for p in d.pids), 1) for impl, d in daemons.items()}
        finally:
            for d in daemons.values():
                d.close()
            subprocess.run(["ipvsadm", "-C"], capture_output=True)
            stop.set()
            server.join(10)
            if server.is_alive():
                server.kill()
    out = []
    for impl, s in sums.items():
        checks = max(1, s["acc"])
        out.append({"impl": impl, "n": n, "check": "SSL", "scheduled_per_s": n,
                    "achieved_per_s": round(s["acc"] / s["wall"], 1), "cpu_pct": round(100 * s["cpu"] / s["wall"], 1),
                    "cpu_us_per_check": round(1e6 * s["cpu"] / checks, 1),
                    "kernel_us_per_check": round(1e6 * s["sys"] / checks, 1), "rss_mb": rss[impl],
                    "processes": len(daemons[impl].pids), "start_s": daemons[impl].start_s, "rounds": rounds,
                    "loadavg": cs._loadavg()})
    for name, fl in floors.items():
        f = cs._sum_floors(fl)
        f["impl"] = name
        out.append(f)
    return out


def inner(a: argparse.Namespace) -> None:
    rc = cs.in_own_netns()  # loopback only: the wildcard listeners answer nothing outside it
    if rc is not None:
        raise SystemExit(rc)
    subprocess.run(["modprobe", "ip_vs"])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    cs._raise_nofile()
    raw = {"nproc": os.cpu_count(), "loadavg_start": cs._loadavg(), "results": []}
    for n in a.n:
        for r in run_n(n, a.seconds, a.rounds, a.impls, a.workers):
            raw["results"].append(r)
            print(json.dumps(r), flush=True)
            Path(a.raw).write_text(json.dumps(raw, indent=1))
    raw["loadavg_end"] = cs._loadavg()
    Path(a.raw).write_text(json.dumps(raw, indent=1))


def rows(raw: dict) -> list[dict]:
    """The common rows: each lvsfast figure against keepalived's, the floor's and the schedule."""
    def one(x: float) -> dict:
        return results_file.stats([x])

    rs = raw["results"]
    by = {(r["n"], r["impl"]): r for r in rs}
    out = []
    for n in sorted({r["n"] for r in rs}, reverse=True):
        ka, bare, get = by.get((n, "keepalived")), by.get((n, "floor-handshake")), by.get((n, "floor-get"))
        for impl in ("lvsfast", "lvsfast-noresume"):
            r = by.get((n, impl))
            if r is None:
                continue
            case = f"IPVS VM, daemon -C: {n} servers, SSL" + (" (no session resumption)" if impl != "lvsfast" else "")
            cpu, rate = one(r["cpu_us_per_check"]), one(r["achieved_per_s"])
            out.append(results_file.row(case, "checks per second", "/s", rate, "the schedule", one(n), "higher"))
            if ka:
                out.append(results_file.row(case, "CPU per check", "us", cpu, "keepalived 2.2.7",
                                            one(ka["cpu_us_per_check"])))
                out.append(results_file.row(case, "checks per second", "/s", rate, "keepalived 2.2.7",
                                            one(ka["achieved_per_s"]), "higher"))
                out.append(results_file.row(case, "checker RSS", "MB", one(r["rss_mb"]), "keepalived 2.2.7",
                                            one(ka["rss_mb"])))
            for f, name in ((bare, "the TLS floor (selectors, bare handshake)"),
                            (get, "the TLS floor (selectors, handshake + GET)")):
                if f:
                    out.append(results_file.row(case, "CPU per check", "us", cpu, name, one(f["cpu_us_per_check"])))
            if impl == "lvsfast" and (n, "lvsfast-noresume") in by:
                out.append(results_file.row(case, "CPU per check", "us", cpu, "lvsfast, full handshake every check",
                                            one(by[(n, "lvsfast-noresume")]["cpu_us_per_check"])))
    return out


def outer(a: argparse.Namespace) -> None:
    """Boot the VM once (under the VM lock), run --inner there, turn its raw figures into rows."""
    host_load = cs._loadavg()
    with tempfile.TemporaryDirectory(prefix="vmrw-chktls-") as rw:
        raw_path = Path(rw, "raw.json")
        cmd = (f"PYTHONPATH={ROOT / 'src'} {sys.executable} bench/checker_tls_vm.py --inner --n {' '.join(map(str, a.n))}"
               f" --seconds {a.seconds} --rounds {a.rounds} --workers {a.workers} --impls {' '.join(a.impls)} --raw {raw_path}"
               f" > {rw}/log 2>&1")
        env = {**os.environ, "LVSFAST_VM_RWDIR": rw, "LVSFAST_VENV": str(Path(sys.executable).parent.parent)}
        t0 = time.monotonic()
        subprocess.run(["flock", VM_LOCK, "bash", "scripts/vm.sh", cmd], cwd=ROOT, env=env)
        wall = round(time.monotonic() - t0)
        log = Path(rw, "log").read_text() if Path(rw, "log").exists() else ""
        if not raw_path.exists():
            raise SystemExit(f"no results from the VM:\n{log[-3000:]}")
        raw = json.loads(raw_path.read_text())
    print(log[-3000:], file=sys.stderr)
    doc = {"scenario": "checker",
           "what": "SSL_GET in the IPVS VM: CPU per check against keepalived 2.2.7's checker and the bare TLS floor",
           "how": "bench/checker_tls_vm.py: scripts/vm.sh (emulated, no KVM: compare ratios), one boot; nginx TLS 1.3 "
                  "real servers with tickets, ECDSA P-256; keepalived -C -n -l and lvsfast -C -n -l (lvs_backend ipvs; "
                  "sessions resumed, and with resumption off), each with a real IPVS virtual server, and "
                  "bench/tls_floor.py's selectors loop, in alternating rounds; CPU over all the daemon's processes "
                  "from /proc, checks counted by nginx",
           "host_loadavg": host_load, "vm_wall_s": wall, "results": rows(raw), "nginx_workers": a.workers, "raw": raw}
    print(results_file.write("checker-tls-vm", doc, a.json))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[2000, 250])
    ap.add_argument("--seconds", type=float, default=12.0, help="measured seconds per implementation, over all rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--impls", nargs="+", default=list(VIPS), choices=list(VIPS))
    ap.add_argument("--workers", type=int, default=2, help="nginx worker processes (one was the limit in the guest)")
    ap.add_argument("--json", help="where to write (default bench/results/<UTC>-checker-tls-vm.json)")
    ap.add_argument("--inner", action="store_true", help="in the guest: measure, write --raw")
    ap.add_argument("--raw")
    a = ap.parse_args()
    inner(a) if a.inner else outer(a)


if __name__ == "__main__":
    main()
