"""The checker at scale: N local listeners checked with TCP_CHECK, then HTTP_GET, at delay_loop 1.

    python bench/checker_scale.py --n 1000 5000 20000 --seconds 10 [--json out.json]

Listeners run in a child process (their CPU is not the checker's): wildcard sockets on 10
ports in the bench's own network namespace, so each real server is a distinct 127.1.x.y:port. The checker is the real CheckerService on uvloop with a backend that only records,
and every real server in one virtual server's config as keepalived.conf text. Per N and check:
checks/s achieved against the N/s the schedule asks for, the checker's CPU % (of one core) and
RSS, and the p50/p99 lateness of check starts (how long after its scheduled time a check began).
Measured after one warm-up delay_loop; results are this machine's (2 shared cores).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
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


def _listeners(n: int, ready, stop) -> None:
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


async def measure(n: int, check: str, seconds: float) -> dict:
    from lvsfast.check.service import CheckerService
    from lvsfast.config import loads

    t0 = time.monotonic()
    cfg = loads(config_text(n, check))
    parse_s = time.monotonic() - t0
    svc = CheckerService(backend=Recorder())
    await svc.start(cfg)
    if os.environ.get("XFREEZE"):
        import gc; gc.freeze()
    await asyncio.sleep(1.5)  # warmup spreads the first runs over 1 s
    runs0 = sum(c.state.runs for r in svc.reals.values() for c in r.checks)
    svc.lateness = []
    cpu0, sys0, w0 = _cpu(), _sys(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, sys1, w1 = _cpu(), _sys(), time.monotonic()
    runs1 = sum(c.state.runs for r in svc.reals.values() for c in r.checks)
    late = sorted(svc.lateness)
    down = sum(1 for r in svc.reals.values() if not r.up)
    from collections import Counter

    reasons = Counter(r.reason().split(": ", 1)[-1] for r in svc.reals.values() if not r.up).most_common(3)
    await svc.stop()

    def pct(p: float) -> float:
        return late[min(len(late) - 1, int(p * len(late)))] * 1000 if late else float("nan")

    return {"n": n, "check": check, "scheduled_per_s": n, "achieved_per_s": round((runs1 - runs0) / (w1 - w0), 1),
            "cpu_pct": round(100 * (cpu1 - cpu0) / (w1 - w0), 1),
            "cpu_us_per_check": round(1e6 * (cpu1 - cpu0) / max(1, runs1 - runs0), 1),
            "kernel_us_per_check": round(1e6 * (sys1 - sys0) / max(1, runs1 - runs0), 1), "rss_mb": round(_rss_mb(), 1),
            "lateness_p50_ms": round(pct(0.50), 1), "lateness_p99_ms": round(pct(0.99), 1),
            "servers_down": down, "down_reasons": reasons, "config_parse_s": round(parse_s, 2)}


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
    a = ap.parse_args()
    if a.quick:
        a.n, a.seconds = [1000], 5.0
    _raise_nofile()
    import logging

    logging.basicConfig(level=logging.WARNING)
    import uvloop

    results = []
    ctx = mp.get_context("spawn")
    for n in a.n:
        ready, stop = ctx.Event(), ctx.Event()
        child = ctx.Process(target=_listeners, args=(n, ready, stop), daemon=True)
        child.start()
        if not ready.wait(120):
            raise SystemExit("listeners did not start")
        try:
            for check in a.checks:
                res = uvloop.run(measure(n, check, a.seconds))
                results.append(res)
                print(json.dumps(res), flush=True)
        finally:
            stop.set()
            child.join(10)
            if child.is_alive():
                child.kill()
    if a.json:
        def one(x: float) -> dict:
            return {"median": x, "min": x, "max": x, "n": 1}
        rows = []
        for r in results:
            case = f"{r['n']} servers, {r['check']}"
            rows.append({"case": case, "metric": "checks per second", "unit": "/s", "better": "higher",
                         "lvsfast": one(r["achieved_per_s"]), "baseline_name": "the schedule",
                         "baseline": one(r["scheduled_per_s"])})
            rows.append({"case": case, "metric": "p99 lateness", "unit": "ms", "better": "lower",
                         "lvsfast": one(r["lateness_p99_ms"]), "baseline_name": "", "baseline": None})
            rows.append({"case": case, "metric": "checker CPU", "unit": "%", "better": "lower",
                         "lvsfast": one(r["cpu_pct"]), "baseline_name": "", "baseline": None})
        Path(a.json).write_text(json.dumps({
            "scenario": "checker", "what": "health checks per second, CPU and lateness at scale",
            "how": "bench/checker_scale.py: N loopback listeners, TCP_CHECK then HTTP_GET at delay_loop 1, "
                   "the checker service with a recording backend", "results": rows, "raw": results}, indent=1))


if __name__ == "__main__":
    main()
