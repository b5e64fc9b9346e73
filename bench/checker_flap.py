#!/usr/bin/env python3
"""One real server's check flips at scale: the checker's cost from the state change to the backend's ops.

    python bench/checker_flap.py [--quick] [--json PATH]

What: with S services x 10 real servers configured, one real server goes down or comes back and
the checker flushes: it rebuilds its healthy table, puts the pool's overrides on top and hands
the table to the backend, which diffs what changed. Measured: the time of that flush (median
of 9 flips), against the baseline of the same flush rebuilding everything (what every flush
did before the table was kept per virtual server), in the same run.
How: the real CheckerService on asyncio with a backend that diffs as the IPVS and nftables
backends do (identity first, then only the services that differ) and sends nothing; each flip
must come out as exactly one operation. Sizes: 1,000 and 10,000 services (quick: 1,000 only).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(0, str(BENCH))

from ipvs_scale import build, keepalived_conf  # noqa: E402
from lvsfast.check.service import CheckerService  # noqa: E402
from lvsfast.config import load  # noqa: E402
from lvsfast.dataplane.backend import Unsupported  # noqa: E402
from lvsfast.dataplane.diff import diff  # noqa: E402
from lvsfast.dataplane.model import Table  # noqa: E402
from lvsfast.nft.backend import changed_part  # noqa: E402


class DiffingBackend(Unsupported):
    name = "ipvs"

    def __init__(self) -> None:
        self.table = Table()
        self.ops: list = []

    async def read(self) -> Table:
        return self.table

    async def apply(self, desired: Table, reread: bool = False) -> list:
        cur, want = changed_part(self.table, desired)
        self.ops = diff(cur, want)
        self.table = desired
        return self.ops

    async def close(self, desired: Table | None = None) -> None:
        pass


class _Verdict:
    def __init__(self, up: bool) -> None:
        self.up = up


class _Check:
    """Stands for a real server's checker: only its verdict matters to the table."""

    dynamic_weight = None
    target = None
    task = None
    cancelled = False

    def __init__(self, up: bool) -> None:
        self.state = _Verdict(up)


async def flips(n_services: int, rounds: int, everything: bool, wd: str) -> list[float]:
    conf = Path(wd) / "k.conf"
    conf.write_text(keepalived_conf(build(n_services, 10)))
    backend = DiffingBackend()
    svc = CheckerService(SimpleNamespace(control_socket=f"{wd}/ctl.sock", lvs_backend="ipvs"), backend=backend)
    await svc.start(load(str(conf)))
    real = next(iter(svc.reals.values()))
    out = []
    try:
        for i in range(rounds):
            real.checks = [_Check(up=i % 2 == 1)]
            svc._mark_dirty(None if everything else real)
            t = time.perf_counter()
            await svc._flush()
            out.append(time.perf_counter() - t)
            assert len(backend.ops) == 1, backend.ops
    finally:
        await svc.stop()
    return out


def _ms(xs: list[float]) -> dict:
    return {"median": statistics.median(xs) * 1e3, "min": min(xs) * 1e3, "max": max(xs) * 1e3, "n": len(xs)}


async def run(sizes: list[int], rounds: int) -> dict:
    results, series = [], {"one server's virtual server": [], "everything": []}
    with tempfile.TemporaryDirectory(prefix="lvsfast-flap-") as wd:
        for n in sizes:
            one = await flips(n, rounds, False, wd)
            full = await flips(n, rounds, True, wd)
            results.append({"case": f"{n} VS x 10 RS", "metric": "flush after one real server's check flips",
                            "unit": "ms", "better": "lower", "lvsfast": _ms(one),
                            "baseline_name": "rebuilding the whole healthy table", "baseline": _ms(full)})
            series["one server's virtual server"].append([n * 10, statistics.median(one) * 1e3])
            series["everything"].append([n * 10, statistics.median(full) * 1e3])
            print(f"{n:6d} VS x 10: {statistics.median(one) * 1e3:8.2f} ms, whole table "
                  f"{statistics.median(full) * 1e3:8.2f} ms", flush=True)
    return {"scenario": "flap", "what": __doc__.splitlines()[0], "how": __doc__, "results": results,
            "series": {"flush_vs_size": series}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 services only")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out = asyncio.run(run([1000] if args.quick else [1000, 10000], 5 if args.quick else 9))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
