#!/usr/bin/env python3
"""lvsfast's benchmark harness: every scenario the machine can run, one JSON, plots, a summary.

    python bench/run.py [--quick | --smoke] [--only NAME,...] [--out bench/results]

Each scenario is a script in bench/ that takes ``--quick`` and ``--json PATH`` and writes

    {"scenario": str, "what": str, "how": str,
     "results": [{"case": str, "metric": str, "unit": str, "better": "lower"|"higher",
                  "lvsfast": {"median": x, "min": x, "max": x, "n": k},
                  "baseline_name": str, "baseline": {...same...} | null}],
     "series": {...optional raw data for plots...}}

so it can be rerun alone. Every figure is reported next to a baseline measured in the same run
(keepalived 2.2.7, ``ipvsadm -R``, the pure-Python twin, scapy), as a ratio. Micro benchmarks
(``bench/test_bench_*.py``, pytest-benchmark) are the ``micro`` scenario. A figure never fails
the run: a scenario that breaks is recorded with its error and the others go on.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str  # file in bench/, or "" for the micro benchmarks
    what: str
    timeout_quick: int
    timeout_full: int
    # --smoke (CI: the harness end to end, one small case per scenario): these arguments
    # instead of --quick; None keeps --quick.
    smoke: tuple[str, ...] | None = None


SCENARIOS = [
    Scenario("micro", "", "VRRP decode/encode, checksum, GARP build: compiled vs twin vs scapy", 300, 1200),
    Scenario("failover", "failover.py", "client-visible outage on graceful stop and cable cut, vs keepalived", 600, 3600,
             ("--rounds", "1", "--only", "0.1")),
    Scenario("checker", "checker_scale.py", "health checks per second, CPU, RSS and lateness at scale", 300, 3600,
             ("--n", "1000", "--seconds", "2", "--checks", "TCP", "HTTP", "--impls", "lvsfast")),
    Scenario("flap", "checker_flap.py", "the checker's flush after one real server's check flips, by table size", 300, 900),
    Scenario("nft", "nft_update.py", "nftables update time vs full rebuild, by table size", 300, 1800,
             ("--sizes", "1000", "--rounds", "2")),
    Scenario("mh", "mh_remap.py", "lb_algo mh: flows that change server when one leaves or joins, vs the ideal", 300, 600),
    Scenario("ipvs", "ipvs_scale.py", "IPVS load time vs ipvsadm -R and keepalived, single change (in the VM)", 900, 3600),
    Scenario("reload", "reload_loss.py", "failed requests during reloads that add or remove servers", 600, 3600),
    Scenario("memory", "memory.py", "resident memory of the daemon's processes, 100 VS x 10 RS, vs keepalived", 300, 900),
    Scenario("startup", "startup.py", "-t wall time, daemon imports, PSS (100 VS x 10 RS), start to VIP, vs keepalived",
             600, 1200),
]


def machine() -> dict:
    info = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
        info["memory_gib"] = round(int(mem) / 2**20, 1)
    except OSError:
        pass
    try:
        import lvsfast

        info["lvsfast"] = lvsfast.__version__
        info["compiled_core"] = lvsfast.compiled_core()
    except ImportError:
        pass
    try:
        info["keepalived"] = subprocess.run(["keepalived", "--version"], capture_output=True, text=True,
                                            timeout=5).stderr.split("\n", 1)[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return info


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def run_micro(quick: bool, tmp: Path, timeout: int, smoke: bool = False) -> dict:
    """pytest-benchmark over bench/test_bench_*.py; groups compare implementations of one operation."""
    out = tmp / "micro.json"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BENCH), "--benchmark-only",
            f"--benchmark-json={out}", "-o", "testpaths=bench"]
    if smoke:
        argv += ["--benchmark-min-rounds=1", "--benchmark-max-time=0.01", "--benchmark-warmup=off"]
    elif quick:
        argv += ["--benchmark-min-rounds=3", "--benchmark-max-time=0.2"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if not out.exists():
        raise RuntimeError(f"pytest-benchmark wrote nothing:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    data = json.loads(out.read_text())
    groups: dict[str, dict[str, dict]] = {}
    for b in data["benchmarks"]:
        impl = b.get("extra_info", {}).get("impl") or b["name"].split("[")[-1].rstrip("]")
        st = b["stats"]
        per = b.get("extra_info", {}).get("per_call", 1) or 1
        groups.setdefault(b.get("group") or b["name"].split("[")[0], {})[impl] = {
            "median": st["median"] * 1e9 / per, "min": st["min"] * 1e9 / per, "max": st["max"] * 1e9 / per,
            "n": st["rounds"]}
    results = []
    for group, impls in sorted(groups.items()):
        ours = impls.get("compiled")
        if ours is None:
            continue
        for base in ("python", "scapy", "struct"):
            if base in impls:
                results.append({"case": group, "metric": "time per operation", "unit": "ns", "better": "lower",
                                "lvsfast": ours, "baseline_name": base, "baseline": impls[base]})
        if not any(b in impls for b in ("python", "scapy", "struct")):
            results.append({"case": group, "metric": "time per operation", "unit": "ns", "better": "lower",
                            "lvsfast": ours, "baseline_name": "", "baseline": None})
    return {"scenario": "micro", "what": SCENARIOS[0].what,
            "how": "pytest-benchmark, bench/test_bench_*.py; per-operation medians over rounds", "results": results}


def run_script(sc: Scenario, quick: bool, tmp: Path, timeout: int, smoke: bool = False) -> dict:
    out = tmp / f"{sc.name}.json"
    extra = list(sc.smoke) if smoke and sc.smoke is not None else ["--quick"] if quick else []
    argv = [sys.executable, str(BENCH / sc.script), "--json", str(out), *extra]
    # Its own process group, so a timeout also ends what it started (the VM's qemu, namespaces' daemons).
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        raise RuntimeError(f"timed out after {timeout} s:\n{stdout[-2000:]}{stderr[-3000:]}") from None
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"exit {proc.returncode}:\n{stdout[-2000:]}{stderr[-3000:]}")
    return json.loads(out.read_text())


def ratio(row: dict) -> float | None:
    base = row.get("baseline")
    if not base or not row["lvsfast"]["median"]:
        return None
    a, b = row["lvsfast"]["median"], base["median"]
    # Always "how many times better lvsfast is": >1 means lvsfast wins.
    return (b / a) if row.get("better", "lower") == "lower" else (a / b if b else None)


def _fmt(st: dict | None, unit: str) -> str:
    if not st:
        return "–"
    def f(x: float) -> str:
        return f"{x:.3g}"
    return f"{f(st['median'])} {unit} [{f(st['min'])}–{f(st['max'])}]"


def summary(report: dict) -> str:
    m = report["machine"]
    lines = [f"Measured {m['date']} on {m.get('cpu', '?')}, {m['cores']} cores, {m.get('memory_gib', '?')} GiB, "
             f"kernel {m['kernel']}, Python {m['python']}, compiled core: {m.get('compiled_core')}"
             + (" (quick mode)" if report["quick"] else ""),
             "",
             "| scenario | case | metric | lvsfast median [min–max] | baseline | baseline median [min–max] | lvsfast advantage |",
             "|---|---|---|---|---|---|---|"]
    for sc in report["scenarios"]:
        if "error" in sc:
            lines.append(f"| {sc['scenario']} | – | not run | {sc['error'].splitlines()[0][:80]} | | | |")
            continue
        for row in sc.get("results", []):
            r = ratio(row)
            lines.append(f"| {sc['scenario']} | {row['case']} | {row['metric']} | {_fmt(row['lvsfast'], row['unit'])} | "
                         f"{row.get('baseline_name') or '–'} | {_fmt(row.get('baseline'), row['unit'])} | "
                         f"{f'{r:.2f}x' if r else '–'} |")
    return "\n".join(lines) + "\n"


IMPL_COLOURS = {"lvsfast": "tab:blue", "keepalived": "tab:red"}


def _failover_plot(plt, timeline: dict, path: Path) -> str:
    """One panel per case: each point is a ping reply that ended a gap (x: when, since the
    failure; y: how long the client had waited), lvsfast against keepalived."""
    cases = list(timeline)
    cols = 2 if len(cases) > 1 else 1
    rows = (len(cases) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.6 * rows), squeeze=False, sharey=True)
    for ax, case in zip(axes.flat, cases):
        for impl, pts in timeline[case].items():
            pts = [pt for pt in pts if pt[0] >= -300]  # from just before the failure
            if not pts:
                continue
            xs, ys = zip(*pts)
            ax.vlines(xs, 1, ys, colors=IMPL_COLOURS.get(impl), alpha=0.7, linewidth=1.5)
            longest = max(y for x, y in pts if x >= 0) if any(x >= 0 for x, _ in pts) else 0
            ax.plot(xs, ys, "o", ms=4, color=IMPL_COLOURS.get(impl), label=f"{impl} (outage {longest:.0f} ms)")
        ax.axvline(0, color="grey", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(case, fontsize=10)
        ax.set_xlabel("time since the failure (ms)", fontsize=8)
        ax.set_ylabel("gap between replies (ms)", fontsize=8)
        ax.legend(fontsize=8, loc="upper right")
    for ax in list(axes.flat)[len(cases):]:
        ax.set_visible(False)
    fig.suptitle("Client-visible failover: gaps between 1 ms ping replies to the VIP (gaps of 5 ms or more)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def plots(report: dict, outdir: Path, stem: str) -> list[str]:
    """PNG plots from the scenarios' series; each scenario's data shape is documented in its script."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    by = {sc["scenario"]: sc for sc in report["scenarios"] if "series" in sc}
    if "failover" in by and by["failover"]["series"].get("timeline"):
        made.append(_failover_plot(plt, by["failover"]["series"]["timeline"], outdir / f"{stem}-failover.png"))
    if "checker" in by and by["checker"]["series"].get("lateness_ms"):
        fig, ax = plt.subplots(figsize=(9, 4))
        for label, values in by["checker"]["series"]["lateness_ms"].items():
            ax.hist(values, bins=50, histtype="step", label=label)
        ax.set_xlabel("check lateness (ms)")
        ax.set_ylabel("checks")
        ax.set_yscale("log")
        ax.legend()
        p = outdir / f"{stem}-lateness.png"
        fig.savefig(p, dpi=100, bbox_inches="tight")
        made.append(p.name)
    size_series = [(n, by[n]["series"]["size_vs_time"]) for n in ("ipvs", "nft") if n in by and by[n]["series"].get("size_vs_time")]
    if size_series:
        fig, ax = plt.subplots(figsize=(9, 4))
        for n, series in size_series:
            for label, pts in series.items():
                xs, ys = zip(*pts)
                ax.loglog(xs, ys, marker="o", label=f"{n}: {label}")
        ax.set_xlabel("table size (real servers)")
        ax.set_ylabel("time (ms)")
        ax.legend()
        p = outdir / f"{stem}-programming.png"
        fig.savefig(p, dpi=100, bbox_inches="tight")
        made.append(p.name)
    for name in made:
        print(f"plot: {outdir / name}")
    return made


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few rounds (under 10 minutes)")
    ap.add_argument("--smoke", action="store_true",
                    help="--quick, smaller still: one small case per scenario (CI's test of the harness; figures "
                         "not for reading)")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--out", default=str(BENCH / "results"))
    args = ap.parse_args(argv)
    args.quick = args.quick or args.smoke
    only = {s for s in args.only.split(",") if s}
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%S")
    tmp = outdir / f".{stem}.tmp"
    tmp.mkdir(exist_ok=True)
    report = {"machine": machine(), "quick": args.quick, "smoke": args.smoke, "scenarios": []}
    for sc in SCENARIOS:
        if only and sc.name not in only:
            continue
        if sc.script and not (BENCH / sc.script).exists():
            report["scenarios"].append({"scenario": sc.name, "what": sc.what, "error": "not written yet"})
            continue
        t0 = time.monotonic()
        print(f"== {sc.name}: {sc.what}", flush=True)
        timeout = sc.timeout_quick if args.quick else sc.timeout_full
        try:
            res = (run_micro(args.quick, tmp, timeout, args.smoke) if not sc.script
                   else run_script(sc, args.quick, tmp, timeout, args.smoke))
        except Exception as exc:  # a broken scenario is reported, never fatal to the others
            res = {"scenario": sc.name, "what": sc.what, "error": f"{type(exc).__name__}: {exc}"}
        res["seconds"] = round(time.monotonic() - t0, 1)
        report["scenarios"].append(res)
        print(f"   {'error: ' + res['error'].splitlines()[0] if 'error' in res else 'done'} ({res['seconds']} s)", flush=True)
    report["plots"] = plots(report, outdir, stem)
    (outdir / f"{stem}.json").write_text(json.dumps(report, indent=1))
    text = summary(report)
    (outdir / f"{stem}.md").write_text(text)
    (outdir / "latest.md").write_text(text)
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()
    if outdir.resolve() == (BENCH / "results").resolve():
        from headline import main as headline  # the README's table follows the newest results
        headline([])
    print(text)
    print(f"results: {outdir / (stem + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
