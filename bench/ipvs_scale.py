"""IPVS programming at scale, lvsfast against ``ipvsadm -R`` and keepalived 2.2.7, in the IPVS VM.

    python bench/ipvs_scale.py [--quick] [--json PATH]          # on the host: boots the VM once
    scripts/vm.sh 'python bench/ipvs_scale.py --inner --sizes 1000x10 --raw /tmp/r/raw.json'
    (with LVSFAST_VM_RWDIR=/tmp/r so the result comes back)

This kernel has no IPVS, so on the host the script boots Debian's kernel under qemu once
(scripts/vm.sh, emulated: no KVM), runs itself there with ``--inner`` and turns the raw figures
into the harness's format. Measured in the same boot, for each size S services x D real servers:
- loading the table into an empty kernel: lvsfast's ``IPVSBackend.apply`` against the floor of
  ``ipvsadm -R`` restoring the same rules (medians over rounds, with min and max);
- one weight change with all S*D destinations present: ``apply_ops`` (the change alone) and a
  full ``apply`` of the desired table (a diff over everything, one SET_DEST), against
  ``ipvsadm -e`` doing the same change;
- (full run, or --daemons) for the largest size up to 10,000 real servers, the daemons: ``lvsfast -C``
  and ``keepalived -C``, running on a one-server config, are sent SIGHUP after the whole table is
  added to it; the time until /proc/net/ip_vs lists every real server (polled as the last
  service's real servers over netlink, then confirmed by the full listing: see _Sentinel);
- with --read, reading the whole table back (what start-up adoption costs).
Every load and every daemon run starts in a new network namespace, so each finds an IPVS that is
empty and clean (a flushed one keeps its deleted real servers in the dest trash for minutes, and
slows every later add).
Everything is emulated (TCG, 5-10x slower than a real machine): compare ratios, not absolute times.
Quick: 100x10 and 1000x10, 2 rounds, no daemons. Full: 100x10, 1000x10 and 10000x10, 3 rounds.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.ipvs import ipvsadm_restore_text  # noqa: E402
from ipvs_rows import rows  # noqa: E402

from lvsfast.dataplane.diff import Op  # noqa: E402
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table  # noqa: E402
from lvsfast.ipvs.backend import IPVSBackend  # noqa: E402

QUICK_SIZES, FULL_SIZES = "100x10,1000x10", "100x10,1000x10,10000x10"


def build(n_services: int, n_dests: int) -> Table:
    services, dests = {}, {}
    for i in range(n_services):
        key = ServiceKey(4, "tcp", f"10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}", 80)
        services[key] = Service(key, "wrr")
        dests[key] = {DestKey(f"10.200.{j}.{i % 250 + 1}", 80): Dest(DestKey(f"10.200.{j}.{i % 250 + 1}", 80), 1)
                      for j in range(n_dests)}
    return Table(services, dests)


def keepalived_conf(table: Table) -> str:
    """The same table as keepalived.conf; no checkers, so every real server is up from the start."""
    out = []
    for key, svc in table.services.items():
        out.append(f"virtual_server {key.address} {key.port} {{\n    lb_algo {svc.scheduler}\n    lb_kind NAT\n"
                   f"    protocol TCP\n")
        for d in table.dests[key].values():
            out.append(f"    real_server {d.key.address} {d.key.port} {{\n        weight {d.weight}\n    }}\n")
        out.append("}\n")
    return "".join(out)


def flush() -> None:
    subprocess.run(["ipvsadm", "-C"], check=True)


CLONE_NEWNET = 0x40000000
_NETNS: list[str] = []


def fresh_ipvs() -> None:
    """Move this process (and the ipvsadm it starts) into a new network namespace: an IPVS of its
    own, empty. A flushed IPVS is not clean: deleted real servers wait about two minutes in the
    kernel's dest trash, and every new one is first looked up there, so a load right after a
    flush of 100,000 costs several times one into an empty kernel. Each measurement gets a new
    namespace; the old ones are deleted at the end, so their teardown runs after the timing."""
    import ctypes

    name = f"lvsfast-ipvsbench-{os.getpid()}-{len(_NETNS)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    # With no local address yet the kernel types every address as broadcast and IPVS refuses
    # the real servers ("address not unicast"): lo up gives the namespace its local table.
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    _NETNS.append(name)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
    finally:
        os.close(fd)


def drop_namespaces() -> None:
    for name in _NETNS:
        subprocess.run(["ip", "netns", "del", name], check=False)
    _NETNS.clear()


def dests_in_kernel() -> int:
    with open("/proc/net/ip_vs") as f:
        return sum(1 for line in f if line.startswith("  -> ") and not line.startswith("  -> RemoteAddress"))


def stats(xs: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(xs), "min_s": min(xs), "max_s": max(xs), "rounds": len(xs)}


async def measure(n_services: int, n_dests: int, rounds: int, read: bool) -> dict:
    table = build(n_services, n_dests)
    rules = ipvsadm_restore_text(table)
    n = n_services * n_dests
    out: dict[str, object] = {"services": n_services, "dests_per_service": n_dests, "destinations": n}

    restore, load = [], []
    b = None
    for r in range(rounds):
        fresh_ipvs()
        t = time.perf_counter()
        subprocess.run(["ipvsadm", "-R"], input=rules, text=True, check=True)
        restore.append(time.perf_counter() - t)
        fresh_ipvs()
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
    if read:
        # Start-up adoption: the whole table read back and decoded.
        t = time.perf_counter()
        await IPVSBackend(family_id=b._family_id).read()
        out["lvsfast_read_all"] = stats([time.perf_counter() - t])

    # One weight change with everything present, on the backend that loaded the table.
    key = next(iter(table.services))
    dkey = next(iter(table.dests[key]))
    full, single, edit = [], [], []
    for r in range(max(rounds, 5)):
        changed = table.with_dest(key, Dest(dkey, weight=2 + r))
        t = time.perf_counter()
        ops = await b.apply(changed)
        full.append(time.perf_counter() - t)
        assert [op.kind for op in ops] == ["edit_dest"], ops
        t = time.perf_counter()
        await b.apply_ops([Op("edit_dest", key, dest=Dest(dkey, weight=100 + r))])
        single.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(["ipvsadm", "-e", "-t", f"{key.address}:{key.port}", "-r", f"{dkey.address}:{dkey.port}",
                        "-m", "-w", str(200 + r)], check=True)
        edit.append(time.perf_counter() - t)
    out["one_weight_change_full_apply"] = stats(full)
    out["one_weight_change_apply_ops"] = stats(single)
    out["one_weight_change_ipvsadm_e"] = stats(edit)
    b.keep_on_close = True
    await b.close()  # its namespace goes at the end, with the table in it
    return out


class _Sentinel:
    """Whether the last service of the config holds all its real servers, asked over netlink:
    one service's dump, where /proc/net/ip_vs renders the whole table. Polled every 50 ms, the
    full listing kept one of the VM's two CPUs busy for most of a load, which the daemons (and
    lvsfast's sending thread) need."""

    def __init__(self, key: ServiceKey, n_dests: int) -> None:
        from lvsfast.ipvs import wire
        from lvsfast.ipvs.kernel import IPVSSocket, lookup_family_id

        self.sock = IPVSSocket(lookup_family_id())
        self.msg = wire.dump_dests_msg(self.sock.family_id, key)
        self.decode = lambda p: 0
        self.n = n_dests

    def complete(self) -> bool:
        try:
            return len(self.sock.dump(self.msg, self.decode)) >= self.n
        except OSError:  # the service is not there yet
            return False

    def close(self) -> None:
        self.sock.close()


