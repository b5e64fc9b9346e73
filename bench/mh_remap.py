#!/usr/bin/env python3
"""lb_algo mh: the share of flows that change real server when one leaves or joins (issue #29).

    python bench/mh_remap.py [--quick] [--json PATH] [--no-kernel]

What: for N = 4, 8, 16, 32, 64 equal-weight real servers, the share of all flows whose server
changes when one leaves or one joins, against the ideal (1/N of flows leave with the server that
leaves; 1/(N+1) go to the one that joins). Four ways a server leaves or joins:

- check: its health check fails or passes (it stays configured): the frequent case;
- reload: it is removed from or added to the configuration;

each with lvsfast's nftables table as it is now (fixed size, Maglev over the configured servers
with a per-slot fallback) and as it was before issue #29 (size from the live count: 251, 1021,
4093... at 50 x live servers; Maglev over the live servers only). "others" is the share of
flows on servers that did not change which moved all the same (ideal: 0).

How: computed from the lookup table render builds (a slot stands for the flows hashing to it).
Unless --no-kernel (or not root), N = 8 is also measured through the real ruleset: lvsfast's
table in a scratch namespace (mh-port), 2,000 SYNs from 10 addresses x 200 source ports, the
server of each flow read from conntrack's NAT entry, before and after the change.

IPVS's own mh is not measured side by side: the kernel keeps its lookup table to itself and
hashes flows with a keyed hsiphash, so the only measure would be real traffic in the IPVS VM;
each row says "not measured" for it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

NS_LIST = (4, 8, 16, 32, 64, 5, 20)  # 5 and 20: where the old size changed (issue #29's 5-6, 20-21)
OLD_SIZES = (251, 1021, 4093, 16381, 65521)
VIP = "10.0.0.100"


def servers(n: int):
    from lvsfast.dataplane.model import Dest, DestKey
    return [Dest(DestKey(f"10.1.{i // 200}.{i % 200 + 1}", 8080)) for i in range(n)]


def service(configured):
    from lvsfast.dataplane.model import Service, ServiceKey
    return Service(ServiceKey(4, "tcp", VIP, 80), "mh", frozenset({"mh-port"}),
                   configured=tuple(sorted((d.key, d.weight) for d in configured)))


def now_table(configured, live) -> list:
    from lvsfast.nft import render
    s = render.slots(service(configured), {d.key: d for d in live})
    return [k for _, _, k in s.elems]


def old_table(live) -> list:
    """Before issue #29: the size followed the live count (first of OLD_SIZES >= 50 n), a plain
    Maglev fill over the live servers (one slot per turn, sorted by key)."""
    import zlib
    size = next((m for m in OLD_SIZES if m >= 50 * len(live)), OLD_SIZES[-1])
    ds = sorted(live, key=lambda d: d.key)
    perm = []
    for d in ds:
        name = f"{d.key.address}:{d.key.port}".encode()
        perm.append((zlib.crc32(b"o" + name) % size, zlib.crc32(b"s" + name) % (size - 1) + 1))
    nxt = [0] * len(ds)
    table = [None] * size
    filled = 0
    while True:
        for i in range(len(ds)):
            off, skip = perm[i]
            while True:
                c = (off + nxt[i] * skip) % size
                nxt[i] += 1
                if table[c] is None:
                    break
            table[c] = ds[i].key
            filled += 1
            if filled == size:
                return table


# Flow hashes for tables of different sizes: nft picks slot jhash(flow) mod size.
HASHES = random.Random(29).choices(range(1 << 32), k=20000)


def moved(a: list, b: list, changed) -> tuple[float, float]:
    """(flows that changed server, flows on unchanged servers that did) as shares of all flows:
    slot by slot when the sizes agree, else over 20,000 random flow hashes."""
    if len(a) == len(b):
        pairs = list(zip(a, b))
    else:
        pairs = [(a[h % len(a)], b[h % len(b)]) for h in HASHES]
    m = sum(x != y for x, y in pairs)
    o = sum(x != y and changed not in (x, y) for x, y in pairs)
    return m / len(pairs), o / len(pairs)


def computed(ns: tuple[int, ...]) -> list[dict]:
    rows = []
    for n in ns:
        ds = servers(n + 1)
        base, extra = ds[:n], ds[n]
        picks = range(0, n, max(1, n // 8))  # leavers: up to 8 of the n
        cases = {
            "remove, check fails": [(now_table(base, base), now_table(base, [d for d in base if d is not base[i]]),
                                     base[i].key) for i in picks],
            "add, check passes": [(now_table(ds, base), now_table(ds, ds), extra.key)],
            "remove, reload": [(now_table(base, base), now_table([d for d in base if d is not base[i]],
                                                                 [d for d in base if d is not base[i]]), base[i].key)
                               for i in picks],
            "add, reload": [(now_table(base, base), now_table(ds, ds), extra.key)],
            "remove, before #29": [(old_table(base), old_table([d for d in base if d is not base[i]]), base[i].key)
                                   for i in picks],
            "add, before #29": [(old_table(base), old_table(ds), extra.key)],
        }
        for case, pairs in cases.items():
            got = [moved(a, b, k) for a, b, k in pairs]
            share = [m * 100 for m, _ in got]
            others = [o * 100 for _, o in got]
            ideal = 100 / n if case.startswith("remove") else 100 / (n + 1)
            rows.append({
                "case": f"N={n} {case}", "metric": "flows that changed server", "unit": "%", "better": "lower",
                "lvsfast": _st(share), "baseline_name": "ideal (1/N leaving, 1/(N+1) joining)",
                "baseline": _st([ideal]),
                "others_moved_pct": _st(others),
                "table_size": len(pairs[0][1]),
                "ipvs": "not measured",
            })
    return rows


def _st(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


# ---- through the kernel ----------------------------------------------------------------------

SRCS = [f"10.0.0.{i}" for i in range(10, 20)]
SPORTS = range(40000, 40200)
FLOW = re.compile(r"src=(\S+) dst=\S+ sport=(\d+) dport=80 .*?src=(\S+) dst=\S+ sport=(\d+)")


def _kernel_inner(n: int) -> None:
    """In a scratch namespace: the server of each of 2,000 flows, before and after each change."""
    import asyncio
    from lvsfast.dataplane.model import Table
    from lvsfast.nft.backend import NftBackend

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"], check=True)
    subprocess.run(["ip", "link", "set", "d0", "up"], check=True)
    subprocess.run(["ip", "link", "set", "d1", "up"], check=True)
    for a in SRCS:
        subprocess.run(["ip", "addr", "add", f"{a}/24", "dev", "d0"], check=True)
    subprocess.run(["ip", "route", "add", "10.1.0.0/16", "dev", "d0"], check=True)
    ds = servers(n + 1)
    base, extra = ds[:n], ds[n]
    key = service(base).key

    def flows(configured, live) -> dict:
        t = Table({key: service(configured)}, {key: {d.key: d for d in live}})
        asyncio.run(_apply(t))
        subprocess.run(["conntrack", "-F"], capture_output=True)
        socks = []
        for a in SRCS:
            for p in SPORTS:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((a, p))
                s.setblocking(False)
                try:
                    s.connect((VIP, 80))
                except BlockingIOError:
                    pass
                socks.append(s)
        out = subprocess.run(["conntrack", "-L", "-p", "tcp", "--dport", "80"], capture_output=True, text=True).stdout
        for s in socks:
            s.close()
        got = {}
        for m in FLOW.finditer(out):
            got[(m.group(1), int(m.group(2)))] = m.group(3)
        return got

    async def _apply(t) -> None:
        b = NftBackend()
        await b.apply(t)

    gone = base[n // 2]
    rest = [d for d in base if d is not gone]
    results = {}
    before = flows(base, base)
    for case, (cfg, live, changed) in {"remove, check fails": (base, rest, gone), "remove, reload": (rest, rest, gone),
                                       "add, check passes": (ds, ds, extra), "add, reload": (ds, ds, extra)}.items():
        if case.startswith("add"):
            before = flows(ds if case == "add, check passes" else base, base)
        after = flows(cfg, live)
        common = before.keys() & after.keys()
        moved = sum(before[f] != after[f] for f in common)
        others = sum(before[f] != after[f] and changed.key.address not in (before[f], after[f]) for f in common)
        results[case] = {"flows": len(common), "moved_pct": 100 * moved / len(common),
                         "others_moved_pct": 100 * others / len(common)}
    asyncio.run(NftBackend().close())
    print(json.dumps(results))


def kernel(n: int) -> dict | None:
    if os.geteuid() != 0:
        return None
    ns = f"lfmh{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--inside", str(n)],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            return {"error": out.stderr[-2000:]}
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 4, 8, 16 only")
    ap.add_argument("--json", default="")
    ap.add_argument("--no-kernel", action="store_true")
    ap.add_argument("--inside", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        _kernel_inner(a.inside)
        return
    ns = NS_LIST[:3] if a.quick else NS_LIST
    rows = computed(ns)
    print(f"{'case':34} {'size':>6} {'moved %':>9} {'ideal %':>8} {'others moved %':>15}")
    for r in rows:
        print(f"{r['case']:34} {r['table_size']:>6} {r['lvsfast']['median']:9.2f} {r['baseline']['median']:8.2f} "
              f"{r['others_moved_pct']['max']:15.2f}")
    measured = None if a.no_kernel else kernel(8)
    if measured:
        print("through the kernel (N=8, nft ruleset, conntrack):", json.dumps(measured))
    if a.json:
        Path(a.json).write_text(json.dumps({
            "scenario": "mh", "what": "lb_algo mh: share of flows that change server when one leaves or joins",
            "how": __doc__, "results": rows, "kernel_n8": measured,
            "ipvs": "not measured: IPVS's lookup table and flow hash (keyed hsiphash) are the kernel's own"},
            indent=1))


if __name__ == "__main__":
    main()
