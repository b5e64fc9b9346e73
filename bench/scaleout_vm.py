#!/usr/bin/env python3
"""Scale-out (issue #27) on IPVS, in the IPVS VM: lvsfast's three active-active directors beside
keepalived 2.2.7's active/backup pair, the same topology, one VM boot.

    flock /tmp/lvsfast-bench.lock python bench/scaleout_vm.py [--long N] [--rate R] [--settle S]

On the host it boots the IPVS VM once (scripts/vm.sh, under /tmp/lvsfast-vm.lock) and runs
itself inside with ``--in-vm``; the guest writes its figures to a shared directory and the host
writes bench/results/<UTC>-scaleout_vm.json. What runs in the guest:

- lvsfast: bench/scaleout.py's lab and scenarios (src/lvsfast/lab/scaleout.py), with
  ``lvs_backend ipvs``: three directors (``mh`` + ``mh-port``, ``lb_kind DR``, sloppy_tcp,
  ``announce_route``; FRR bgpd + bfdd) behind an upstream FRR router with ECMP.
- keepalived: src/lvsfast/lab/scaleout_pair.py, in the same namespaces and addresses: d1 and d2
  run keepalived (VRRP VIP on the segment shared with the upstream, advert_int 1, both BACKUP
  with nopreempt, ``lb_algo wlc``, ``lb_kind DR``, the same six real servers and HTTP_GET checks,
  ``lvs_sync_daemon eth0``); the upstream reaches the VIP on that segment (on-link route, ARP).
  Its scenarios act on whichever director is master: director_sigkill (every keepalived process
  SIGKILLed; the VIP and IPVS stay in its kernel; before it comes back its VIP and IPVS table are
  flushed, as a rebooted machine's would be), cable_cut, cable_restored, graceful_stop (SIGTERM:
  priority-0 advert), rs_removed, rs_added. fourth_added does not apply to a pair (n/a).
  "ECMP change" for the pair is when the upstream's ARP entry for the VIP named the new master.

Figures per scenario are bench/scaleout.py's (src/lvsfast/lab/scaleout_tour.py's measure). The
guest is emulated (no KVM), 5-10x slower than the host: the client holds ``--long`` connections
(default 20, host bench 60) and opens ``--rate`` new ones a second (default 10, host 50); new
connections time out after 2 s (host 1 s), established ones after 10 s (a request stalled by a
seconds-long VRRP takeover that TCP then recovers counts as surviving, for both); FRR's BFD runs
at 300 ms x 3 (host 150 ms x 4: the emulated guest starves bfdd at shorter intervals); waits
for a director to come back are stretched 3x.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import results_file  # noqa: E402

BASELINE = "keepalived 2.2.7 active/backup + lvs_sync_daemon"
CASES = ("steady", "director_sigkill", "cable_cut", "cable_restored", "graceful_stop", "fourth_added",
         "rs_removed", "rs_added")
SLOW = 3.0


def lvsfast_run(kw: dict) -> list[dict]:
    from lvsfast.lab import scaleout
    from lvsfast.lab.scaleout_tour import wait_ecmp
    from scaleout import UP, scenarios

    scaleout.BFD_MS, scaleout.BFD_MULT = 300, 3
    with scaleout.ScaleOut(Path(tempfile.mkdtemp(prefix="lvsfast-scaleout-vm-")), backend="ipvs") as lab:
        lab.start()
        wait_ecmp(lab, UP, 60 * SLOW)
        time.sleep(3)
        return scenarios(lab, kw, slow=SLOW)


def pair_run(kw: dict) -> list[dict]:
    from lvsfast.lab.netns import wait_for
    from lvsfast.lab.scaleout_pair import PAIR, KeepalivedPair
    from lvsfast.lab.scaleout_tour import addr, measure, wait_ecmp
    from scaleout import brief

    out: list[dict] = []
    with KeepalivedPair(Path(tempfile.mkdtemp(prefix="lvsfast-scaleout-ka-"))) as lab:
        def other(name: str) -> str:
            return PAIR[1] if name == PAIR[0] else PAIR[0]

        def settled() -> str:
            """Wait for one master that the upstream's ARP entry names; return it."""
            def ok() -> bool:
                m = lab.master()
                if m is None:
                    return False
                lab.up.run("ping", "-c", "1", "-W", "1", "-q", "192.0.2.100", check=False)
                return lab.ecmp() == [addr(m)]
            wait_for(ok, timeout=60 * SLOW, interval=0.5, what="one keepalived master, named by the upstream's ARP")
            return lab.master() or ""

        def back(name: str, *, reboot: bool = False) -> None:
            if reboot:  # a crashed machine comes back without its old VIP and IPVS table
                lab.directors[name].ip("addr", "del", "192.0.2.100/32", "dev", "eth0", check=False)
                lab.directors[name].run("ipvsadm", "-C", check=False)
            lab.start_lvsfast(name)
            # Until it is a backup with its sync daemon receiving, a second failure would lose flows.
            wait_for(lambda: "Entering BACKUP STATE" in (lab.workdir / f"{name}.log").read_text()
                     .rpartition("Starting VRRP child")[2], timeout=60 * SLOW, interval=0.5, what=f"{name} backup")
            time.sleep(3)

        def run(name: str, action, after=None) -> None:
            r = measure(lab, action, name=name, **kw)
            print("keepalived", json.dumps(brief(r)), flush=True)
            out.append(r)
            if after is not None:
                after()

        lab.start()
        m = settled()
        time.sleep(3)
        run("steady", lambda: None)
        m = settled()
        run("director_sigkill", lambda: (lab.kill_director(m), wait_ecmp(lab, {other(m)}, 20 * SLOW)),
            lambda: back(m, reboot=True))
        m = settled()
        run("cable_cut", lambda: (lab.set_cable(m, False), wait_ecmp(lab, {other(m)}, 20 * SLOW)))
        run("cable_restored", lambda: (lab.set_cable(m, True), settled()))
        m = settled()
        run("graceful_stop", lambda: (lab.stop_lvsfast(m), wait_ecmp(lab, {other(m)}, 20 * SLOW)),
            lambda: back(m))
        settled()
        run("rs_removed", lambda: lab.stop_http("rs3"))
        run("rs_added", lambda: lab.start_http("rs3"))
    return out


