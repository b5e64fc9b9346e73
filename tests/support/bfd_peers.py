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

    @staticmethod
    def _peer(peer: str, local: str, rx_ms: int, tx_ms: int, mult: int, multihop: bool) -> list[str]:
        # No "interface eth0": bfdd alone (no zebra) knows no interfaces, and would stop sending.
        return [f"peer {peer}{' multihop' if multihop else ''} local-address {local}", f"receive-interval {rx_ms}",
                f"transmit-interval {tx_ms}", f"detect-multiplier {mult}"]

    def config(self, peer: str, local: str, *, rx_ms: int, tx_ms: int, mult: int, multihop: bool = False,
               shutdown: bool = False) -> str:
        head, *timers = self._peer(peer, local, rx_ms, tx_ms, mult, multihop)
        body = "".join(f"  {t}\n" for t in timers + ["shutdown" if shutdown else "no shutdown"])
        return f"bfd\n {head}\n{body} !\n!\n"

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
        self.vtysh("configure terminal", "bfd", *self._peer(peer, local, rx_ms, tx_ms, mult, multihop))

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


def _last_entering(text: str, marker: str, skip: str = "") -> str:
    """The state of the last log line with ``MARKER Entering STATE`` (lines with ``skip`` passed over)."""
    last = "none"
    for line in text.splitlines():
        if f"{marker} Entering " in line and not (skip and skip in line):
            last = line.split("Entering ", 1)[1].split()[0]
    return last


@dataclass
class _Daemon:
    """A daemon in ``ns`` whose config and log sit in ``dir`` (<prefix>.conf, <prefix>.log)."""

    lab: Lab
    ns: Namespace
    dir: Path
    proc: subprocess.Popen | None = None
    prefix = ""
    stop_wait = 10.0

    def _write(self, config: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / f"{self.prefix}.conf"
        conf.write_text(config)
        return conf

    def _spawn(self, *argv: str) -> None:
        self.logf = open(self.dir / f"{self.prefix}.log", "a")
        self.proc = self.lab.spawn(self.ns, *argv, stdout=self.logf, stderr=subprocess.STDOUT)

    def text(self) -> str:
        p = self.dir / f"{self.prefix}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def reload(self, config: str) -> None:
        self._write(config)
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self, hard: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if hard:
                # Kill the whole tree (parent and its children) at once: a dead peer.
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.terminate()
            self.proc.wait(self.stop_wait)
        self.proc = None


class KeepalivedBfd(_Daemon):
    """keepalived with a bfd_instance, its state from its BFD child's log."""

    prefix = "k"

    def start(self, config: str) -> None:
        need_binary(KEEPALIVED)
        conf = self._write(config)
        for pid in self.dir.glob("k*.pid"):  # a SIGKILLed run's: keepalived would say "already running"
            pid.unlink()
        d = self.dir
        self._spawn(KEEPALIVED, "-n", "-l", "-D", "-f", str(conf), "-p", str(d / "k.pid"), "-r", str(d / "k_vrrp.pid"),
                    "-c", str(d / "k_chk.pid"), "-b", str(d / "k_bfd.pid"))

    def state(self, name: str) -> str:
        """The last state its BFD child logged ('(NAME) Entering Up state')."""
        return _last_entering(self.text(), f"({name})")


class LvsfastDaemon(_Daemon):
    """lvsfast's daemon in ``ns`` on a config; BFD state from ``lvsfastctl status``'s VRRP part."""

    prefix = "l"
    stop_wait = 15.0

    def start(self, config: str, vrrp_only: bool = True) -> None:
        conf = self._write(config)
        d = self.dir
        self._spawn(sys.executable, "-m", "lvsfast.cli", "-n", "-l", *(("-P",) if vrrp_only else ()), "-f", str(conf),
                    "--control-socket", str(d / "ctl.sock"), "-p", str(d / "l.pid"), "-r", str(d / "l_vrrp.pid"),
                    "-c", str(d / "l_chk.pid"))

    def state(self, name: str) -> str:
        return _last_entering(self.text(), f"BFD_Instance({name})")

    def bfd_status(self) -> dict:
        """``status`` over the control socket: the VRRP child's ``bfd`` part ({} until it answers)."""
        from lvsfast.daemon.control import request
        try:
            return request(str(self.dir / "ctl.sock"), "status", timeout=2)["children"]["vrrp"]["status"].get("bfd", {})
        except (RuntimeError, OSError, KeyError, TypeError, ValueError):
            return {}

    def vrrp_state(self, name: str) -> str:
        return _last_entering(self.text(), f"({name})", skip="BFD_Instance")


def wait_state(get, want: str, timeout: float = 10.0) -> float:
    """Wait until ``get()`` says ``want`` (case-insensitive); returns how long it took."""
    t0 = time.monotonic()
    wait_for(lambda: get().lower() == want.lower(), timeout=timeout, what=f"BFD state {want}")
    return time.monotonic() - t0
