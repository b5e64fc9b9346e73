#!/usr/bin/env python3
"""Scale-out (issue #27): active-active directors behind ECMP, announced by FRR, per scenario.

    flock /tmp/lvsfast-bench.lock python bench/scaleout.py [--rounds N] [--long N] [--rate R] [--json PATH]

What: three directors (lvsfast, nftables backend, ``mh`` + ``mh-port``, ``lb_kind DR``,
``announce_route``; FRR bgpd + bfdd at 150 ms x 4) behind an upstream FRR router with ECMP
(``fib_multipath_hash_policy=1``), six real servers with the VIP on loopback; the lab of
``lvsfast-lab --scale-out`` (src/lvsfast/lab/scaleout.py). Per scenario a fresh client holds
``--long`` keep-alive HTTP connections (a request every 0.2 s each) and opens ``--rate`` new
ones a second (1 s timeout). Reported per scenario (src/lvsfast/lab/scaleout_tour.py's measure):
the share of established connections that survived and the real servers of the lost ones; new
connections failed and the outage (first to last failure, plus one attempt's period); when the
upstream's ECMP group changed after the action (polled every 20 ms); each director's share of
the packets it received during the scenario (the capacity spread). Scenarios: steady;
director_sigkill (lvsfast and FRR SIGKILLed: the kernel lives on and closes the BGP session,
its nftables table keeps forwarding until the upstream moves the flows); cable_cut (the
director's switch port down: silent, BFD finds it); cable_restored (its checks must all run
again before it announces); graceful_stop (SIGTERM: withdraw,
announce_withdraw_delay 2 s, stop); fourth_added; rs_removed (rs3's HTTP server killed: its
own connections die with it); rs_added (rs3 back, measured with connections made while it was
out: those whose Maglev slots return to rs3 move, and as the data plane is stateless they
break). The scenario's action waits until the client's long connections have all answered
and new ones succeed. Baseline: keepalived's active/backup pair needs IPVS, which this kernel
lacks; bench/scaleout_vm.py runs this lab on IPVS beside keepalived's pair in the IPVS VM.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lvsfast.lab.scaleout import ScaleOut  # noqa: E402
from lvsfast.lab.scaleout_tour import bring_up, measure, wait_ecmp  # noqa: E402
import results_file  # noqa: E402

UP = {"d1", "d2", "d3"}


def scenarios(lab: ScaleOut, kw: dict, slow: float = 1.0) -> list[dict]:
    """lvsfast's scenarios; ``slow`` stretches the waits (the emulated IPVS VM)."""
    out = []

    def run(name: str, action, after=None) -> None:
        r = measure(lab, action, name=name, **kw)
        print(json.dumps(brief(r)), flush=True)
        out.append(r)
        if after is not None:
            after()

    run("steady", lambda: None)
    run("director_sigkill", lambda: (lab.kill_director("d1"), wait_ecmp(lab, UP - {"d1"}, 10 * slow)),
        lambda: (bring_up(lab, "d1"), wait_ecmp(lab, UP, 30 * slow)))
    run("cable_cut", lambda: (lab.set_cable("d2", False), wait_ecmp(lab, UP - {"d2"}, 10 * slow)))
    run("cable_restored", lambda: (lab.set_cable("d2", True), wait_ecmp(lab, UP, 30 * slow)))
    run("graceful_stop", lambda: (lab.stop_lvsfast("d3"), wait_ecmp(lab, UP - {"d3"}, 10 * slow)),
        lambda: (lab.start_lvsfast("d3"), wait_ecmp(lab, UP, 30 * slow)))
    run("fourth_added", lambda: (bring_up(lab, "d4"), wait_ecmp(lab, UP | {"d4"}, 30 * slow)),
        lambda: (lab.stop_lvsfast("d4"), lab.kill_frr("d4"), wait_ecmp(lab, UP, 30 * slow)))
    run("rs_removed", lambda: lab.stop_http("rs3"))
    run("rs_added", lambda: lab.start_http("rs3"))
    return out


def brief(r: dict) -> dict:
    return {k: r[k] for k in ("scenario", "long_survived_share", "long_lost_by_rs", "new_failed", "new_outage_seconds",
                              "ecmp_changed_after_seconds", "director_packet_share")}


def moved_share(r: dict) -> float:
    """Established flows that changed real server (or, stateless, broke because their server
    changed), but for the real server taken out in rs_removed, whose flows die with it."""
    lost = sum(n for rs, n in r["long_lost_by_rs"].items() if not (r["scenario"] == "rs_removed" and rs == "rs3"))
    return round((r["long_moved"] + lost) / max(1, r["long_established"]), 4)


def aggregate(rounds: list[list[dict]]) -> list[dict]:
    results = []
    for j, first in enumerate(rounds[0]):
        rows = [r[j] for r in rounds]
        for r in rows:
            r["flows_moved_share"] = moved_share(r)

        def agg(key: str) -> dict | None:
            vals = [r[key] for r in rows if r[key] is not None]
            if not vals:
                return None
            return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}

        results.append({"case": first["scenario"],
                        "long_survived_share": agg("long_survived_share"),
                        "flows_moved_share": agg("flows_moved_share"),
                        "new_failed": agg("new_failed"),
                        "new_outage_seconds": agg("new_outage_seconds"),
                        "ecmp_changed_after_seconds": agg("ecmp_changed_after_seconds"),
                        "baseline": "keepalived active/backup: not measured (needs IPVS; this kernel has none)",
                        "rounds": rows})
    return results


def common_rows(results: list[dict]) -> list[dict]:
    """headline.py's rows: no baseline (keepalived's active/backup pair needs IPVS)."""
    def scaled(a: dict | None, k: float) -> dict | None:
        return None if a is None else {x: v if x == "n" else v * k for x, v in a.items()}

    out = []
    for c in results:
        out.append(results_file.row(c["case"], "established connections surviving", "%",
                                    scaled(c["long_survived_share"], 100), better="higher"))
        out.append(results_file.row(c["case"], "new-connection outage", "ms", scaled(c["new_outage_seconds"], 1000)))
        if c["ecmp_changed_after_seconds"]:
            out.append(results_file.row(c["case"], "upstream ECMP change after the action", "ms",
                                        scaled(c["ecmp_changed_after_seconds"], 1000)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--long", type=int, default=60)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--settle", type=float, default=6.0)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("scaleout: needs root (network namespaces)", file=sys.stderr)
        return 2
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    rounds: list[list[dict]] = []
    for i in range(a.rounds):
        workdir = Path(tempfile.mkdtemp(prefix="lvsfast-scaleout-bench-"))
        with ScaleOut(workdir) as lab:
            lab.start()
            wait_ecmp(lab, UP, 60)
            time.sleep(2)
            rounds.append(scenarios(lab, {"long": a.long, "rate": a.rate, "settle": a.settle}))
    results = aggregate(rounds)
    doc = {"scenario": "scaleout", "what": "N active-active directors behind ECMP, announced by FRR (#27)",
           "how": __doc__, "loadavg_before": load_before, "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
           "settings": vars(a), "by_scenario": results, "results": common_rows(results)}
    path = results_file.write("scaleout", doc, a.json or None)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
