"""nftables backend: one weight change against rebuilding the whole table, at 1k/10k/50k real servers.

Runs in a scratch network namespace it makes and removes (``ip netns``), so the host's ruleset
is never touched. Real servers are spread 50 per service (wrr). Figures, each the median of
several rounds (min-max shown):

- build:   first apply of the whole table (empty kernel -> desired), one transaction;
- rebuild: delete the table and build it again in one transaction (what a flush-and-reload does);
- weight:  one real server's weight changed (apply with the backend's remembered state);
- weight+read: the same, but reading the kernel's table first (the repair path).

Usage: ``python bench/nft_update.py [--sizes 1000,10000,50000] [--rounds N]`` (root).
"""
from __future__ import annotations

import argparse
from pathlib import Path
import json
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid

PER_SERVICE = 50
SCHED = "wrr"


def make_table(n: int):
    from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
    services, dests = {}, {}
    for s in range(max(1, n // PER_SERVICE)):
        key = ServiceKey(4, "tcp", f"10.{100 + s // 250}.{s % 250}.1", 80)
        services[key] = Service(key, SCHED)
        inner = {}
        for i in range(min(PER_SERVICE, n)):
            dk = DestKey(f"172.{16 + (s * PER_SERVICE + i) // 65000}.{((s * PER_SERVICE + i) // 250) % 260 % 256}.{(s * PER_SERVICE + i) % 250 + 1}", 8080)
            inner[dk] = Dest(dk, 1 + i % 5)
        dests[key] = inner
    return Table(services, dests)


def stats(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1e3:9.2f} ({min(xs) * 1e3:.2f}-{max(xs) * 1e3:.2f})"


async def measure(n: int, rounds: int) -> dict[str, list[float]]:
    from lvsfast.dataplane.model import Dest
    from lvsfast.nft.backend import NftBackend
    from lvsfast.nft.render import transaction
    table = make_table(n)
    out: dict[str, list[float]] = {"build": [], "rebuild": [], "weight": [], "weight+read": []}
    b = NftBackend()
    t0 = time.perf_counter()
    await b.apply(table)
    out["build"].append(time.perf_counter() - t0)
    full = transaction(type(table)(), table, exists=False, table=b.table)
    for _ in range(max(1, rounds // 5)):
        t0 = time.perf_counter()
        b._nft.run(f"delete table ip {b.table}\n" + full)
        out["rebuild"].append(time.perf_counter() - t0)
    key = next(iter(table.services))
    dk = next(iter(table.dests[key]))
    cur = table
    for r in range(rounds):
        cur = cur.with_dest(key, Dest(dk, 10 + r))
        t0 = time.perf_counter()
        await b.apply(cur)
        out["weight"].append(time.perf_counter() - t0)
    for r in range(max(1, rounds // 5)):
        cur = cur.with_dest(key, Dest(dk, 100 + r))
        t0 = time.perf_counter()
        await b.apply(cur, reread=True)
        out["weight+read"].append(time.perf_counter() - t0)
    got = await b.read()
    assert got == cur, "kernel table differs from the desired one"
    await b.close()
    return out


def _st(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"median": statistics.median(ms), "min": min(ms), "max": max(ms), "n": len(ms)}


def inner(sizes: list[int], rounds: int, json_path: str = "") -> None:
    results, series = [], {"one weight change": [], "rebuild the whole table": []}
    print(f"{'real servers':>12} {'services':>8} | {'build ms':>22} | {'rebuild ms':>22} | "
          f"{'1 weight ms':>22} | {'1 weight + read ms':>22} | rebuild/weight")
    for n in sizes:
        r = asyncio.run(measure(n, rounds))
        ratio = statistics.median(r["rebuild"]) / statistics.median(r["weight"])
        results.append({"case": f"{n} real servers", "metric": "one weight change", "unit": "ms", "better": "lower",
                        "lvsfast": _st(r["weight"]), "baseline_name": "rebuilding the whole table",
                        "baseline": _st(r["rebuild"])})
        series["one weight change"].append((n, statistics.median(r["weight"]) * 1000))
        series["rebuild the whole table"].append((n, statistics.median(r["rebuild"]) * 1000))
        print(f"{n:>12} {max(1, n // PER_SERVICE):>8} | {stats(r['build']):>22} | {stats(r['rebuild']):>22} | "
              f"{stats(r['weight']):>22} | {stats(r['weight+read']):>22} | {ratio:8.0f}x", flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps({
            "scenario": "nft", "what": "nftables update time: one weight change vs rebuilding the whole table",
            "how": "bench/nft_update.py: wrr services of 50 real servers in a namespace; medians over rounds",
            "results": results, "series": {"size_vs_time": series}}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="1,000 and 10,000 real servers, 5 rounds")
    ap.add_argument("--json", default="", help="write the harness's result format here")
    a = ap.parse_args()
    if a.quick:
        a.sizes, a.rounds = "1000,10000", 5
    sizes = [int(x) for x in a.sizes.split(",")]
    if a.inside:
        inner(sizes, a.rounds, a.json)
        return
    ns = f"lfbench{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        rc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                             "--inside", "--sizes", a.sizes, "--rounds", str(a.rounds),
                             "--json", os.path.abspath(a.json) if a.json else ""]).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    sys.exit(rc)


if __name__ == "__main__":
    main()
