#!/usr/bin/env python3
"""Client-visible failover outage, lvsfast against keepalived 2.2.7 in the same run.

    python bench/failover.py [--quick] [--rounds N] [--json PATH]

What: the longest gap between ping replies a client sees while the master router goes away.
How: a switch namespace with a bridge, two routers (priority 150 and 100) and a client that
pings the VIP every 1 ms (``ping -D -i 0.001``). Once r1 is master and the pings flow, r1 either
stops gracefully (SIGTERM: a priority-0 advert) or its switch port goes down (cable cut). The
outage is the longest gap between replies that ends after the failure, until r2 is master and
2 s more (the time from the last reply to the end counts too). Cases: advert_int
1 s (VRRPv2), 0.1 s and 0.01 s (VRRPv3); each with lvsfast on both routers, then keepalived on
both. Medians over the rounds, with min and max. Quick: one round of each case.
The plot's data (``series.timeline``, first round of each case): every gap of 5 ms or more as
[ms since the failure, gap in ms], per implementation.
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lvsfast.lab.netns import Lab, wait_for  # noqa: E402
from support.vrrp_lab import VrrpLab, instance_conf  # noqa: E402

CASES = [(2, 1.0), (3, 0.1), (3, 0.01)]
ACTIONS = ["graceful stop", "cable cut"]
IMPLS = ["lvsfast", "keepalived"]
TIMELINE_MIN_GAP_MS = 5.0


def one(impl: str, version: int, adv: float, action: str) -> tuple[float, list[list[float]]]:
    """The outage in ms, and the client's timeline: [ms since the failure, gap before that reply]."""
    with tempfile.TemporaryDirectory(prefix="lvsfast-failover-") as wd:
        lab = Lab()
        try:
            vlab = VrrpLab.build(lab, Path(wd))
            start = vlab.start_lvsfast if impl == "lvsfast" else vlab.start_keepalived
            start("r1", instance_conf(priority=150, version=version, advert_int=adv))
            start("r2", instance_conf(priority=100, version=version, advert_int=adv))
            wait_for(lambda: vlab.routers["r1"].state() == "MASTER" and vlab.routers["r2"].state() == "BACKUP",
                     timeout=30, what="r1 master")
            time.sleep(max(1.0, 4 * adv))
            # To a file, not a pipe: at 1000 lines a second a pipe nobody reads fills in under a
            # second and blocks ping, which then looks like an outage (or hides one).
            log = Path(wd) / "ping.out"
            pinger = lab.spawn(vlab.client, "ping", "-D", "-n", "-i", "0.001", "-W", "1", "10.0.0.100",
                               stdout=open(log, "w"), stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            failed_at = time.time()  # ping -D stamps replies with the wall clock
            if action == "graceful stop":
                vlab.stop("r1")
            else:
                vlab.cut("r1")
            wait_for(lambda: vlab.routers["r2"].state() == "MASTER", timeout=30, what="r2 master")
            time.sleep(2.0)  # long enough for the replies to resume even on a busy machine
            return outage_ms(pinger, log, time.time(), failed_at)
        finally:
            lab.close()


def outage_ms(pinger: subprocess.Popen, log: Path, end: float, failed_at: float) -> tuple[float, list[list[float]]]:
    """The longest gap between replies, counting the time from the last reply to ``end``: pings
    that never come back after the failover are an outage, not a short run. Also the gaps of
    TIMELINE_MIN_GAP_MS or more, each as [ms since ``failed_at``, gap ms] at the reply ending it
    (the plot's data; the ordinary 1 ms gaps are left out to keep the report small)."""
    pinger.send_signal(signal.SIGINT)
    pinger.wait(10)
    out = log.read_text()
    times = [float(m) for m in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", out, re.M)]
    if not times:
        return float("inf"), [[(end - failed_at) * 1000, (end - failed_at) * 1000]]
    ends = times[1:] + [end]
    gaps = [b - a for a, b in zip(times, ends)]
    timeline = [[round((b - failed_at) * 1000, 2), round(g * 1000, 2)] for b, g in zip(ends, gaps)
                if g * 1000 >= TIMELINE_MIN_GAP_MS]
    # Only gaps that end after the failure belong to it; a stall before it is the machine's noise.
    after = [g for b, g in zip(ends, gaps) if b >= failed_at]
    return max(after) * 1000, timeline


def summary(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one round per case")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--only", default="", help="comma-separated advert_int values, e.g. 0.01,0.1")
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    cases = [c for c in CASES if not args.only or f"{c[1]:g}" in args.only.split(",")]
    results, series, timeline = [], {}, {}
    for version, adv in cases:
        for action in ACTIONS:
            got: dict[str, list[float]] = {i: [] for i in IMPLS}
            case = f"{action}, advert_int {adv:g} (v{version})"
            for r in range(rounds):
                for impl in IMPLS:  # interleaved, so drift in machine load hits both alike
                    outage, points = one(impl, version, adv, action)
                    got[impl].append(outage)
                    if r == 0:  # the plot shows the first round of each case
                        timeline.setdefault(case, {})[impl] = points
            series[case] = got
            lv, ka = summary(got["lvsfast"]), summary(got["keepalived"])
            print(f"{case:40s} lvsfast median {lv['median']:8.1f} ms [{lv['min']:.1f}-{lv['max']:.1f}]   "
                  f"keepalived {ka['median']:8.1f} ms [{ka['min']:.1f}-{ka['max']:.1f}]   "
                  f"ratio {lv['median'] / ka['median']:.2f}", flush=True)
            results.append({"case": case, "metric": "outage", "unit": "ms", "better": "lower", "lvsfast": lv,
                            "baseline_name": "keepalived 2.2.7", "baseline": ka})
    out = {"scenario": "failover", "what": "client-visible outage (longest gap between 1 ms pings)",
           "how": __doc__ + (f"\n(quick mode: {rounds} round(s), cases {', '.join(f'{a:g}' for _, a in cases)})"
                                      if args.quick else ""),
           "results": results, "series": {"outages_ms": series, "timeline": timeline}}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
