"""The checker at scale: N local listeners checked with TCP_CHECK, then HTTP_GET, at delay_loop 1.

    python bench/checker_scale.py --n 1000 5000 20000 --seconds 10 [--impls lvsfast keepalived] [--json out.json]

Listeners run in a child process (their CPU is not the checker's): wildcard sockets on 10
ports in the bench's own network namespace, so each real server is a distinct 127.1.x.y:port.
lvsfast's checker is the real CheckerService on uvloop with a backend that only records.
keepalived 2.2.7's checker (``keepalived -C``) runs the same keepalived.conf; it needs IPVS, so
it runs only where the kernel has it (inside the VM: scripts/vm.sh). Per N, check and
implementation: checks/s as the servers counted them (accepted connections) against the N/s
the schedule asks for; the checker's CPU % of one core, CPU microseconds per check (kernel
part shown), and RSS; for lvsfast also the p50/p99 lateness of check starts. Measured after
the first delay_loop; results are this machine's (2 shared cores).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

PORTS = 10
HTTP_REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"


def addresses(n: int) -> list[tuple[str, int]]:
    # Distinct (address, port) real servers; the listeners are wildcard sockets on PORTS ports,
    # so 20,000 servers need 10 descriptors, not 20,000 (the fd limit here is 20,000).
    return [(f"127.1.{i // PORTS // 250}.{i // PORTS % 250 + 1}", 20000 + i % PORTS) for i in range(n)]


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # root may raise the hard limit; 20,000 listeners need more than a default 20,000
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _listeners(n: int, ready, stop, accepted) -> None:
    """A bare epoll server: accept, answer HTTP if a request comes, close. Light enough that
    20,000 checks a second are limited by the checker, not by the servers."""
    import select
    import socket

    _raise_nofile()
    ep = select.epoll()
    listening: dict[int, socket.socket] = {}
    conns: dict[int, socket.socket] = {}
    for port in sorted({p for _, p in addresses(n)}):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))  # inside the bench's own network namespace: only its loopback
        s.listen(4096)
        listening[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLIN)
    ready.set()
    while not stop.is_set():
        for fd, _ in ep.poll(0.2, 1024):
            ls = listening.get(fd)
            if ls is not None:
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    c.setblocking(False)
                    accepted.value += 1  # one process writes it: no lock needed
                    conns[c.fileno()] = c
                    ep.register(c.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
                continue
            c = conns.pop(fd, None)
            if c is None:
                continue
            try:
                if c.recv(4096):  # TCP_CHECK closes at once: an empty read
                    c.send(HTTP_REPLY)
            except OSError:
                pass
            c.close()
    for s in list(listening.values()) + list(conns.values()):
        s.close()


class Recorder:
    name = "recording"
    capabilities: frozenset[str] = frozenset()  # none of the optional data-plane parts

    def __init__(self) -> None:
        self.applies = 0

    async def apply(self, desired, reread=False):
        self.applies += 1
        return []

    async def close(self, desired=None):
        pass


def config_text(n: int, check: str) -> str:
    block = {"TCP": "TCP_CHECK {\n connect_timeout 2\n retry 0\n}",
             "HTTP": "HTTP_GET {\n url {\n path /\n status_code 200\n }\n connect_timeout 2\n retry 0\n}"}[check]
    reals = "".join(f" real_server {h} {p} {{\n  {block}\n }}\n" for h, p in addresses(n))
    return (f"virtual_server 192.0.2.1 80 {{\n delay_loop 1\n warmup 1\n lb_algo rr\n lb_kind NAT\n"
            f" protocol TCP\n{reals}}}\n")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sys() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def measure(n: int, check: str, seconds: float, accepted, asyncio_http: bool = False) -> dict:
    from lvsfast.check.service import CheckerService
    from lvsfast.config import loads

    if asyncio_http:
        # The same-run baseline for HTTP_GET: every check on the asyncio protocol, none in the prober.
        CheckerService._exchange_url = staticmethod(lambda chk: None)  # type: ignore[method-assign]

    t0 = time.monotonic()
    cfg = loads(config_text(n, check))
    parse_s = time.monotonic() - t0
    svc = CheckerService(backend=Recorder())
    await svc.start(cfg)
    # warmup spreads the first runs over 1 s; the first delay_loop ends a second later, and its
    # results (each server's first state, handed to Python) are in by then.
    await asyncio.sleep(2.5)
    runs0 = svc.stats()["checks"]
    svc.record_lateness()
    cpu0, sys0, acc0, w0 = _cpu(), _sys(), accepted.value, time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, sys1, acc1, w1 = _cpu(), _sys(), accepted.value, time.monotonic()
    runs1 = svc.stats()["checks"]
    late = sorted(svc.lateness_samples())
    down = sum(1 for r in svc.reals.values() if not r.up)
    from collections import Counter

    reasons = Counter(r.reason().split(": ", 1)[-1] for r in svc.reals.values() if not r.up).most_common(3)
    await svc.stop()

    def pct(p: float) -> float:
        return late[min(len(late) - 1, int(p * len(late)))] * 1000 if late else float("nan")

    checks = max(1, acc1 - acc0)
    return {"impl": "lvsfast-asyncio" if asyncio_http else "lvsfast", "n": n, "check": check, "scheduled_per_s": n,
            "achieved_per_s": round((acc1 - acc0) / (w1 - w0), 1),
            "completed_per_s": round((runs1 - runs0) / (w1 - w0), 1),
            "cpu_pct": round(100 * (cpu1 - cpu0) / (w1 - w0), 1),
            "cpu_us_per_check": round(1e6 * (cpu1 - cpu0) / checks, 1),
            "kernel_us_per_check": round(1e6 * (sys1 - sys0) / checks, 1),
            "rss_mb": round(_rss_mb(), 1),
            "lateness_p50_ms": round(pct(0.50), 1), "lateness_p99_ms": round(pct(0.99), 1),
            "lateness_sample_ms": [round(x * 1000, 2) for x in late[::max(1, len(late) // 2000)]],
            "servers_down": down, "down_reasons": reasons, "config_parse_s": round(parse_s, 2),
            "compiled_core": __import__("lvsfast").compiled_core()}


def _proc_cpu(pid: int) -> tuple[float, float]:
    """(user+system, system) seconds of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, int(fields[12]) / tick


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def keepalived_usable() -> bool:
    return shutil.which("keepalived") is not None and subprocess.run(
        ["modprobe", "ip_vs"], capture_output=True).returncode == 0


