#!/usr/bin/env python3
"""The README's results table, made from the newest measurement of each headline figure.

    python bench/headline.py            # rewrite README.md's table from bench/results/*.json
    python bench/headline.py --check    # exit 1 when README.md's table is not what the results say

Each headline names a scenario row (scenario, case, metric, baseline) by pattern. The newest
results file that has that row supplies it, so a new run of any bench script (or of
``bench/run.py``, which calls this at its end) replaces exactly the figures it measured, and the
table is never edited by hand: a test runs ``--check``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
README = ROOT / "README.md"
START = "<!-- headline table: written by bench/headline.py from bench/results; do not edit -->"
END = "<!-- end of headline table -->"


@dataclass(frozen=True)
class Headline:
    what: str  # the row's label in the README
    scenario: str  # regular expressions: the scenario's name whole, case and metric from the start
    case: str
    metric: str
    baseline: str = ""  # "" takes the row whatever its baseline


HEADLINES = (
    Headline("VRRP graceful stop, client outage, advert_int 1", "failover", r"graceful stop, advert_int 1 ", "outage"),
    Headline("VRRP graceful stop, client outage, advert_int 0.01", "failover", r"graceful stop, advert_int 0\.01", "outage"),
    Headline("VRRP cable cut, client outage, advert_int 1", "failover", r"cable cut, advert_int 1 ", "outage"),
    Headline("VRRP cable cut, client outage, advert_int 0.1", "failover", r"cable cut, advert_int 0\.1", "outage"),
    Headline("VRRP cable cut, client outage, advert_int 1, BFD 10 ms x 3 + `bfd_master_down`", "bfd_failover",
             r"cable cut, advert_int 1, BFD", "outage", "no BFD"),
    Headline("advert send jitter p99, advert_int 0.01, 5,000 checks/s beside", "advert_jitter",
             r"advert_int 0\.01, checker 5000 checks/s$", "advert send jitter p99"),
    Headline("advert send jitter p99, advert_int 0.01, SMTP alerts to a blackholed mail server", "smtp_jitter",
             r"advert_int 0\.01, blackholed", "advert send jitter p99"),
    Headline("advert send jitter p99, advert_int 0.01, a frozen snmpd", "snmp_jitter", r"advert_int 0\.01, frozen snmpd",
             "advert send jitter p99"),
    Headline("TCP_CHECK, 20,000 servers on loopback, checks per second", "checker", r"20000 servers, TCP",
             "checks per second"),
    Headline("TCP_CHECK, 20,000 servers on loopback, CPU per check", "checker", r"20000 servers, TCP", "CPU per check"),
    Headline("TCP_CHECK, 20,000 servers over veth, `checker_probers 2`, CPU per check", "checker",
             r"veth, daemon -C: 20000 servers, TCP, 2 probers$", "CPU per check", "floor"),
    Headline("TCP_CHECK, 20,000 servers over veth, `checker_probers 2`, checks per second", "checker",
             r"veth, daemon -C: 20000 servers, TCP, 2 probers$", "checks per second", "schedule"),
    Headline("TCP_CHECK in the IPVS VM, CPU per check", "checker", r"1000 servers, TCP", "CPU per check",
             "keepalived"),
    Headline("HTTP_GET in the IPVS VM, CPU per check", "checker", r"1000 servers, HTTP", "CPU per check",
             "keepalived"),
    Headline("SSL_GET in the IPVS VM, CPU per check", "checker", r"IPVS VM, daemon -C: \d+ servers, SSL$", "CPU per check",
             "keepalived"),
    Headline("IPVS: load 10,000 x 10 into an empty kernel (VM)", "ipvs", r"10000 VS x 10 RS", "load into empty IPVS"),
    Headline("IPVS: daemon reload adding 10,000 x 10 (VM)", "ipvs", r"10000 VS x 10 RS",
             "daemon reload adding the whole table"),
    Headline("IPVS: one weight change, 100,000 real servers present (VM)", "ipvs", r"10000 VS x 10 RS",
             "one weight change, apply_ops"),
    Headline("nftables: one weight change, 10,000 real servers", "nft", r"10000 real servers", "one weight change"),
    Headline("failed requests over 100 reloads, IPVS (VM)", "reload", r"100 reloads .*ipvs", "failed requests"),
    Headline("failed requests over 100 reloads, nftables", "reload", r"100 reloads .*nftables", "failed requests"),
    Headline("config test (`-t`) of the example config, wall time", "startup", r"lvsfast -t", "wall time"),
    Headline("daemon from start to VIP held", "startup", r"start to VIP", "time"),
    Headline("the floor: CPython with asyncio and uvloop imported, doing nothing, against keepalived's start to VIP",
             "startup", r"floor: python -c 'import asyncio, uvloop'", "wall time"),
    Headline("memory, 100 x 10, all processes", "memory|startup", r"100 VS x 10 RS", "PSS"),
    Headline("memory floor: the same three processes with the daemon's imports and config, doing nothing",
             "memory|startup", r"floor: parent and two children", "PSS"),
    Headline("scale-out, 3 directors behind ECMP: established connections surviving a director SIGKILL", "scaleout",
             r"director_sigkill$", "established connections surviving"),
    Headline("scale-out, 3 directors behind ECMP: new-connection outage on a cable cut", "scaleout", r"cable_cut$",
             "new-connection outage"),
    Headline("scale-out on IPVS (VM), 3 active-active directors vs keepalived's pair: established connections "
             "surviving a director SIGKILL", "scaleout_vm", r"director_sigkill$", "established connections surviving",
             "keepalived"),
    Headline("scale-out on IPVS (VM), 3 active-active directors vs keepalived's pair: new-connection outage on a "
             "cable cut", "scaleout_vm", r"cable_cut$", "new-connection outage", "keepalived"),
    Headline("BFD 10 ms x 3, 10 minutes beside 3,000 checks/s: false session Downs", "bfd_soak",
             r"BFD 10 ms x 3, 600 s, 3000 checks/s", "session downs"),
    Headline("BFD 10 ms x 3, 10 minutes beside 3,000 checks/s: transmit gap p99", "bfd_soak",
             r"BFD 10 ms x 3, 600 s, 3000 checks/s", "tx gap p99"),
    Headline("BFD control packet decode+validate, compiled core, per packet (1,000 distinct, one call each)", "bfd_wire",
             r"1000 distinct, one call each",
             r"decode\+validate", "twin"),
    Headline("nftables `mh`: flows moved when 1 of 16 servers fails its check", "mh", r"N=16 remove, check fails", ""),
    Headline("nftables `mh`: flows moved when a reload removes 1 of 16 servers", "mh", r"N=16 remove, reload", ""),
)


def _rows(doc: dict) -> list[tuple[str, dict]]:
    """(scenario, row) pairs of one results file, whatever its shape."""
    if "scenarios" in doc:
        return [(sc["scenario"], r) for sc in doc["scenarios"] for r in sc.get("results", [])]
    if "results" in doc:
        return [(doc.get("scenario", ""), r) for r in doc["results"]]
    if "sizes" in doc:  # bench/ipvs_scale.py's raw in-VM figures
        sys.path.insert(0, str(BENCH))
        from ipvs_rows import rows
        return [("ipvs", r) for r in rows(doc)[0]]
    return []


def newest(results: Path = RESULTS) -> dict[Headline, tuple[dict, str]]:
    """Each headline's row from the newest results file that has it, with that file's name."""
    found: dict[Headline, tuple[dict, str]] = {}
    for path in sorted(results.glob("*.json"), reverse=True):  # names start with the UTC date
        try:
            rows = _rows(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            continue
        for h in HEADLINES:
            if h in found:
                continue
            for scenario, row in rows:
                if (re.fullmatch(h.scenario, scenario) and re.match(h.case, row.get("case", ""))
                        and re.match(h.metric, row.get("metric", ""))
                        and re.search(h.baseline, row.get("baseline_name") or "")
                        and row.get("lvsfast")):
                    found[h] = (row, path.name)
                    break
    return found


def _num(x: float, unit: str) -> str:
    if unit == "ms" and x >= 1000:
        return f"{x / 1000:,.2f} s"
    if abs(x) >= 100:
        return f"{x:,.0f} {unit}"
    return f"{x:.3g} {unit}"


def _when(name: str) -> str:
    m = re.match(r"(\d{4}-\d\d-\d\d)T(\d\d)(\d\d)", name)
    return f"{m[1]} {m[2]}:{m[3]}" if m else name


def ratio(row: dict) -> str:
    base = row.get("baseline")
    a = row["lvsfast"]["median"]
    if not base or not a or not base.get("median"):
        return "–"
    b = base["median"]
    r = b / a if row.get("better", "lower") == "lower" else a / b
    return f"{r:.2f}×"


def table(found: dict[Headline, tuple[dict, str]]) -> str:
    lines = ["| figure | lvsfast | baseline, same run | lvsfast's advantage | measured in |",
             "|---|---|---|---|---|"]
    for h in HEADLINES:
        if h not in found:
            continue
        row, name = found[h]
        unit = row.get("unit", "")
        base = row.get("baseline")
        base_txt = f"{row.get('baseline_name')}: {_num(base['median'], unit)}" if base else "–"
        lines.append(f"| {h.what} | {_num(row['lvsfast']['median'], unit)} | {base_txt} | {ratio(row)} | "
                     f"[{_when(name)}](bench/results/{name}) |")
    return "\n".join(lines)


def render(readme: str, found: dict[Headline, tuple[dict, str]]) -> str:
    head, sep, rest = readme.partition(START)
    if not sep:
        raise SystemExit(f"{README}: no line {START!r} to put the table after")
    _, sep2, tail = rest.partition(END)
    if not sep2:
        raise SystemExit(f"{README}: no line {END!r} after the table")
    return f"{head}{START}\n{table(found)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md's table is stale")
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    old = args.readme.read_text()
    new = render(old, newest(args.results))
    if args.check:
        if new != old:
            print(f"{args.readme}: the results table is not what bench/results says; run python bench/headline.py",
                  file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
