"""``lvsfast-lab``: Figure 2.1 live, with lvsfast on both routers and traffic from a client.

Interactive: shows which router is master and which real servers take requests; keys fail and
restore routers and real servers. ``--tour`` runs a scripted sequence instead and exits 0 only
when every step behaved (the tests run it). Every namespace is removed on exit, Ctrl-C included.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from lvsfast.daemon.control import request
from lvsfast.lab.netns import wait_for
from lvsfast.lab.topology import REAL_SERVERS, ROUTERS, VIP, Figure21


@dataclass
class Traffic:
    """Reads the client's JSON lines in a thread; keeps a short history."""

    proc: subprocess.Popen
    history: deque = field(default_factory=lambda: deque(maxlen=600))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            rec["at"] = time.monotonic()
            with self.lock:
                self.history.append(rec)

    def since(self, t0: float) -> list[dict]:
        with self.lock:
            return [r for r in self.history if r["at"] >= t0]

    def last(self, seconds: float = 1.0) -> dict:
        recs = self.since(time.monotonic() - seconds)
        ok: dict[str, int] = {}
        failed = 0
        for r in recs:
            failed += r["failed"]
            for k, v in r["ok"].items():
                ok[k] = ok.get(k, 0) + v
        return {"ok": ok, "failed": failed}


class LabRun:
    def __init__(self, workdir: Path, backend: str, advert_int: float) -> None:
        self.workdir = workdir
        self.topo = Figure21()
        self.daemons: dict[str, subprocess.Popen] = {}
        self.backend = backend
        self.advert_int = advert_int
        self.events: deque[str] = deque(maxlen=8)
        self.traffic: Traffic | None = None

    # ---- pieces ----------------------------------------------------------------------------

    def sock(self, router: str) -> str:
        return str(self.workdir / f"{router}.sock")

    def start(self) -> None:
        for name in REAL_SERVERS:
            self.topo.start_http(name)
        self.configs = self.topo.write_configs(self.workdir, backend=self.backend, advert_int=self.advert_int)
        for name in ROUTERS:
            self.start_router(name)
        client = self.topo.lab.spawn(self.topo.client, sys.executable, "-m", "lvsfast.lab.traffic", VIP,
                                     "--duration", "3600", stdout=subprocess.PIPE, text=True)
        self.traffic = Traffic(client)

    def start_router(self, name: str) -> None:
        d = self.workdir
        argv = [sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-f", str(self.configs[name]),
                "--control-socket", self.sock(name), "-p", str(d / f"{name}.pid"),
                "-r", str(d / f"{name}_vrrp.pid"), "-c", str(d / f"{name}_checkers.pid")]
        log = open(d / f"{name}.log", "a")
        self.daemons[name] = self.topo.lab.spawn(self.topo.routers[name], *argv, stdout=log, stderr=subprocess.STDOUT)
        self.events.append(f"started lvsfast on {name}")

    def stop_router(self, name: str) -> None:
        proc = self.daemons.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        self.events.append(f"stopped lvsfast on {name} (SIGTERM: priority-0 hand-over)")

    def set_cable(self, name: str, up: bool) -> None:
        self.topo.pub_sw.link_set(self.topo.router_ports[name], up)
        self.events.append(f"{'restored' if up else 'cut'} {name}'s public cable")

    def set_real(self, name: str, up: bool) -> None:
        if up:
            self.topo.start_http(name)
        else:
            self.topo.stop_http(name)
        self.events.append(f"{'started' if up else 'stopped'} HTTP on {name}")

    def status(self, router: str) -> dict | None:
        try:
            return request(self.sock(router), "status", timeout=2)
        except (RuntimeError, OSError, ValueError):
            return None

    def master(self) -> str | None:
        masters = [r for r in ROUTERS if self.state(r) == "MASTER"]
        return masters[0] if len(masters) == 1 else None

    def state(self, router: str) -> str:
        st = self.status(router)
        try:
            inst = st["children"]["vrrp"]["status"]["instances"]
            return next(iter(inst.values()))["state"]
        except (TypeError, KeyError, StopIteration):
            return "down"

    def real_states(self, router: str) -> dict[str, str]:
        st = self.status(router)
        try:
            vss = st["children"]["checker"]["status"]["virtual_servers"]
            rss = next(iter(vss.values()))["real_servers"]
            return {k: ("up" if v["up"] else f"down: {v.get('reason', '')}") for k, v in rss.items()}
        except (TypeError, KeyError, StopIteration):
            return {}

    def close(self) -> None:
        for name in list(self.daemons):
            proc = self.daemons.pop(name)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.topo.close()

    # ---- screen ----------------------------------------------------------------------------

    def render(self) -> str:
        lines = ["lvsfast lab: Figure 2.1 (client -> VIP 192.0.2.100:80 -> r1/r2 -> rs1..rs3)", ""]
        for r in ROUTERS:
            lines.append(f"  {r}: {self.state(r):8s}")
        m = self.master() or "r1"
        lines.append("")
        load = self.traffic.last(1.0) if self.traffic else {"ok": {}, "failed": 0}
        reals = self.real_states(m)
        for name in REAL_SERVERS:
            addr = f"{self.topo.real_address(name)}:80"
            lines.append(f"  {name} {addr:16s} {reals.get(addr, '?'):30s} {load['ok'].get(name, 0):4d} req/s")
        lines.append(f"  failed requests in the last second: {load['failed']}")
        lines.append("")
        lines.extend(f"  * {e}" for e in self.events)
        lines.append("")
        lines.append("keys: 1/2 stop-start lvsfast on r1/r2, c cut-restore r1's cable, "
                     "a/b/d stop-start rs1/rs2/rs3, q quit")
        return "\n".join(lines)


