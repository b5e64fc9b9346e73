#!/usr/bin/env python3
"""Does IPVS `mh` build the same table when destinations were added in another order?

Run inside the IPVS VM (it needs ip_vs_mh), e.g.

    LVSFAST_VM_RWDIR=/tmp/out bash scripts/vm.sh "/tmp/lvsfast-venv/bin/python bench/ipvs_mh_order.py > /tmp/out/log"

One namespace per order, each with the same `mh` + `mh-port` service and six DR destinations,
added in the configured order, reversed, rotated by three, and with one removed and added back
(at the end of the list, as after a failed check on one director only). 600 local connections
from fixed ports in each; the flows whose server differs from the configured order's are
counted. Measured 2026-12-04 (Debian's 6.1 kernel in the emulated VM): 0, 3, 1 and 1 of 600.
"""
from __future__ import annotations

import subprocess
import sys

VIP = "10.9.9.9"
REALS = [f"10.9.0.{i}" for i in range(11, 17)]
PORTS = range(40000, 40600)
# Non-blocking connects from fixed ports: each SYN makes an IPVS entry (the servers need not exist).
CONNECT = ("import socket\n"
           f"for p in range({PORTS.start}, {PORTS.stop}):\n"
           "    s = socket.socket(); s.setblocking(False); s.bind(('10.9.0.1', p))\n"
           "    try: s.connect(('%s', 80))\n"
           "    except BlockingIOError: pass\n"
           "    s.close()\n") % VIP


def sh(cmd: list[str], ns: str | None = None) -> str:
    full = (["ip", "netns", "exec", ns] if ns else []) + cmd
    return subprocess.run(full, check=True, capture_output=True, text=True).stdout


def flows(name: str, order: list[str], weights: tuple[tuple[str, int], ...] = ()) -> dict[int, str]:
    """Client port -> real server, in a fresh namespace whose destinations came in ``order``,
    then had the ``weights`` set one after the other (``inhibit_on_failure``'s weight 0 and back)."""
    ns = f"mh{name}"
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    sh(["ip", "netns", "add", ns])
    for cmd in (["ip", "link", "add", "d0", "type", "dummy"], ["ip", "link", "set", "d0", "up"],
                ["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "10.9.0.1/24", "dev", "d0"],
                ["ipvsadm", "-A", "-t", f"{VIP}:80", "-s", "mh", "-b", "mh-port"],
                *(["ipvsadm", "-a", "-t", f"{VIP}:80", "-r", f"{r}:80", "-g"] for r in order),
                *(["ipvsadm", "-e", "-t", f"{VIP}:80", "-r", f"{r}:80", "-g", "-w", str(w)] for r, w in weights),
                ["ip", "route", "add", f"{VIP}/32", "dev", "d0"], [sys.executable, "-c", CONNECT]):
        sh(cmd, ns)
    got: dict[int, str] = {}
    for line in sh(["ipvsadm", "-Lnc"], ns).splitlines():
        w = line.split()  # pro expire state source virtual destination
        if len(w) >= 6 and w[3].startswith("10.9.0.1:"):
            got[int(w[3].split(":")[1])] = w[5].split(":")[0]
    sh(["ip", "netns", "del", ns])
    return got


def main() -> int:
    subprocess.run(["modprobe", "ip_vs"], check=True)
    subprocess.run(["modprobe", "ip_vs_mh"], check=False)
    orders = {"configured": REALS, "reversed": REALS[::-1], "rotated": REALS[3:] + REALS[:3],
              "one re-added": [r for r in REALS if r != REALS[2]] + [REALS[2]]}
    base = flows("configured", REALS)
    for name, order in orders.items():
        got = base if name == "configured" else flows(name.replace(" ", ""), order)
        common = set(base) & set(got)
        diff = sum(1 for p in common if base[p] != got[p])
        print(f"{name}: {diff} of {len(common)} flows on another server than in the configured order")
    # inhibit_on_failure keeps a failed server in the list at weight 0, so its place is kept.
    gone = REALS[2]
    inhibited = flows("inhibited", REALS, ((gone, 0),))
    others = [p for p in base if base[p] != gone]
    print(f"{gone} at weight 0: {sum(1 for p in inhibited if inhibited[p] == gone)} flows still on it; "
          f"{sum(1 for p in others if inhibited.get(p) != base[p])} of the other servers' {len(others)} moved")
    back = flows("restored", REALS, ((gone, 0), (gone, 1)))
    print(f"{gone} at weight 0 then 1: {sum(1 for p in base if back.get(p) != base[p])} of {len(base)} flows "
          "on another server than in the configured order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
