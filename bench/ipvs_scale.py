"""IPVS programming at scale, run INSIDE the IPVS VM (needs ip_vs):

    scripts/vm.sh 'python bench/ipvs_scale.py --services 10000 --dests 10 --json /tmp/r/ipvs.json'
    (with LVSFAST_VM_RWDIR=/tmp/r so the result comes back)

Measures, in the same boot and against the floor of ``ipvsadm -R`` restoring the same rules:
- loading S services x D real servers into an empty table (lvsfast apply vs ipvsadm -R);
- with --read, reading the whole table back (what start-up adoption costs);
- one weight change with S*D destinations present: a full ``apply`` of the desired table
  (diff over everything, one SET_DEST) and ``apply_ops`` (the change alone).
Medians over rounds, with min and max. Everything is emulated (no KVM): compare ratios, not
absolute times.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.ipvs import ipvsadm_restore_text  # noqa: E402

from lvsfast.dataplane.diff import Op  # noqa: E402
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table  # noqa: E402
from lvsfast.ipvs.backend import IPVSBackend  # noqa: E402


def build(n_services: int, n_dests: int) -> Table:
    services, dests = {}, {}
    for i in range(n_services):
        key = ServiceKey(4, "tcp", f"10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}", 80)
        services[key] = Service(key, "wrr")
        dests[key] = {DestKey(f"10.200.{j}.{i % 250 + 1}", 80): Dest(DestKey(f"10.200.{j}.{i % 250 + 1}", 80), 1)
                      for j in range(n_dests)}
    return Table(services, dests)


def flush() -> None:
    subprocess.run(["ipvsadm", "-C"], check=True)


def stats(xs: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(xs), "min_s": min(xs), "max_s": max(xs), "rounds": len(xs)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--dests", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--read", action="store_true", help="also time reading the whole table back")
    a = ap.parse_args()
    subprocess.run(["modprobe", "ip_vs"], check=True)
    table = build(a.services, a.dests)
    rules = ipvsadm_restore_text(table)
    n = a.services * a.dests
    out: dict[str, object] = {"services": a.services, "dests_per_service": a.dests, "destinations": n}

    restore, load, read = [], [], []
    b = None
    for r in range(a.rounds):
        flush()
        t = time.perf_counter()
        subprocess.run(["ipvsadm", "-R"], input=rules, text=True, check=True)
        restore.append(time.perf_counter() - t)
        flush()
        if b is not None:
            b.keep_on_close = True
            await b.close()
        b = IPVSBackend()
        await b.open()
        t = time.perf_counter()
        await b.apply(table)
        load.append(time.perf_counter() - t)
    assert b is not None
    out["ipvsadm_restore"] = stats(restore)
    out["lvsfast_load"] = stats(load)
    out["load_ratio_vs_ipvsadm_restore"] = statistics.median(load) / statistics.median(restore)
    if a.read:
        # Start-up adoption: the whole table read back and decoded.
        t = time.perf_counter()
        await IPVSBackend(family_id=b._family_id).read()
        out["lvsfast_read_all"] = stats([time.perf_counter() - t])

    # One weight change with everything present, on the backend that loaded the table.
    key = next(iter(table.services))
    dkey = next(iter(table.dests[key]))
    full, single = [], []
    for r in range(max(a.rounds, 5)):
        changed = table.with_dest(key, Dest(dkey, weight=2 + r))
        t = time.perf_counter()
        ops = await b.apply(changed)
        full.append(time.perf_counter() - t)
        assert [op.kind for op in ops] == ["edit_dest"], ops
        t = time.perf_counter()
        await b.apply_ops([Op("edit_dest", key, dest=Dest(dkey, weight=100 + r))])
        single.append(time.perf_counter() - t)
    out["one_weight_change_full_apply"] = stats(full)
    out["one_weight_change_apply_ops"] = stats(single)
    b.keep_on_close = True
    await b.close()
    flush()
    text = json.dumps(out, indent=2)
    print(text)
    if a.json:
        a.json.write_text(text)


if __name__ == "__main__":
    asyncio.run(main())
