"""Debian's keepalived as a test peer: its own config, pid files and log, in a namespace."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lvsfast.lab.netns import Lab, Namespace
from support.requires import need_binary

KEEPALIVED = "/usr/sbin/keepalived"


def vrrp_config(*, version: int, family: int, vrid: int = 51, priority: int = 100, vips: list[str],
                state: str = "BACKUP", advert_int: float = 1, interface: str = "eth0", auth: str = "",
                name: str = "VI_1", extra: str = "", auth_type: str = "PASS") -> str:
    auth_block = f"    authentication {{\n        auth_type {auth_type}\n        auth_pass {auth}\n    }}\n" if auth else ""
    vip_lines = "\n".join(f"        {v}" for v in vips)
    return f"""global_defs {{
    router_id ka_test
    vrrp_garp_master_delay 1
}}
vrrp_instance {name} {{
    state {state}
    interface {interface}
    virtual_router_id {vrid}
    priority {priority}
    advert_int {advert_int:g}
    version {version}
{auth_block}    virtual_ipaddress {{
{vip_lines}
    }}
{extra}}}
"""


@dataclass
class Keepalived:
    proc: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 15.0, after: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.text()
            if needle in t[after:]:
                return t
            if self.proc.poll() is not None:
                raise AssertionError(f"keepalived exited {self.proc.returncode}:\n{t[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"keepalived never logged {needle!r}:\n{self.text()[-3000:]}")


def start(lab: Lab, ns: Namespace, config: str, workdir: Path, name: str = "ka") -> Keepalived:
    need_binary("keepalived")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / f"{name}.conf"
    conf.write_text(config)
    log = workdir / f"{name}.log"
    out = open(log, "w")
    proc = lab.spawn(ns, KEEPALIVED, "-n", "-l", "-D", "-G", "-P", "-f", str(conf),
                     "-p", str(workdir / f"{name}.pid"), "-r", str(workdir / f"{name}_vrrp.pid"),
                     "-c", str(workdir / f"{name}_chk.pid"), stdout=out, stderr=subprocess.STDOUT)
    return Keepalived(proc, log)


def peer_env() -> dict[str, str]:
    tests = str(Path(__file__).resolve().parents[1])
    return dict(os.environ, PYTHONPATH=tests + os.pathsep + os.environ.get("PYTHONPATH", ""))
