#!/usr/bin/env python3
"""Failed requests while reloads add and remove real servers: lvsfast against keepalived 2.2.7.

    python bench/reload_loss.py [--quick] [--json PATH] [--no-vm]

What: a client namespace sends a steady stream of HTTP requests (each a fresh connection) to a
NAT virtual server while the balancer is reloaded N times; each reload removes one real server
from the config or adds it back (the four servers take turns). A request fails when it gets no
``200`` answer within its timeout (refused, reset or silent). The count of failed requests is
the figure; lvsfast's target is 0.
How: namespaces client -- director -- switch -- rs1..rs4, each real server a small asyncio HTTP
server; the director runs ``lvsfast -C`` or ``keepalived -C`` (TCP_CHECK on every server,
default drain for lvsfast, keepalived's immediate removal) and gets SIGHUP after each config
rewrite; half an interval later the kernel's table is read to confirm the reload took effect
(``reloads_seen_in_kernel`` in the raw runs). The client is open-loop: requests start on schedule whether or not earlier ones have
finished, so a stall cannot hide lost requests. Before the reloads a quiet period is measured
the same way: failures there are the machine's noise, not the reloads'. Before that, one reload
that changes nothing warms each daemon up (its first reload's one-off costs are not a reload's).
- lvsfast on nftables runs here, on the host: full 100 reloads 1 s apart at 500 req/s; quick 20.
- IPVS needs Debian's kernel: keepalived and lvsfast on IPVS run in one boot of the VM
  (scripts/vm.sh, emulated without KVM, 5-10x slower), so there the rate is lower (20 req/s:
  at 100 req/s most requests time out even with no reload) and reloads are 2 s apart (full 100,
  quick 8); both are stated in each case's name.
  There lvsfast is its checker subsystem run in-process on asyncio (``--serve``, SIGHUP
  reloads): the daemon's uvloop children cannot open the IPVS backend yet (a known bug, see
  serve()); the reload path (config load, CheckerService.reload, diff, backend) is the same.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

from lvsfast.lab.netns import Lab, Namespace, run, wait_for  # noqa: E402

VIP = "10.0.1.100"
CLIENT = "10.0.1.2"
SERVERS = [f"10.0.2.{11 + i}" for i in range(4)]
# Under emulation one request costs the VM tens of ms of CPU: at 100 req/s most requests time
# out with no reload at all (measured), at 20 req/s the quiet period is clean.
VM_RATE = 20.0

# A real server: answers every request with its address, HTTP/1.0, and closes.
SERVER = textwrap.dedent('''
    import asyncio, sys
    BODY = (sys.argv[1] + "\\n").encode()
    RESP = b"HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(BODY) + BODY
    async def one(r, w):
        try:
            await asyncio.wait_for(r.readuntil(b"\\r\\n\\r\\n"), 10)
            w.write(RESP)
            await w.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, asyncio.LimitOverrunError):
            pass
        finally:
            w.close()
    async def main():
        srv = await asyncio.start_server(one, sys.argv[1], 80, backlog=1024, reuse_address=True)
        print("ready", flush=True)
        await srv.serve_forever()
    asyncio.run(main())
''')

# The client: open-loop requests at a fixed rate for a fixed time, then one JSON summary line.
CLIENT_SCRIPT = textwrap.dedent('''
    import asyncio, json, sys, time
    vip, rate, duration, timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    REQ = ("GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" % vip).encode()
    ok, fails, pending = {}, [], set()
    async def one(t_sched):
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(vip, 80), timeout)
            try:
                w.write(REQ)
                data = await asyncio.wait_for(r.read(), timeout - 0.0)
            finally:
                w.close()
            head, _, body = data.partition(b"\\r\\n\\r\\n")
            if not head.startswith(b"HTTP/1.0 200") or not body.strip():
                raise ValueError("bad answer %r" % data[:40])
            name = body.decode().strip()
            ok[name] = ok.get(name, 0) + 1
        except Exception as exc:
            fails.append([round(t_sched, 4), type(exc).__name__])
    async def main():
        loop = asyncio.get_running_loop()
        period = 1.0 / rate
        t0 = loop.time()
        wall0 = time.time()
        n = int(duration * rate)
        print(json.dumps({"start": wall0}), flush=True)
        for i in range(n):
            at = t0 + i * period
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            t = asyncio.ensure_future(one(wall0 + i * period))
            pending.add(t)
            t.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending)
        print(json.dumps({"sent": n, "ok": ok, "failed": fails, "elapsed": loop.time() - t0}), flush=True)
    asyncio.run(main())
''')


def conf(servers: list[str], backend: str | None) -> str:
    body = "".join(f"""    real_server {addr} 80 {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
""" for addr in servers)
    glob = f"global_defs {{\n    lvs_backend {backend}\n}}\n" if backend else ""
    return (f"{glob}virtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n"
            f"    protocol TCP\n{body}}}\n")


@dataclass
class Topology:
    lab: Lab
    client: Namespace
    director: Namespace


def build(lab: Lab) -> Topology:
    """The namespaces and links in a few batched ``ip`` calls: under emulation each process
    start costs about a second, and the one-call-per-step way took two minutes."""
    names = ["c", "d", "sw"] + [f"rs{i + 1}" for i in range(len(SERVERS))]
    ns: dict[str, Namespace] = {}
    for short in names:
        full = f"{lab.prefix}-{short}"
        run(["ip", "netns", "add", full])
        ns[short] = lab.namespaces[short] = Namespace(full)  # the lab removes it on close
    c, d, sw = ns["c"].name, ns["d"].name, ns["sw"].name
    links = [f"link add eth0 netns {c} type veth peer name eth0 netns {d}",
             f"link add eth1 netns {d} type veth peer name pd netns {sw}"]
    links += [f"link add eth0 netns {ns[f'rs{i + 1}'].name} type veth peer name p{i + 1} netns {sw}"
              for i in range(len(SERVERS))]
    run(["ip", "-batch", "-"], input="\n".join(links) + "\n")
    per_ns = {
        "c": ["link set lo up", "link set eth0 up", f"addr add {CLIENT}/24 dev eth0",
              "route add default via 10.0.1.1"],
        "d": ["link set lo up", "link set eth0 up", "link set eth1 up", "addr add 10.0.1.1/24 dev eth0",
              f"addr add {VIP}/32 dev eth0", "addr add 10.0.2.1/24 dev eth1"],
        "sw": ["link set lo up", "link add br0 type bridge stp_state 0 forward_delay 0", "link set br0 up",
               "link set pd master br0", "link set pd up"]
              + [x for i in range(len(SERVERS)) for x in (f"link set p{i + 1} master br0", f"link set p{i + 1} up")],
    }
    for i, addr in enumerate(SERVERS):
        per_ns[f"rs{i + 1}"] = ["link set lo up", "link set eth0 up", f"addr add {addr}/24 dev eth0",
                                "route add default via 10.0.2.1"]
    for short, cmds in per_ns.items():
        run(["ip", "-n", ns[short].name, "-batch", "-"], input="\n".join(cmds) + "\n")
    # 500 fresh connections a second for minutes: keep clear of the default port range's edge.
    ns["c"].run("sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000")
    ns["d"].run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    procs = [lab.spawn(ns[f"rs{i + 1}"], sys.executable, "-c", SERVER, addr, stdout=subprocess.PIPE, text=True)
             for i, addr in enumerate(SERVERS)]
    for addr, proc in zip(SERVERS, procs):  # started together: each one's start-up is slow in the VM
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"real server {addr} did not start")
    return Topology(lab, ns["c"], ns["d"])


def daemon_argv(impl: str, cfg: Path, wd: Path, backend: str) -> list[str]:
    pids = ["-p", str(wd / "p"), "-r", str(wd / "r"), "-c", str(wd / "c")]
    if impl == "keepalived":
        return ["keepalived", "-n", "-l", "-G", "-C", "-f", str(cfg)] + pids
    if impl == "lvsfast-inproc":
        return [sys.executable, str(Path(__file__).resolve()), "--serve", str(cfg), "--backend", backend,
                "--control-socket", str(wd / "ctl.sock")]
    return [sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(cfg), "--lvs-backend", backend,
            "--control-socket", str(wd / "ctl.sock")] + pids


def kernel_servers(ns: Namespace, backend: str) -> set[str]:
    """Real servers that take new connections in the director's kernel (weight > 0)."""
    if backend == "ipvs":
        out = ns.run("ipvsadm", "-Ln").stdout
        return {line.split()[1].rsplit(":", 1)[0] for line in out.splitlines()
                if line.strip().startswith("->") and "RemoteAddress" not in line and line.split()[3] != "0"}
    out = ns.run("nft", "list", "table", "ip", "lvsfast", check=False).stdout
    return {a for a in SERVERS if a in out.split("_m {", 1)[-1]}


def measure(topo: Topology, impl: str, backend: str, rate: float, reloads: int, interval: float, quiet: float,
            timeout: float, startup: float) -> dict:
    """One daemon on the topology: the quiet period, then the reloads, under steady load."""
    t0 = time.monotonic()
    lab = topo.lab

    def phase(what: str) -> None:
        print(f"[{impl} {backend}] {time.monotonic() - t0:7.1f} s  {what}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="lvsfast-reload-") as tmp:
        wd = Path(tmp)
        cfg = wd / "k.conf"
        configured = list(SERVERS)
        cfg.write_text(conf(configured, backend if impl == "lvsfast" else None))
        log = open(wd / "daemon.log", "w")
        daemon = lab.spawn(topo.director, *daemon_argv(impl, cfg, wd, backend), stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: kernel_servers(topo.director, backend) == set(SERVERS) or daemon.poll() is not None,
                 timeout=startup, interval=0.2, what=f"{impl} to load the table")
        if daemon.poll() is not None:
            raise RuntimeError(f"{impl} exited {daemon.returncode}: {(wd / 'daemon.log').read_text()[-2000:]}")
        phase("table loaded")
        # One reload that changes nothing, before the load starts, for both daemons alike: the
        # first reload pays one-off costs (lvsfast's lazy imports, which in the VM stall the
        # whole guest for seconds while they are read over 9p) that no later reload has.
        daemon.send_signal(signal.SIGHUP)
        time.sleep(max(1.0, 2 * interval))
        duration = quiet + reloads * interval + 2.0
        client = lab.spawn(topo.client, sys.executable, "-c", CLIENT_SCRIPT, VIP, str(rate), str(duration),
                           str(timeout), stdout=subprocess.PIPE, text=True)
        start = json.loads(client.stdout.readline())["start"]
        # The reloads: each takes one server out of the config or puts it back, in turn.
        marks, applied = [], 0
        for i in range(reloads):
            at = start + quiet + i * interval
            time.sleep(max(0.0, at - time.time()))
            victim = SERVERS[(i // 2) % len(SERVERS)]
            if i % 2 == 0:
                configured.remove(victim)
            else:
                configured.append(victim)
            cfg.write_text(conf(configured, backend if impl == "lvsfast" else None))
            marks.append(time.time())
            daemon.send_signal(signal.SIGHUP)
            # Half an interval later the kernel must show the change, or this reload proved nothing.
            time.sleep(max(0.0, at + interval / 2 - time.time()))
            applied += kernel_servers(topo.director, backend) == set(configured)
        phase("reloads sent")
        summary = json.loads(client.stdout.readline())
        client.wait(30)
        phase("load finished")
        final = kernel_servers(topo.director, backend)
        alive = daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(120)
        except subprocess.TimeoutExpired:
            pass
        log.close()
        log_tail = (wd / "daemon.log").read_text(errors="replace")[-3000:]
        if backend == "ipvs":
            topo.director.run("ipvsadm", "-C")  # what a stopped daemon left is not the next one's
        phase("daemon stopped")
    reload_start = start + quiet
    quiet_fail = [f for f in summary["failed"] if f[0] < reload_start]
    reload_fail = [f for f in summary["failed"] if f[0] >= reload_start]
    kinds: dict[str, int] = {}
    for _, kind in reload_fail:
        kinds[kind] = kinds.get(kind, 0) + 1
    return {"impl": impl, "backend": backend, "rate": rate, "reloads": reloads, "interval_s": interval,
            "timeout_s": timeout, "sent": summary["sent"], "ok_by_server": summary["ok"],
            "quiet_requests": int(quiet * rate), "quiet_failed": len(quiet_fail),
            "reload_requests": summary["sent"] - int(quiet * rate), "reload_failed": len(reload_fail),
            "failure_kinds": kinds, "failures_s_after_start": [round(f[0] - start, 3) for f in summary["failed"]],
            "reload_marks_s": [round(m - start, 3) for m in marks],
            "reloads_seen_in_kernel": applied, "final_table_ok": final == set(configured), "daemon_alive": alive,
            "daemon_log_tail": log_tail}


def run_vm(rate: float, reloads: int, interval: float, quiet: float, timeout: float,
           lvsfast: str = "lvsfast-inproc") -> list[dict]:
    """keepalived and lvsfast on IPVS, one VM boot; the figures come back through a shared dir."""
    with tempfile.TemporaryDirectory(prefix="lvsfast-reloadvm-", dir="/tmp") as rw:
        raw = Path(rw) / "raw.json"
        cmd = (f"modprobe ip_vs && python bench/reload_loss.py --inner --impls keepalived,{lvsfast} --backend ipvs "
               f"--rate {rate:g} --reloads {reloads} --interval {interval:g} --quiet {quiet:g} "
               f"--timeout {timeout:g} --raw {raw} > {rw}/log.txt 2>&1")
        env = {**os.environ, "LVSFAST_VM_RWDIR": rw, "LVSFAST_VENV": str(Path(sys.executable).parent.parent)}
        proc = subprocess.run(["bash", str(ROOT / "scripts" / "vm.sh"), cmd], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        log = (Path(rw) / "log.txt").read_text() if (Path(rw) / "log.txt").exists() else ""
        print(log[-4000:], file=sys.stderr, flush=True)
        if not raw.exists():
            raise RuntimeError(f"the IPVS VM wrote no result (vm.sh exit {proc.returncode}):\n{log[-3000:]}"
                               f"{proc.stderr[-1500:]}")
        return json.loads(raw.read_text())


def _one(x: float) -> dict:
    return {"median": x, "min": x, "max": x, "n": 1}


def harness(runs: list[dict], quick: bool) -> dict:
    results = []
    by = {(r["impl"], r["backend"]): r for r in runs}
    for backend, where in (("nftables", "host"), ("ipvs", "VM")):
        lv = by.get(("lvsfast", backend)) or by.get(("lvsfast-inproc", backend))
        if lv is None:
            continue
        ka = by.get(("keepalived", backend))
        case = (f"{lv['reloads']} reloads at {lv['rate']:g} req/s, {backend} ({where}), "
                f"{lv['reload_requests']} requests" + (", lvsfast's checker in-process" if lv["impl"] != "lvsfast" else ""))
        results.append({"case": case, "metric": "failed requests", "unit": "req", "better": "lower",
                        "lvsfast": _one(lv["reload_failed"]),
                        "baseline_name": "keepalived 2.2.7" if ka else "keepalived (needs IPVS: see the VM row)",
                        "baseline": _one(ka["reload_failed"]) if ka else None})
    return {"scenario": "reload",
            "what": "failed requests during reloads that add or remove one real server each",
            "how": __doc__ + ("\n(quick mode)" if quick else ""), "results": results,
            "series": {"runs": runs}}


async def serve(path: str, backend: str, control_socket: str) -> None:
    """lvsfast's checker subsystem alone, in this process, on plain asyncio: SIGHUP reloads the
    config, SIGTERM stops. The daemon's own children run on uvloop, where the IPVS backend
    cannot open today (tests/ipvs_vm/test_ipvsvm_reload.py, TestIpvsOnUvloop); this is the same
    CheckerService and backend the daemon would run, without the process around it."""
    import asyncio
    import logging
    from types import SimpleNamespace

    from lvsfast.check.service import CheckerService
    from lvsfast.config import load

    logging.basicConfig(level=logging.INFO, format="%(asctime)s: %(message)s")
    svc = CheckerService(SimpleNamespace(control_socket=control_socket, lvs_backend=backend))
    await svc.start(load(path))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    wanted = asyncio.Event()

    async def reloader() -> None:  # one reload at a time; signals during one coalesce, as the daemon's do
        while True:
            await wanted.wait()
            wanted.clear()
            try:
                await svc.reload(load(path))
            except Exception:
                logging.exception("reload failed")
    task = asyncio.create_task(reloader())
    loop.add_signal_handler(signal.SIGHUP, wanted.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    task.cancel()
    await svc.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 reloads on the host, 8 in the VM")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-vm", action="store_true", help="only lvsfast on nftables, here")
    ap.add_argument("--inner", action="store_true", help="run --impls on --backend here and write --raw")
    ap.add_argument("--impls", default="lvsfast")
    ap.add_argument("--backend", default="nftables", choices=("nftables", "ipvs"))
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--reloads", type=int, default=0)
    ap.add_argument("--interval", type=float, default=0)
    ap.add_argument("--quiet", type=float, default=3.0, help="seconds of load before the first reload")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds a request may take")
    ap.add_argument("--raw", type=Path)
    ap.add_argument("--vm-daemon", action="store_true",
                    help="in the VM, run the lvsfast daemon instead of its checker in-process (once the "
                         "daemon can open IPVS on uvloop)")
    ap.add_argument("--serve", metavar="CONF", help="run lvsfast's checker in-process on CONF (see serve())")
    ap.add_argument("--control-socket", default="/run/lvsfast/bench.sock")
    args = ap.parse_args()
    if args.serve:
        import asyncio

        asyncio.run(serve(args.serve, args.backend, args.control_socket))
        return 0
    if args.inner:
        runs = []
        with Lab() as lab:
            topo = build(lab)  # one topology for every implementation: building it is slow in the VM
            for impl in args.impls.split(","):
                runs.append(measure(topo, impl, args.backend, args.rate or VM_RATE, args.reloads or 10,
                                    args.interval or 2.0, args.quiet, args.timeout, startup=300))
                print(json.dumps(runs[-1]), flush=True)
        if args.raw:
            args.raw.write_text(json.dumps(runs, indent=1))
        return 0
    with Lab() as lab:
        host = measure(build(lab), "lvsfast", "nftables", args.rate or 500, args.reloads or (20 if args.quick else 100),
                       args.interval or 1.0, args.quiet, args.timeout, startup=60)
    runs = [host]
    print(f"lvsfast nftables (host): {host['reload_failed']} of {host['reload_requests']} failed "
          f"(quiet period: {host['quiet_failed']} of {host['quiet_requests']})", flush=True)
    if not args.no_vm:
        vm = run_vm(VM_RATE, 8 if args.quick else 100, 2.0, args.quiet, args.timeout,
                    "lvsfast" if args.vm_daemon else "lvsfast-inproc")
        for r in vm:
            print(f"{r['impl']} ipvs (VM): {r['reload_failed']} of {r['reload_requests']} failed "
                  f"(quiet period: {r['quiet_failed']} of {r['quiet_requests']})", flush=True)
        runs += vm
    out = harness(runs, args.quick)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
