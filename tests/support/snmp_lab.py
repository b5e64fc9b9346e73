"""A net-snmp master agent (and a trap receiver) of its own in a namespace, for the SNMP tests.

Each router's namespace gets an ``snmpd`` acting as AgentX master on a socket in the test's
folder, answering ``public`` on the namespace's own loopback, and forwarding notifications to
an ``snmptrapd`` in the same namespace, which logs them to a file with numeric OIDs.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lvsfast.lab.netns import Lab, Namespace, wait_for

KEEPALIVED_MIB = "1.3.6.1.4.1.9586.100.5"
VRRP_MIB = "1.3.6.1.2.1.68"
VRRPV3_MIB = "1.3.6.1.2.1.207"


@dataclass
class Snmpd:
    lab: Lab
    ns: Namespace
    folder: Path
    proc: subprocess.Popen | None = None
    traps: subprocess.Popen | None = None

    @property
    def socket(self) -> str:
        return str(self.folder / "agentx.sock")

    @property
    def trap_log(self) -> Path:
        return self.folder / "traps.log"

    def start(self, traps: bool = True) -> "Snmpd":
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "snmpd.conf"
        conf.write_text(
            "master agentx\n"
            f"agentXSocket {self.socket}\n"
            "agentaddress udp:127.0.0.1:161\n"
            "rocommunity public 127.0.0.1\n"
            + ("trap2sink 127.0.0.1:162 public\n" if traps else ""))
        env = {"SNMP_PERSISTENT_DIR": str(self.folder / "persist"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "MIBS": "", "MIBDIRS": "/nonexistent"}
        if traps and self.traps is None:
            tconf = self.folder / "snmptrapd.conf"
            tconf.write_text("authCommunity log public\ndisableAuthorization yes\n")
            self.traps = self.lab.spawn(
                self.ns, "env", *[f"{k}={v}" for k, v in env.items()], "snmptrapd", "-f", "-C", "-c", str(tconf),
                "-On", "-Lf", str(self.trap_log), "-F", "TRAP %v\n", "udp:127.0.0.1:162",
                stdout=subprocess.DEVNULL, stderr=open(self.folder / "snmptrapd.err", "a"))
        self.proc = self.lab.spawn(
            self.ns, "env", *[f"{k}={v}" for k, v in env.items()], "snmpd", "-f", "-C", "-c", str(conf),
            "-Lf", str(self.folder / "snmpd.log"), "-p", str(self.folder / "snmpd.pid"),
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(lambda: Path(self.socket).exists(), timeout=10, what="snmpd's AgentX socket")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def walk(self, oid: str) -> dict[str, str]:
        """``snmpwalk -On`` of ``oid``: numeric OID -> ``TYPE: value`` as snmpwalk prints it."""
        out = self.ns.run("env", "MIBS=", "MIBDIRS=/nonexistent", "snmpwalk", "-v2c", "-c", "public", "-On",
                          "-t", "3", "-r", "1", "127.0.0.1", oid, check=False, timeout=60).stdout
        rows: dict[str, str] = {}
        last = None
        for line in out.splitlines():
            m = re.match(r"^(\.[\d.]+) = (.*)$", line)
            if m:
                last = m.group(1)
                rows[last] = m.group(2)
            elif last is not None:  # a string value spanning lines
                rows[last] += "\n" + line
        return {k: v for k, v in rows.items() if not v.startswith("No Such") and "No more variables" not in v}

    def get(self, oid: str) -> str:
        out = self.ns.run("env", "MIBS=", "MIBDIRS=/nonexistent", "snmpget", "-v2c", "-c", "public", "-On",
                          "-t", "3", "-r", "1", "127.0.0.1", oid, check=False, timeout=30).stdout
        return out.partition(" = ")[2].strip()

    def trap_lines(self) -> list[str]:
        return self.trap_log.read_text(errors="replace").splitlines() if self.trap_log.exists() else []
