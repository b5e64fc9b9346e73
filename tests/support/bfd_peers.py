"""BFD peers for interop tests: FRR 8.4's bfdd run standalone, and keepalived 2.2.7's
bfd_instance, each in its own namespace with its own config, pid and vty paths; and lvsfast's
daemon with a bfd_instance (its state read from ``lvsfastctl status``)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lvsfast.lab.netns import Lab, Namespace, wait_for
from support.requires import need_binary

BFDD = "/usr/lib/frr/bfdd"
KEEPALIVED = "/usr/sbin/keepalived"


def lab() -> Lab:
    return Lab(prefix="bfr" + uuid.uuid4().hex[:5])


def pair(lab_: Lab, family: int) -> tuple[Namespace, Namespace, str, str]:
    """Two namespaces on one veth; returns (a, b, a's address, b's address)."""
    a, b = lab_.ns("a"), lab_.ns("b")
    for ns in (a, b):  # a cut cable must not take the IPv6 addresses with it
        ns.run("sysctl", "-qw", "net.ipv6.conf.all.keep_addr_on_down=1", check=False)
        ns.run("sysctl", "-qw", "net.ipv6.conf.default.keep_addr_on_down=1", check=False)
    lab_.veth(a, "eth0", b, "eth0")
    if family == 4:
        aa, bb = "10.71.0.1", "10.71.0.2"
        a.ip("addr", "add", f"{aa}/24", "dev", "eth0")
        b.ip("addr", "add", f"{bb}/24", "dev", "eth0")
    else:
        aa, bb = "fd71::1", "fd71::2"
        a.ip("-6", "addr", "add", f"{aa}/64", "dev", "eth0", "nodad")
        b.ip("-6", "addr", "add", f"{bb}/64", "dev", "eth0", "nodad")
    return a, b, aa, bb


@dataclass
class FrrBfd:
    """bfdd alone (no zebra): a single-hop or multihop peer, in ``ns``."""

    lab: Lab
    ns: Namespace
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lvsfast-bfr-frr-")))
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        need_binary(BFDD)
        os.chmod(self.dir, 0o777)  # bfdd drops to the frr user

    def config(self, peer: str, local: str, *, rx_ms: int, tx_ms: int, mult: int, multihop: bool = False,
               shutdown: bool = False) -> str:
        hop = " multihop" if multihop else ""
        iface = ""  # bfdd alone (no zebra) knows no interfaces: "interface eth0" would stop it sending
        return (f"bfd\n peer {peer}{hop} local-address {local}{iface}\n  receive-interval {rx_ms}\n"
                f"  transmit-interval {tx_ms}\n  detect-multiplier {mult}\n{'  shutdown' if shutdown else '  no shutdown'}\n"
                " !\n!\n")

    def start(self, conf: str) -> None:
        (self.dir / "bfdd.conf").write_text(conf)
        self.proc = self.lab.spawn(self.ns, BFDD, "-f", str(self.dir / "bfdd.conf"), "-u", "frr", "-g", "frr",
                                   "-i", str(self.dir / "bfdd.pid"), "-z", str(self.dir / "zserv.api"),
                                   "--vty_socket", str(self.dir), "-P", "0", "--bfdctl", str(self.dir / "bfdd.sock"),
                                   "--log", f"file:{self.dir / 'bfdd.log'}",
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: (self.dir / "bfdd.vty").exists(), timeout=10, what="bfdd's vty socket")

    def vtysh(self, *cmds: str) -> str:
        argv = ["vtysh", "--vty_socket", str(self.dir)]
        for c in cmds:
            argv += ["-c", c]
        return self.ns.run(*argv, check=False).stdout

    def reconfigure(self, peer: str, local: str, *, rx_ms: int, tx_ms: int, mult: int, multihop: bool = False) -> None:
        hop = " multihop" if multihop else ""
        iface = ""  # bfdd alone (no zebra) knows no interfaces: "interface eth0" would stop it sending
        self.vtysh("configure terminal", "bfd", f"peer {peer}{hop} local-address {local}{iface}",
                   f"receive-interval {rx_ms}", f"transmit-interval {tx_ms}", f"detect-multiplier {mult}")

    def peers(self) -> list[dict]:
        out = self.vtysh("show bfd peers json")
        try:
            return json.loads(out)
        except ValueError:
            return []

    def state(self, peer: str) -> str:
        for p in self.peers():
            if p.get("peer") == peer:
                return str(p.get("status"))
        return "none"

    def peer(self, peer: str) -> dict:
        return next((p for p in self.peers() if p.get("peer") == peer), {})

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # a dead peer, not a goodbye (AdminDown)
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def keepalived_bfd_config(name: str, neighbor: str, source: str, *, rx_ms: float, tx_ms: float, mult: int,
                          extra: str = "", family: int = 4) -> str:
    hop = "" if family == 4 else "    hoplimit 255\n"  # RFC 5881: keepalived's IPv6 default is 64
    return (f"bfd_instance {name} {{\n    neighbor_ip {neighbor}\n    source_ip {source}\n    min_rx {rx_ms:g}\n"
            f"    min_tx {tx_ms:g}\n    multiplier {mult}\n{hop}{extra}}}\n")


@dataclass
class KeepalivedBfd:
    """keepalived with a bfd_instance, its state from its BFD child's log."""

    lab: Lab
    ns: Namespace
    dir: Path
    proc: subprocess.Popen | None = None

    def start(self, config: str) -> None:
        need_binary(KEEPALIVED)
        self.dir.mkdir(parents=True, exist_ok=True)
        for pid in self.dir.glob("k*.pid"):  # a SIGKILLed run's: keepalived would say "already running"
            pid.unlink()
        (self.dir / "k.conf").write_text(config)
        self.logf = open(self.dir / "k.log", "a")
        self.proc = self.lab.spawn(self.ns, KEEPALIVED, "-n", "-l", "-D", "-f", str(self.dir / "k.conf"),
                                   "-p", str(self.dir / "k.pid"), "-r", str(self.dir / "k_vrrp.pid"),
                                   "-c", str(self.dir / "k_chk.pid"), "-b", str(self.dir / "k_bfd.pid"),
                                   stdout=self.logf, stderr=subprocess.STDOUT)

    def text(self) -> str:
        p = self.dir / "k.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def state(self, name: str) -> str:
        """The last state its BFD child logged ('(NAME) Entering Up state')."""
        last = "none"
        for line in self.text().splitlines():
            if f"({name}) Entering " in line:
                last = line.split("Entering ", 1)[1].split()[0]
        return last

    def reload(self, config: str) -> None:
        (self.dir / "k.conf").write_text(config)
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self, hard: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if hard:
                # Kill the whole tree (parent and its BFD child) at once: a dead peer.
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@dataclass
class LvsfastDaemon:
    """lvsfast's daemon in ``ns`` on a config; BFD state from ``lvsfastctl status``'s VRRP part."""

    lab: Lab
    ns: Namespace
    dir: Path
    proc: subprocess.Popen | None = None

    def start(self, config: str, vrrp_only: bool = True) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "l.conf").write_text(config)
        self.logf = open(self.dir / "l.log", "a")
        self.proc = self.lab.spawn(self.ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l",
                                   *(("-P",) if vrrp_only else ()), "-f", str(self.dir / "l.conf"),
                                   "--control-socket", str(self.dir / "ctl.sock"), "-p", str(self.dir / "l.pid"),
                                   "-r", str(self.dir / "l_vrrp.pid"), "-c", str(self.dir / "l_chk.pid"),
                                   stdout=self.logf, stderr=subprocess.STDOUT)

    def text(self) -> str:
        p = self.dir / "l.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def state(self, name: str) -> str:
        last = "none"
        for line in self.text().splitlines():
            if f"BFD_Instance({name}) Entering " in line:
                last = line.split("Entering ", 1)[1].split()[0]
        return last

    def bfd_status(self) -> dict:
        """``status`` over the control socket: the VRRP child's ``bfd`` part ({} until it answers)."""
        from lvsfast.daemon.control import request
        try:
            return request(str(self.dir / "ctl.sock"), "status", timeout=2)["children"]["vrrp"]["status"].get("bfd", {})
        except (RuntimeError, OSError, KeyError, TypeError, ValueError):
            return {}

    def vrrp_state(self, name: str) -> str:
        last = "none"
        for line in self.text().splitlines():
            if f"({name}) Entering " in line and "BFD_Instance" not in line:
                last = line.split("Entering ", 1)[1].split()[0]
        return last

    def reload(self, config: str) -> None:
        (self.dir / "l.conf").write_text(config)
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self, hard: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if hard:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.terminate()
            self.proc.wait(15)
        self.proc = None


def wait_state(get, want: str, timeout: float = 10.0) -> float:
    """Wait until ``get()`` says ``want`` (case-insensitive); returns how long it took."""
    t0 = time.monotonic()
    wait_for(lambda: get().lower() == want.lower(), timeout=timeout, what=f"BFD state {want}")
    return time.monotonic() - t0
