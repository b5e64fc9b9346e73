"""Routers on one segment with a client, running lvsfast (the real daemon) or keepalived."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lvsfast.daemon.control import request
from lvsfast.lab.netns import Lab, Namespace, wait_for

VIP = "10.0.0.100"
VIP6 = "2001:db8::100"


def instance_conf(*, priority: int, version: int = 3, advert_int: float = 1, vrid: int = 51, extra: str = "",
                  vips: tuple[str, ...] = (f"{VIP}/24",), name: str = "VI_1", state: str = "BACKUP",
                  interface: str = "eth0") -> str:
    lines = "\n".join(f"        {v}" for v in vips)
    return f"""vrrp_instance {name} {{
    state {state}
    interface {interface}
    virtual_router_id {vrid}
    priority {priority}
    advert_int {advert_int:g}
    version {version}
{extra}    virtual_ipaddress {{
{lines}
    }}
}}
"""


@dataclass
class Router:
    name: str
    ns: Namespace
    workdir: Path
    proc: subprocess.Popen | None = None
    kind: str = "lvsfast"

    @property
    def sock(self) -> str:
        return str(self.workdir / f"{self.name}.sock")

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def status(self) -> dict | None:
        try:
            return request(self.sock, "status", timeout=2)["children"]["vrrp"]["status"]
        except (RuntimeError, OSError, KeyError, TypeError, ValueError):
            return None

    state_of: object = None  # another implementation's own state reader (FRR)

    def state(self, instance: str = "VI_1") -> str:
        if self.state_of is not None and self.kind not in ("lvsfast", "keepalived"):
            return self.state_of(instance)
        if self.kind == "keepalived":
            if self.proc is None or self.proc.poll() is not None:
                return "down"
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            found = re.findall(rf"\({instance}\) Entering (\w+) STATE", text)
            return found[-1] if found else "?"
        st = self.status()
        try:
            return st["instances"][instance]["state"]
        except (TypeError, KeyError):
            return "down"

    def has(self, addr: str) -> bool:
        return f" {addr}/" in self.ns.ip("-o", "addr", "show").stdout


@dataclass
class VrrpLab:
    lab: Lab
    workdir: Path
    routers: dict[str, Router] = field(default_factory=dict)
    ports: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, lab: Lab, workdir: Path, n: int = 2) -> "VrrpLab":
        self = cls(lab, workdir)
        self.sw = lab.ns("sw")
        lab.bridge(self.sw)
        self.client = lab.ns("client")
        lab.plug(self.sw, self.client, "eth0")
        self.client.ip("addr", "add", "10.0.0.10/24", "dev", "eth0")
        self.client.ip("-6", "addr", "add", "2001:db8::10/64", "dev", "eth0", "nodad")
        for i in range(1, n + 1):
            name = f"r{i}"
            ns = lab.ns(name)
            self.ports[name] = lab.plug(self.sw, ns, "eth0")
            ns.ip("addr", "add", f"10.0.0.{i}/24", "dev", "eth0")
            ns.ip("-6", "addr", "add", f"2001:db8::{i}/64", "dev", "eth0", "nodad")
            ns.run("sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1")
            self.routers[name] = Router(name, ns, workdir)
        return self

    def start_lvsfast(self, name: str, body: str, *, extra_args: tuple[str, ...] = ()) -> Router:
        r = self.routers[name]
        r.kind = "lvsfast"
        conf = self.workdir / f"{name}.conf"
        conf.write_text(f"global_defs {{\n    router_id {name}\n}}\n" + body)
        out = open(r.log, "a")
        r.proc = self.lab.spawn(r.ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-P", "-f", str(conf),
                                "--control-socket", r.sock, "-p", str(self.workdir / f"{name}.pid"),
                                "-r", str(self.workdir / f"{name}_vrrp.pid"),
                                "-c", str(self.workdir / f"{name}_chk.pid"), *extra_args,
                                stdout=out, stderr=subprocess.STDOUT)
        # Returns as soon as it answers; the emulated IPVS VM under a loaded host took over 20 s.
        wait_for(lambda: r.status() is not None, timeout=60, what=f"lvsfast on {name}")
        return r

    def start_keepalived(self, name: str, body: str) -> Router:
        r = self.routers[name]
        r.kind = "keepalived"
        conf = self.workdir / f"{name}.conf"
        conf.write_text(f"global_defs {{\n    router_id {name}\n}}\n" + body)
        out = open(r.log, "a")
        r.proc = self.lab.spawn(r.ns, "/usr/sbin/keepalived", "-n", "-l", "-D", "-G", "-P", "-f", str(conf),
                                "-p", str(self.workdir / f"{name}.pid"), "-r", str(self.workdir / f"{name}_v.pid"),
                                "-c", str(self.workdir / f"{name}_c.pid"), stdout=out, stderr=subprocess.STDOUT)
        return r

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        r = self.routers[name]
        if r.proc is not None and r.proc.poll() is None:
            r.proc.send_signal(sig)
            r.proc.wait(30)

    def cut(self, name: str, up: bool = False) -> None:
        self.sw.link_set(self.ports[name], up)

    def master(self, *names: str) -> str | None:
        masters = [n for n in (names or self.routers) if self.routers[n].state() == "MASTER"]
        return masters[0] if len(masters) == 1 else None

    def wait_master(self, name: str, timeout: float = 20) -> None:
        wait_for(lambda: self.master() == name, timeout=timeout, what=f"{name} as the only master "
                 f"(states: { {n: r.state() for n, r in self.routers.items()} })")

    def ping(self, addr: str = VIP, count: int = 3) -> bool:
        fam = "-6" if ":" in addr else "-4"
        return self.client.run("ping", fam, "-c", str(count), "-i", "0.2", "-W", "1", addr, check=False).returncode == 0

    def pinger(self, addr: str = VIP, interval: float = 0.01) -> subprocess.Popen:
        """Continuous pings with timestamps; :func:`longest_gap` reads the outage from them."""
        # To a file, not a pipe: an unread pipe fills and blocks ping, which would fake an outage.
        out = self.workdir / f"ping-{time.monotonic_ns()}.out"
        proc = self.lab.spawn(self.client, "ping", "-D", "-n", "-i", str(interval), "-W", "1", addr,
                              stdout=open(out, "w"), stderr=subprocess.DEVNULL)
        proc.out_path = out
        return proc


def replies(proc: subprocess.Popen) -> int:
    """Replies a :meth:`VrrpLab.pinger` has had so far."""
    return len(re.findall(r"^\[\d+\.\d+\] \d+ bytes from", proc.out_path.read_text(), re.M))


def wait_replies(proc: subprocess.Popen, n: int, timeout: float = 10.0) -> int:
    """Wait until the pinger has had ``n`` replies (the client reaches the VIP); returns the count."""
    wait_for(lambda: replies(proc) >= n, timeout=timeout, what=f"{n} ping replies")
    return replies(proc)


def longest_gap(proc: subprocess.Popen) -> tuple[float, int]:
    """Stop a pinger and return (longest gap between replies in seconds, replies)."""
    proc.send_signal(signal.SIGINT)
    proc.wait(10)
    out = proc.out_path.read_text()
    times = [float(m) for m in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", out, re.M)]
    if len(times) < 2:
        return float("inf"), len(times)
    return max(b - a for a, b in zip(times, times[1:])), len(times)