def interactive(run: LabRun) -> int:
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd) if os.isatty(fd) else None
    cable_up = True
    try:
        if old is not None:
            tty.setcbreak(fd)
        while True:
            sys.stdout.write("\x1b[H\x1b[2J" + run.render() + "\n")
            sys.stdout.flush()
            ready, _, _ = select.select([sys.stdin], [], [], 0.5)
            if not ready:
                continue
            key = sys.stdin.read(1)
            if key in ("q", ""):
                return 0
            if key in ("1", "2"):
                r = f"r{key}"
                run.stop_router(r) if r in run.daemons else run.start_router(r)
            elif key == "c":
                cable_up = not cable_up
                run.set_cable("r1", cable_up)
            elif key in ("a", "b", "d"):
                name = {"a": "rs1", "b": "rs2", "d": "rs3"}[key]
                run.set_real(name, name not in run.topo.servers)
    finally:
        if old is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)


def tour(run: LabRun, out=print) -> int:
    """The scripted tour: each step states what it expects and whether it happened."""
    failures = 0

    def step(what: str, check, timeout: float) -> None:
        nonlocal failures
        t0 = time.monotonic()
        try:
            wait_for(check, timeout=timeout, interval=0.2, what=what)
            out(f"ok    {what} ({time.monotonic() - t0:.1f}s)")
        except Exception as exc:
            failures += 1
            out(f"FAIL  {what}: {exc}")

    def serving(names: set[str]):
        return lambda: set(run.traffic.last(1.0)["ok"]) == names and run.traffic.last(1.0)["failed"] == 0

    all_rs = set(REAL_SERVERS)
    step("r1 becomes master", lambda: run.master() == "r1", 30)
    step("requests reach rs1, rs2 and rs3", serving(all_rs), 30)
    run.set_real("rs2", False)
    step("rs2 fails its check and stops getting requests", serving(all_rs - {"rs2"}), 15)
    run.set_real("rs2", True)
    step("rs2 recovers and gets requests again", serving(all_rs), 15)
    t0 = time.monotonic()
    run.stop_router("r1")
    step("r2 takes over after r1 stops", lambda: run.master() == "r2", 15)
    step("requests continue through r2", serving(all_rs), 15)
    lost = sum(r["failed"] for r in run.traffic.since(t0))
    out(f"      requests failed during the graceful hand-over: {lost}")
    run.start_router("r1")
    step("r1 preempts back to master", lambda: run.master() == "r1", 30)
    step("requests continue through r1", serving(all_rs), 15)
    run.set_cable("r1", False)
    step("r2 takes over when r1's cable is cut", lambda: run.state("r2") == "MASTER", 15)
    step("requests continue after the cable cut", serving(all_rs), 20)
    run.set_cable("r1", True)
    step("after the cable returns exactly one master remains", lambda: run.master() is not None, 30)
    out("tour passed" if failures == 0 else f"tour: {failures} step(s) failed")
    return 0 if failures == 0 else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lvsfast-lab", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tour", action="store_true", help="run the scripted tour and exit")
    ap.add_argument("--backend", default="auto", choices=["auto", "ipvs", "nftables"])
    ap.add_argument("--advert-int", type=float, default=1.0)
    ap.add_argument("--scale-out", action="store_true",
                    help="the scale-out lab instead: directors behind ECMP announced by FRR (docs/scale-out.md)")
    ap.add_argument("--quick", action="store_true", help="with --scale-out --tour: a shorter tour")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("lvsfast-lab: needs root (it builds network namespaces)", file=sys.stderr)
        return 2
    if args.scale_out:
        from lvsfast.lab.scaleout_tour import main as scale_out

        return scale_out(args.tour, args.quick)
    workdir = Path(tempfile.mkdtemp(prefix="lvsfast-lab-"))
    run = LabRun(workdir, args.backend, args.advert_int)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"building the lab (namespaces {run.topo.lab.prefix}-*, logs in {workdir}) ...", flush=True)
        run.start()
        return tour(run) if args.tour else interactive(run)
    except KeyboardInterrupt:
        return 130
    finally:
        run.close()
        print("lab removed")


if __name__ == "__main__":
    sys.exit(main())
