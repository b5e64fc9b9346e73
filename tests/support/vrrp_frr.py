"""FRR's vrrpd (with its zebra) as a VRRPv3 peer on a VrrpLab router, with the macvlan it needs."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lvsfast.lab.netns import wait_for
from support.requires import need_binary
from support.vrrp_lab import VrrpLab

ZEBRA = "/usr/lib/frr/zebra"
VRRPD = "/usr/lib/frr/vrrpd"


@dataclass
class Frr:
    vlab: VrrpLab
    name: str
    dir: Path
    zebra: subprocess.Popen | None = None
    vrrpd: subprocess.Popen | None = None
    prepared: set = field(default_factory=set)

    @classmethod
    def on(cls, vlab: VrrpLab, name: str) -> "Frr":
        need_binary(ZEBRA)
        need_binary(VRRPD)
        # The daemons drop to the frr user, who cannot enter pytest's private tmp dirs.
        d = Path(tempfile.mkdtemp(prefix=f"lvsfast-frr-{name}-"))
        os.chmod(d, 0o777)
        return cls(vlab, name, d)

    @property
    def ns(self):
        return self.vlab.routers[self.name].ns

    def _common(self, daemon: str) -> tuple[str, ...]:
        return ("-u", "frr", "-g", "frr", "-i", str(self.dir / f"{daemon}.pid"), "-z", str(self.dir / "zserv.api"),
                "--vty_socket", str(self.dir), "-P", "0", "--log", f"file:{self.dir / daemon}.log")

    def start(self, *, vrid: int = 51, priority: int, vip: str, interval_ms: int = 100) -> None:
        if "macvlan" not in self.prepared:
            # FRR announces from a macvlan holding the virtual MAC and the VIP; it sets the macvlan
            # protodown while backup.
            self.ns.ip("link", "add", "vrrp4", "link", "eth0", "type", "macvlan", "mode", "bridge")
            self.ns.ip("link", "set", "vrrp4", "address", f"00:00:5e:00:01:{vrid:02x}")
            self.ns.ip("addr", "add", f"{vip}/24", "dev", "vrrp4")
            self.ns.ip("link", "set", "vrrp4", "up")
            self.prepared.add("macvlan")
        if self.zebra is None:
            (self.dir / "zebra.conf").write_text(f"hostname {self.name}\n")
            self.zebra = self.vlab.lab.spawn(self.ns, ZEBRA, "-f", str(self.dir / "zebra.conf"), *self._common("zebra"),
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: (self.dir / "zserv.api").exists(), timeout=10, what="zebra's socket")
        (self.dir / "vrrpd.conf").write_text(
            f"interface eth0\n vrrp {vrid} version 3\n vrrp {vrid} priority {priority}\n"
            f" vrrp {vrid} advertisement-interval {interval_ms}\n vrrp {vrid} ip {vip}\n")
        self.vrrpd = self.vlab.lab.spawn(self.ns, VRRPD, "-f", str(self.dir / "vrrpd.conf"), *self._common("vrrpd"),
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        router = self.vlab.routers[self.name]
        router.kind = "frr"
        router.state_of = self.state

    def stop(self) -> None:
        if self.vrrpd is not None and self.vrrpd.poll() is None:
            self.vrrpd.terminate()
            self.vrrpd.wait(30)
        self.vrrpd = None

    def state(self, instance: str = "VI_1") -> str:
        if self.vrrpd is None or self.vrrpd.poll() is not None:
            return "down"
        out = self.ns.run("vtysh", "--vty_socket", str(self.dir), "-c", "show vrrp", check=False).stdout
        for line in out.splitlines():
            if line.strip().startswith("Status (v4)"):
                return {"Master": "MASTER", "Backup": "BACKUP", "Initialize": "INIT"}.get(line.split()[-1], "?")
        return "?"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        p = self.dir / "vrrpd.log"
        return p.read_text(errors="replace") if p.exists() else ""