def in_vm(a: argparse.Namespace) -> int:
    for mod in ("ip_vs", "ip_vs_mh", "ip_vs_wlc"):
        subprocess.run(["modprobe", mod], check=False)
    kw = {"long": a.long, "rate": a.rate, "settle": a.settle,
          "client_args": ("--timeout", str(a.timeout), "--long-timeout", str(a.long_timeout))}
    doc: dict = {"loadavg_before": Path("/proc/loadavg").read_text().split()[:3], "errors": {}}
    for who, fn in (("lvsfast", lvsfast_run), ("keepalived", pair_run)):
        if a.only and who != a.only:
            continue
        try:
            doc[who] = fn(kw)
        except Exception as exc:  # one side failing must not cost the other's figures
            doc["errors"][who] = f"{type(exc).__name__}: {exc}"
            print(f"{who}: {doc['errors'][who]}", flush=True)
    doc["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    Path(a.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0 if not doc["errors"] else 1


def _stats(r: dict | None, key: str, k: float = 1.0) -> dict | None:
    if r is None or r.get(key) is None:
        return None
    return results_file.stats([r[key] * k])


def rows(lv: dict[str, dict], ka: dict[str, dict]) -> list[dict]:
    """The common rows: every lvsfast figure with keepalived's beside it where the case applies."""
    from scaleout import moved_share

    out = []
    for case in CASES:
        a, b = lv.get(case), ka.get(case)
        for r in (a, b):
            if r is not None:
                r["flows_moved_share"] = moved_share(r)
        for metric, key, unit, k, better in (
                ("established connections surviving", "long_survived_share", "%", 100, "higher"),
                ("new-connection outage", "new_outage_seconds", "ms", 1000, "lower"),
                ("new connections failed", "new_failed", "connections", 1, "lower"),
                ("upstream route change after the action", "ecmp_changed_after_seconds", "ms", 1000, "lower"),
                ("established flows moved to another real server", "flows_moved_share", "%", 100, "lower")):
            mine = _stats(a, key, k)
            if mine is None:
                continue
            base = _stats(b, key, k)
            out.append(results_file.row(case, metric, unit, mine, BASELINE if base else "", base, better))
        if case == "steady" and a is not None:
            share = lambda r: results_file.stats([100 * max(r["director_packet_share"].values() or [0])])  # noqa: E731
            out.append(results_file.row(case, "busiest director's share of the packets", "%", share(a), BASELINE,
                                        share(b) if b else None))
    return out


def host(a: argparse.Namespace) -> int:
    rw = Path(tempfile.mkdtemp(prefix="vmrw-scaleout-vm-", dir="/tmp"))
    os.chmod(rw, 0o777)
    out = rw / "out.json"
    argv = [sys.executable, "bench/scaleout_vm.py", "--in-vm", "--json", str(out), "--long", str(a.long),
            "--rate", str(a.rate), "--settle", str(a.settle), "--timeout", str(a.timeout),
            "--long-timeout", str(a.long_timeout)] + (["--only", a.only] if a.only else [])
    cmd = f"PYTHONPATH={ROOT}/src {' '.join(argv)} > {rw}/log 2>&1"
    env = dict(os.environ, LVSFAST_VM_RWDIR=str(rw))
    t0 = time.monotonic()
    proc = subprocess.run(["flock", "/tmp/lvsfast-vm.lock", "bash", "scripts/vm.sh", cmd], cwd=ROOT, env=env)
    vm_seconds = round(time.monotonic() - t0, 1)
    print((rw / "log").read_text()[-6000:] if (rw / "log").exists() else "(no guest log)")
    if not out.exists():
        print(f"scaleout_vm: the guest wrote no figures (vm.sh exit {proc.returncode}); see {rw}", file=sys.stderr)
        return 1
    guest = json.loads(out.read_text())
    lv = {r["scenario"]: r for r in guest.get("lvsfast", [])}
    ka = {r["scenario"]: r for r in guest.get("keepalived", [])}
    doc = {"scenario": "scaleout_vm",
           "what": "N active-active directors behind ECMP on IPVS (#27), beside keepalived's active/backup pair",
           "how": __doc__, "baseline": BASELINE, "settings": vars(a), "vm_wall_seconds": vm_seconds,
           "host_loadavg": Path("/proc/loadavg").read_text().split()[:3],
           "guest_loadavg_before": guest.get("loadavg_before"), "guest_loadavg_after": guest.get("loadavg_after"),
           "errors": guest.get("errors"),
           "not_applicable": {"fourth_added": "keepalived's pair has one active director; adding one adds a backup"},
           "by_scenario": {"lvsfast": lv, "keepalived": ka}, "results": rows(lv, ka)}
    path = results_file.write("scaleout_vm", doc, a.json or None)
    print(f"wrote {path}")
    shutil.rmtree(rw, ignore_errors=True)
    return 0 if not guest.get("errors") else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--long", type=int, default=20)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=8.0)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--long-timeout", type=float, default=10.0)
    ap.add_argument("--only", choices=("lvsfast", "keepalived"), default="")
    ap.add_argument("--json", default="")
    ap.add_argument("--in-vm", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("scaleout_vm: needs root", file=sys.stderr)
        return 2
    if a.in_vm:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        return in_vm(a)
    return host(a)


if __name__ == "__main__":
    sys.exit(main())