def measure_keepalived(n: int, check: str, seconds: float, accepted) -> dict:
    """keepalived's checker child on the same servers: CPU from /proc, checks as the servers count them."""
    with tempfile.TemporaryDirectory(prefix="lvsfast-chkbench-") as wd:
        conf = Path(wd, "keepalived.conf")
        conf.write_text("global_defs {\n router_id chkbench\n}\n" + config_text(n, check))
        pid, cpid = Path(wd, "k.pid"), Path(wd, "c.pid")
        proc = subprocess.Popen(["keepalived", "-C", "-n", "-f", str(conf), "-p", str(pid), "-c", str(cpid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 120
            while not (cpid.exists() and cpid.read_text().strip()) and time.monotonic() < end:
                time.sleep(0.1)
            child = int(cpid.read_text())
            # Settled once the servers see the scheduled rate (loading N IPVS entries comes first).
            last, steady = accepted.value, 0
            while steady < 2 and time.monotonic() < end:
                time.sleep(1)
                rate, last = accepted.value - last, accepted.value
                steady = steady + 1 if rate >= 0.5 * n else 0
            (cpu0, sys0), acc0, w0 = _proc_cpu(child), accepted.value, time.monotonic()
            time.sleep(seconds)
            (cpu1, sys1), acc1, w1 = _proc_cpu(child), accepted.value, time.monotonic()
            rss = _proc_rss_mb(child)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            subprocess.run(["ipvsadm", "-C"], capture_output=True)
    checks = max(1, acc1 - acc0)
    return {"impl": "keepalived", "n": n, "check": check, "scheduled_per_s": n,
            "achieved_per_s": round((acc1 - acc0) / (w1 - w0), 1),
            "cpu_pct": round(100 * (cpu1 - cpu0) / (w1 - w0), 1),
            "cpu_us_per_check": round(1e6 * (cpu1 - cpu0) / checks, 1),
            "kernel_us_per_check": round(1e6 * (sys1 - sys0) / checks, 1), "rss_mb": round(rss, 1)}


NETNS_ENV = "LVSFAST_CHECKER_BENCH_NETNS"


def in_own_netns() -> int | None:
    """Re-run this script inside a fresh network namespace (loopback only), so the wildcard
    listeners reach nothing outside it; returns the exit status, or None when already inside."""
    import subprocess

    if os.environ.get(NETNS_ENV) or os.geteuid() != 0:
        return None
    name = f"lvsfast-chkbench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        return subprocess.run(["ip", "netns", "exec", name, sys.executable, *sys.argv],
                              env={**os.environ, NETNS_ENV: name}).returncode
    finally:
        subprocess.run(["ip", "netns", "del", name])


def main() -> None:
    rc = in_own_netns()
    if rc is not None:
        raise SystemExit(rc)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--checks", nargs="+", default=["TCP", "HTTP"], choices=["TCP", "HTTP"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="1,000 servers, 5 s per check type")
    ap.add_argument("--impls", nargs="+", default=["lvsfast", "lvsfast-asyncio", "keepalived"],
                    choices=["lvsfast", "lvsfast-asyncio", "keepalived"],
                    help="keepalived runs only where the kernel has IPVS; lvsfast-asyncio (HTTP only) runs every "
                         "HTTP_GET on the asyncio protocol instead of the prober")
    a = ap.parse_args()
    if a.quick:
        a.n, a.seconds = [1000], 5.0
    _raise_nofile()
    import logging

    logging.basicConfig(level=logging.WARNING)

    impls = [i for i in a.impls if i != "keepalived" or keepalived_usable()]
    skipped = sorted(set(a.impls) - set(impls))
    if skipped:
        print(f"not measured here (no IPVS): {', '.join(skipped)}", file=sys.stderr)
    results = []
    ctx = mp.get_context("spawn")
    for n in a.n:
        ready, stop, accepted = ctx.Event(), ctx.Event(), ctx.Value("q", 0, lock=False)
        child = ctx.Process(target=_listeners, args=(n, ready, stop, accepted), daemon=True)
        child.start()
        if not ready.wait(120):
            raise SystemExit("listeners did not start")
        try:
            for check in a.checks:
                for impl in impls:
                    if impl == "lvsfast-asyncio" and check != "HTTP":
                        continue
                    if impl.startswith("lvsfast"):
                        # A process of its own each time: the baseline patches the service class.
                        res = _in_child(n, check, a.seconds, accepted, impl == "lvsfast-asyncio")
                    else:
                        res = measure_keepalived(n, check, a.seconds, accepted)
                    results.append(res)
                    print(json.dumps({k: v for k, v in res.items() if k != "lateness_sample_ms"}), flush=True)
        finally:
            stop.set()
            child.join(10)
            if child.is_alive():
                child.kill()
    if a.json:
        write_json(Path(a.json), results, skipped)


def _measure_child(n, check, seconds, accepted, asyncio_http, q) -> None:
    import logging

    import uvloop

    logging.basicConfig(level=logging.WARNING)
    _raise_nofile()
    q.put(uvloop.run(measure(n, check, seconds, accepted, asyncio_http)))


def _in_child(n: int, check: str, seconds: float, accepted, asyncio_http: bool) -> dict:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_measure_child, args=(n, check, seconds, accepted, asyncio_http, q))
    p.start()
    res = q.get(timeout=600)
    p.join(30)
    return res


def write_json(path: Path, results: list[dict], skipped: list[str]) -> None:
    def one(x: float) -> dict:
        return {"median": x, "min": x, "max": x, "n": 1}

    ka = {(r["n"], r["check"]): r for r in results if r["impl"] == "keepalived"}
    aio = {(r["n"], r["check"]): r for r in results if r["impl"] == "lvsfast-asyncio"}
    rows = []
    series: dict[str, list[float]] = {}
    for r in results:
        if r["impl"] != "lvsfast":
            continue
        case = f"{r['n']} servers, {r['check']}"
        k = ka.get((r["n"], r["check"]))
        rows.append({"case": case, "metric": "checks per second", "unit": "/s", "better": "higher",
                     "lvsfast": one(r["achieved_per_s"]), "baseline_name": "the schedule",
                     "baseline": one(r["scheduled_per_s"])})
        if k is not None:
            rows.append({"case": case, "metric": "checks per second", "unit": "/s", "better": "higher",
                         "lvsfast": one(r["achieved_per_s"]), "baseline_name": "keepalived 2.2.7",
                         "baseline": one(k["achieved_per_s"])})
        rows.append({"case": case, "metric": "CPU per check", "unit": "us", "better": "lower",
                     "lvsfast": one(r["cpu_us_per_check"]),
                     "baseline_name": "keepalived 2.2.7" if k else "", "baseline": one(k["cpu_us_per_check"]) if k else None})
        if (r["n"], r["check"]) in aio:
            rows.append({"case": case, "metric": "CPU per check", "unit": "us", "better": "lower",
                         "lvsfast": one(r["cpu_us_per_check"]), "baseline_name": "lvsfast, HTTP on asyncio",
                         "baseline": one(aio[(r["n"], r["check"])]["cpu_us_per_check"])})
        rows.append({"case": case, "metric": "checker CPU", "unit": "%", "better": "lower",
                     "lvsfast": one(r["cpu_pct"]),
                     "baseline_name": "keepalived 2.2.7" if k else "", "baseline": one(k["cpu_pct"]) if k else None})
        rows.append({"case": case, "metric": "checker RSS", "unit": "MB", "better": "lower",
                     "lvsfast": one(r["rss_mb"]),
                     "baseline_name": "keepalived 2.2.7" if k else "", "baseline": one(k["rss_mb"]) if k else None})
        rows.append({"case": case, "metric": "p99 lateness", "unit": "ms", "better": "lower",
                     "lvsfast": one(r["lateness_p99_ms"]), "baseline_name": "", "baseline": None})
        series[case] = r.get("lateness_sample_ms", [])
    path.write_text(json.dumps({
        "scenario": "checker", "what": "health checks per second, CPU per check, RSS and lateness at scale",
        "how": "bench/checker_scale.py: N servers on loopback in the bench's own netns, TCP_CHECK then HTTP_GET at "
               "delay_loop 1; lvsfast's checker service with a recording backend"
               + ("; keepalived -C on the same servers" if ka else f"; not measured here (no IPVS): {', '.join(skipped)}"),
        "results": rows, "series": {"lateness_ms": series},
        "raw": [{k: v for k, v in r.items() if k != "lateness_sample_ms"} for r in results]}, indent=1))


if __name__ == "__main__":
    main()
