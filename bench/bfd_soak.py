#!/usr/bin/env python3
"""BFD soak at 10 ms x 3 beside 3,000 checks/s: lvsfast and keepalived 2.2.7 as the two ends of one session.

    flock /tmp/lvsfast-bench.lock python bench/bfd_soak.py [--seconds 600] [--checks 3000]

Two namespaces on a veth; lvsfast on one end, keepalived on the other, both with a bfd_instance
at 10 ms x 3 and one VRRP instance (lvsfast the master at priority 150 with ``track_bfd``, so a
false Down would put it in FAULT and hand the VIP to keepalived, the backup: a takeover). The
same lvsfast daemon runs its checker child on ``--checks`` real servers at delay_loop 1 (TCP_CHECK
on the nftables backend, ``lvs_backend nftables``) against local listeners in lvsfast's
namespace (distinct 127.1.x.y:port servers, as bench/checker_scale.py), so that daemon does
``--checks`` checks a second while its VRRP child runs the BFD session; the listeners count the
connections they accepted (the checks/s reported). tcpdump on the link stamps every control
packet; per sender, the gaps between its packets once the session is Up. RFC 5880 6.8.7 makes
each gap 75-100% of the 10 ms interval on purpose, so a gap above 10 ms is the sender's
lateness: the report gives each end's gap p50/p99/max and the share of gaps over 10 ms, the
sessions' Down counts (a false Down is a detection time, 30 ms, without a packet) and the
VRRP transitions after the start (a takeover); for each gap over 20 ms, whether the other end
was silent for 20 ms inside it too (both stopping at once is the machine: the host
descheduling the whole VM, whose steal time is recorded). Both ends are measured in the same run, on the
same machine load (/proc/loadavg before and after is in the JSON).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.bfd_peers import KeepalivedBfd, LvsfastDaemon, keepalived_bfd_config, pair, wait_state  # noqa: E402
from lvsfast.lab.netns import Lab  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from checker_scale import addresses  # noqa: E402
import results_file  # noqa: E402

VIP = "10.71.9.9"


def listen(n: int, count_file: Path) -> None:
    """In lvsfast's namespace: bench/checker_scale.py's bare epoll listeners, writing the
    count of accepted connections to ``count_file`` every half second until SIGTERM."""
    import threading
    from checker_scale import _listeners

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    class Count:
        value = 0

    class Ready:
        def set(self) -> None:
            count_file.write_text("0")

    def write() -> None:
        while not stop.wait(0.5):
            count_file.write_text(str(Count.value))

    threading.Thread(target=write, daemon=True).start()
    _listeners(n, Ready(), stop, Count)
    count_file.write_text(str(Count.value))


def lvsfast_config(lf_addr: str, ka_addr: str, checks: int) -> str:
    reals = "".join(f" real_server {h} {p} {{\n  TCP_CHECK {{\n   connect_timeout 2\n   retry 0\n  }}\n }}\n"
                    for h, p in addresses(checks))
    vs = (f"virtual_server 192.0.2.1 80 {{\n delay_loop 1\n lb_algo rr\n lb_kind NAT\n protocol TCP\n{reals}}}\n"
          if checks else "")
    return (f"global_defs {{\n router_id lf\n lvs_backend nftables\n}}\n"
            f"bfd_instance B1 {{\n neighbor_ip {ka_addr}\n source_ip {lf_addr}\n min_rx 10\n min_tx 10\n"
            f" multiplier 3\n}}\nvrrp_instance VI_1 {{\n state MASTER\n interface eth0\n virtual_router_id 99\n"
            f" priority 150\n advert_int 1\n track_bfd {{\n  B1\n }}\n virtual_ipaddress {{\n  {VIP}/32\n }}\n}}\n{vs}")


def keepalived_config(lf_addr: str, ka_addr: str) -> str:
    return (keepalived_bfd_config("KB", lf_addr, ka_addr, rx_ms=10, tx_ms=10, mult=3)
            + f"vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 99\n"
              f"    priority 100\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/32\n    }}\n}}\n")


def steal_s() -> float:
    """Hypervisor steal over all CPUs so far (seconds): a whole-VM freeze shows here."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")


def shared_silences(mine: list[float], other: list[float], over_s: float = 0.02) -> tuple[int, int]:
    """(gaps of ``mine`` over ``over_s``, how many of them the other sender was silent through
    for ``over_s`` too): both ends stopping at once is the machine, not one implementation."""
    import bisect
    total = shared = 0
    for x, y in zip(mine, mine[1:]):
        if y - x <= over_s:
            continue
        total += 1
        i, j = bisect.bisect_left(other, x), bisect.bisect_right(other, y)
        inside = [x] + other[i:j] + [y]
        if max(b - a for a, b in zip(inside, inside[1:])) > over_s:
            shared += 1
    return total, shared