def _settle(proc: subprocess.Popen, want: int, timeout: float, what: str, sentinel: _Sentinel | None = None) -> None:
    deadline = time.perf_counter() + timeout
    while (sentinel is not None and not sentinel.complete()) or dests_in_kernel() != want:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what}: {dests_in_kernel()} of {want} real servers after {timeout} s")
        time.sleep(0.05)


def daemon_reload(argv: list[str], conf: Path, full: str, n: int, what: str, last: tuple[ServiceKey, int],
                  log_dir: str | None = None) -> float:
    """Seconds from SIGHUP to all ``n`` new real servers in the kernel, for a daemon already running
    on a one-server config. (Its start-up is left out: under emulation with the root on 9p,
    Python's imports alone take a minute, which says nothing about a real machine.)"""
    fresh_ipvs()
    conf.write_text(SEED)
    out = open(Path(log_dir) / f"{what}.log", "ab") if log_dir else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        _settle(proc, 1, 400, what)
        time.sleep(1.0)
        conf.write_text(SEED + full)
        sentinel = _Sentinel(*last)  # in this namespace, before the clock starts
        t = time.perf_counter()
        proc.send_signal(signal.SIGHUP)
        try:
            _settle(proc, n + 1, 600, what, sentinel)
        finally:
            sentinel.close()
        took = time.perf_counter() - t
        if log_dir:
            print(f"{what}: SIGHUP at {time.time() - took:.2f}, all {n} real servers at {time.time():.2f}", flush=True)
        return took
    finally:
        proc.terminate()
        try:
            proc.wait(300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        flush()
        if log_dir:
            out.close()


SEED = "virtual_server 10.99.0.1 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n" \
       "    real_server 10.99.1.1 80 {\n        weight 1\n    }\n}\n"


def daemons(n_services: int, n_dests: int, rounds: int, log_dir: str | None = None) -> dict:
    table = build(n_services, n_dests)
    n = n_services * n_dests
    full = keepalived_conf(table)
    last_key = list(table.services)[-1]
    last = (last_key, len(table.dests[last_key]))
    with tempfile.TemporaryDirectory(prefix="lvsfast-ipvs-") as wd:
        conf = Path(wd) / "k.conf"
        pids = ["-p", f"{wd}/p", "-r", f"{wd}/r", "-c", f"{wd}/c"]
        ka = [daemon_reload(["keepalived", "-n", "-l", "-G", "-C", "-f", str(conf)] + pids, conf, full, n,
                            "keepalived", last, log_dir) for _ in range(rounds)]
        # The real daemon with its checker child only (-C), as keepalived runs: SIGHUP to the
        # parent, which reads the config, checks it and hands it to the child.
        lv = [daemon_reload([sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(conf),
                             "--lvs-backend", "ipvs", "--control-socket", f"{wd}/ctl.sock"] + pids, conf, full, n,
                            "lvsfast", last, log_dir) for _ in range(rounds)]
    return {"services": n_services, "dests_per_service": n_dests, "destinations": n,
            "keepalived_reload": stats(ka), "lvsfast_reload": stats(lv)}


async def inner(args: argparse.Namespace) -> dict:
    subprocess.run(["modprobe", "ip_vs"], check=True)
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    runs = []
    for s, d in sizes:
        runs.append(await measure(s, d, args.rounds, args.read))
        print(json.dumps(runs[-1]), flush=True)
    drop_namespaces()
    out: dict[str, object] = {"sizes": runs}
    if args.daemons:
        # At most --daemon-max real servers (10,000): a 100,000-server config takes minutes to
        # read under emulation.
        fit = [sz for sz in sizes if sz[0] * sz[1] <= args.daemon_max] or sizes[:1]
        out["daemons"] = daemons(*max(fit, key=lambda sz: sz[0] * sz[1]), rounds=args.daemon_rounds,
                                 log_dir=args.daemon_logs)
        print(json.dumps(out["daemons"]), flush=True)
        drop_namespaces()
    return out


def harness(raw: dict, quick: bool) -> dict:
    """Raw in-VM figures as the harness's rows, ratios against ipvsadm and keepalived."""
    results, series = rows(raw)
    return {"scenario": "ipvs", "what": "IPVS load time vs ipvsadm -R and keepalived, single change (in the VM)",
            "how": __doc__ + ("\n(quick mode)" if quick else ""), "results": results,
            "series": {"size_vs_time": series}, "raw": raw}


def on_host(args: argparse.Namespace) -> dict:
    """Boot the VM once, run --inner there, read its JSON back through a shared directory."""
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    rounds = args.rounds or (2 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="lvsfast-ipvsbench-", dir="/tmp") as rw:
        raw_path = Path(rw) / "raw.json"
        cmd = (f"python bench/ipvs_scale.py --inner --sizes {sizes} --rounds {rounds} --daemon-rounds "
               f"{1 if args.quick else 3} --raw {raw_path}" + (" --read" if args.read else "")
               + (" --daemons" if args.daemons or not (args.quick or args.no_daemons) else "")
               + f" > {rw}/log.txt 2>&1")
        env = {**os.environ, "LVSFAST_VM_RWDIR": rw, "LVSFAST_VENV": str(Path(sys.executable).parent.parent)}
        proc = subprocess.run(["bash", str(ROOT / "scripts" / "vm.sh"), cmd], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        log = (Path(rw) / "log.txt").read_text() if (Path(rw) / "log.txt").exists() else ""
        if not raw_path.exists():
            raise SystemExit(f"the IPVS VM wrote no result (vm.sh exit {proc.returncode}):\n{log[-3000:]}"
                             f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        return json.loads(raw_path.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, 2 rounds")
    ap.add_argument("--json", type=Path, help="the harness's JSON (host mode)")
    ap.add_argument("--inner", action="store_true", help="measure here (inside the VM); writes --raw")
    ap.add_argument("--raw", type=Path, help="where --inner writes its figures")
    ap.add_argument("--sizes", default="", help="comma-separated SERVICESxDESTS")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--daemons", action="store_true", help="also time lvsfast and keepalived reloading the table")
    ap.add_argument("--daemon-rounds", type=int, default=1)
    ap.add_argument("--daemon-logs", metavar="DIR", help="(in the VM) keep each daemon's log in DIR")
    ap.add_argument("--daemon-max", type=int, default=10000, help="largest table (real servers) the daemons reload")
    ap.add_argument("--no-daemons", action="store_true", help="(host) skip the daemon reload comparison")
    ap.add_argument("--read", action="store_true", help="also time reading the whole table back")
    # The old single-size form, still accepted inside the VM.
    ap.add_argument("--services", type=int, default=0)
    ap.add_argument("--dests", type=int, default=10)
    args = ap.parse_args()
    if args.services:
        args.sizes, args.inner = f"{args.services}x{args.dests}", True
    if args.inner or os.environ.get("LVSFAST_IPVS_VM") == "1":
        args.sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
        args.rounds = args.rounds or (2 if args.quick else 3)
        raw = asyncio.run(inner(args))
        if args.raw:
            args.raw.write_text(json.dumps(raw, indent=1))
        if args.json:
            args.json.write_text(json.dumps(harness(raw, args.quick), indent=1))
        return 0
    raw = on_host(args)
    out = harness(raw, args.quick)
    for row in out["results"]:
        print(f"{row['case']:20s} {row['metric']:38s} lvsfast {row['lvsfast']['median']:10.2f} ms   "
              f"{row['baseline_name']} {row['baseline']['median']:10.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
