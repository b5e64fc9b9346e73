#!/usr/bin/env python3
"""Advert send jitter without SNMP, with a frozen snmpd, and with snmpd walked all along (issue #24).

    python bench/snmp_jitter.py [--seconds S] [--json PATH]

The same master as bench/advert_jitter.py (advert_int 0.01, VRRPv3, a real backup), three times:
without SNMP; with every MIB and traps on and the router's snmpd stopped (SIGSTOP) before the
daemon starts, so the subagent's Open is never answered and it keeps timing out and connecting
again while its start's notifications are dropped; and with snmpd running and ``snmpwalk`` of
the three trees in a loop for the whole capture (each walk some hundred GetNext requests to the
parent, and one VRRP child status answer per second). The SNMP work is the parent's, never the
VRRP child's, so the three rows should read the same; a difference would be a regression.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from advert_jitter import one, rows_beside  # noqa: E402
import results_file  # noqa: E402

KEYS = ("adverts", "expected", "send_jitter_p50_ms", "send_jitter_p99_ms", "send_jitter_max_ms", "p99_ms",
        "max_ms", "over_30ms", "backup_takeovers")
TREES = ("1.3.6.1.4.1.9586.100.5", "1.3.6.1.2.1.68", "1.3.6.1.2.1.207")


class Agent:
    """An snmpd (AgentX master) in the master's namespace, and what the case does to it."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.dir = Path(tempfile.mkdtemp(prefix="snm-bench-", dir="/var/tmp"))
        self.procs: list[subprocess.Popen] = []

    @property
    def extra(self) -> str:
        return (f"    enable_snmp_vrrp\n    enable_snmp_rfc\n    enable_traps\n"
                f"    snmp_socket unix:{self.dir / 'agentx.sock'}\n")

    def prepare(self, r1, mon) -> None:
        conf = self.dir / "snmpd.conf"
        conf.write_text(f"master agentx\nagentXSocket {self.dir / 'agentx.sock'}\nagentaddress udp:127.0.0.1:161\n"
                        "rocommunity public 127.0.0.1\ntrap2sink 127.0.0.1:162 public\n")
        snmpd = r1.popen("env", f"SNMP_PERSISTENT_DIR={self.dir}", "MIBS=", "snmpd", "-f", "-C", "-c", str(conf),
                         "-Lf", str(self.dir / "snmpd.log"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(snmpd)
        deadline = time.monotonic() + 10
        while not (self.dir / "agentx.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.mode == "frozen":
            snmpd.send_signal(signal.SIGSTOP)
        else:
            # Each round's row count goes to walks.log: the report says how many walks answered.
            walks = " ; ".join(f"snmpwalk -v2c -c public -On -t 2 -r 0 127.0.0.1 {t} 2>/dev/null" for t in TREES)
            walks = f"({walks}) | grep -c ' = ' >> {self.dir / 'walks.log'}"
            self.procs.append(r1.popen("env", "MIBS=", "MIBDIRS=/nonexistent", "sh", "-c",
                                       f"while :; do {walks}; sleep 0.2; done",
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def walks(self) -> dict:
        """Walk rounds that ran during the case, and the rows of the fullest one."""
        path = self.dir / "walks.log"
        counts = [int(x) for x in path.read_text().split()] if path.exists() else []
        return {"walk_rounds": len(counts), "rows_per_round": max(counts, default=0)}

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = {}
    with open("/proc/loadavg") as f:
        load_before = f.read().strip()
    for case, mode in (("no SNMP", None), ("frozen snmpd", "frozen"), ("snmpd walked", "walked")):
        agent = Agent(mode) if mode else None
        try:
            r = one("lvsfast", 0, a.seconds, extra=agent.extra if agent else "",
                    prepare=agent.prepare if agent else None)
            extra = agent.walks() if agent is not None and mode == "walked" else {}
        finally:
            if agent is not None:
                agent.close()
        rows[case] = {**{k: r[k] for k in KEYS}, **extra}
        print(case, json.dumps(rows[case]), flush=True)
    with open("/proc/loadavg") as f:
        load_after = f.read().strip()
    print("| " + " | ".join(("case",) + KEYS) + " |")
    print("|" + "---|" * (len(KEYS) + 1))
    for case, r in rows.items():
        print("| " + " | ".join([case] + [str(r[k]) for k in KEYS]) + " |")
    out = harness(rows, a.seconds)
    out["loadavg"] = {"before": load_before, "after": load_after}
    print(f"wrote {results_file.write('snmp_jitter', out, a.json)}")
    return 0


def harness(rows: dict, seconds: float) -> dict:
    """The harness's format (bench/run.py): each SNMP case against the same master without SNMP."""
    results = [r for case in ("frozen snmpd", "snmpd walked")
               for r in rows_beside(f"advert_int 0.01, {case}", rows[case], "the same master without SNMP",
                                    rows["no SNMP"])]
    return {"scenario": "snmp_jitter", "what": __doc__.splitlines()[0], "how": __doc__, "seconds": seconds,
            "results": results, "raw": rows}


if __name__ == "__main__":
    sys.exit(main())