def vrrp_entries(text: str) -> list[str]:
    return [line.split("Entering ", 1)[1].split()[0] for line in text.splitlines()
            if "(VI_1) Entering " in line]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--checks", type=int, default=3000, help="real servers at delay_loop 1 (0: BFD alone)")
    ap.add_argument("--listen", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--count-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--name", default="bfd_soak")
    args = ap.parse_args()
    if args.listen is not None:
        listen(args.listen, args.count_file)
        return 0
    load_before = open("/proc/loadavg").read().split()[:3]
    with tempfile.TemporaryDirectory(prefix="lvsfast-bfd-soak-") as wd, Lab(prefix="bsk" + uuid.uuid4().hex[:5]) as lab:
        a, b, lf_addr, ka_addr = pair(lab, 4)
        counts = Path(wd) / "accepted"
        if args.checks:
            lab.spawn(a, sys.executable, __file__, "--listen", str(args.checks), "--count-file", str(counts),
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t0 = time.monotonic()
            while not counts.exists() and time.monotonic() - t0 < 20:
                time.sleep(0.1)
        lf = LvsfastDaemon(lab, a, Path(wd) / "lf")
        ka = KeepalivedBfd(lab, b, Path(wd) / "ka")
        ka.start(keepalived_config(lf_addr, ka_addr))
        lf.start(lvsfast_config(lf_addr, ka_addr, args.checks), vrrp_only=False)
        wait_state(lambda: lf.state("B1"), "UP", 60)
        wait_state(lambda: lf.vrrp_state("VI_1"), "MASTER", 60)
        time.sleep(5)  # the Poll sequence to 10 ms is over, the checker's first delay_loop done
        before_lf, before_ka = lf.text(), ka.text()

        def accepted() -> int:
            try:
                return int(counts.read_text() or 0)
            except (OSError, ValueError):
                return 0
        cap = Path(wd) / "cap.txt"
        dump = lab.spawn(a, "tcpdump", "-i", "eth0", "-n", "-tt", "-l", "udp", "port", "3784",
                         stdout=open(cap, "w"), stderr=subprocess.DEVNULL)
        acc0, t0, steal0 = accepted(), time.monotonic(), steal_s()
        time.sleep(args.seconds)
        acc1, t1, steal1 = accepted(), time.monotonic(), steal_s()
        dump.send_signal(signal.SIGINT)
        dump.wait(10)
        after_lf, after_ka = lf.text(), ka.text()
        res: dict = {"checks_per_s": round((acc1 - acc0) / (t1 - t0), 1), "steal_s": round(steal1 - steal0, 2)}
        stamps: dict[str, list[float]] = {lf_addr: [], ka_addr: []}
        for line in cap.read_text().splitlines():
            m = re.match(r"(\d+\.\d+) IP (\d+\.\d+\.\d+\.\d+)\.\d+ > ", line)
            if m and m.group(2) in stamps:
                stamps[m.group(2)].append(float(m.group(1)))
        for who, addr in (("lvsfast", lf_addr), ("keepalived", ka_addr)):
            ts = stamps[addr]
            gaps = [(y - x) * 1000 for x, y in zip(ts, ts[1:])]
            res[who] = {"packets": len(ts), "gap_p50_ms": round(pct(gaps, 50), 3), "gap_p99_ms": round(pct(gaps, 99), 3),
                        "gap_p999_ms": round(pct(gaps, 99.9), 3), "gap_max_ms": round(max(gaps), 3) if gaps else None,
                        "gaps_over_10ms_pct": round(100 * sum(g > 10 for g in gaps) / max(1, len(gaps)), 2),
                        "gaps_over_20ms": sum(g > 20 for g in gaps)}
            other = stamps[ka_addr if addr == lf_addr else lf_addr]
            res[who]["gaps_over_20ms_other_silent_too"] = shared_silences(ts, other)[1]
        res["lvsfast"]["bfd_downs"] = after_lf[len(before_lf):].count("Entering DOWN")
        res["keepalived"]["bfd_downs"] = after_ka[len(before_ka):].count("(KB) Entering Down")
        res["lvsfast"]["bfd_downs_whole_run"] = after_lf.count("Entering DOWN")
        res["lvsfast"]["vrrp_transitions_in_soak"] = vrrp_entries(after_lf[len(before_lf):])
        res["keepalived"]["vrrp_transitions_in_soak"] = vrrp_entries(after_ka[len(before_ka):])
        res["takeover"] = "MASTER" in res["keepalived"]["vrrp_transitions_in_soak"] or bool(
            res["lvsfast"]["vrrp_transitions_in_soak"])
        res["lvsfast_vrrp_state_at_end"] = lf.vrrp_state("VI_1")
        lf.stop(hard=False)
        ka.stop(hard=False)
    lf_r, ka_r = res["lvsfast"], res["keepalived"]
    case = f"BFD 10 ms x 3, {args.seconds:g} s" + (f", {args.checks} checks/s beside" if args.checks else "")
    rows = [results_file.row(case, metric, unit, results_file.stats([lf_r[key]]), "keepalived's bfdd",
                             results_file.stats([ka_r[key]]))
            for metric, key, unit in (("tx gap p99", "gap_p99_ms", "ms"), ("tx gap max", "gap_max_ms", "ms"),
                                      ("session downs", "bfd_downs", "downs"))
            if key in lf_r and key in ka_r]
    out = {"scenario": "bfd_soak", "how": __doc__, "seconds": args.seconds, "checks": args.checks,
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_before": load_before,
           "loadavg_after": open("/proc/loadavg").read().split()[:3], "by_daemon": res, "results": rows}
    results_file.write(args.name, out)
    print(json.dumps(out | {"how": None}, indent=1))
    return 0

if __name__ == "__main__":
    sys.exit(main())
