"""lvsfast's AgentX subagent with a real snmpd: it connects again after snmpd restarts, a
failover's notifications reach snmptrapd, and a frozen snmpd (SIGSTOP) delays no transition."""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from lvsfast.daemon.control import request
from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.snmp_lab import KEEPALIVED_MIB, VRRPV3_MIB, Snmpd
from support.vrrp_lab import VrrpLab
from test_snmp_walk import ROUTERS, entered, start

INSTANCE_STATE = ".1.3.6.1.4.1.9586.100.5.2.3.1.4"


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="snm-", dir="/var/tmp"))
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def _status(workdir: Path, name: str) -> dict:
    try:
        return request(str(workdir / f"lvsfast-{name}.sock"), "status", timeout=3)
    except (OSError, RuntimeError, ValueError):
        return {}


def _state(workdir: Path, name: str, instance: str) -> str:
    st = _status(workdir, name)
    try:
        return st["children"]["vrrp"]["status"]["instances"][instance]["state"]
    except (KeyError, TypeError):
        return "?"


def test_reconnect_failover_traps_and_frozen_snmpd(workdir):
    need_root()
    need_binary("snmpd", "snmpwalk", "snmptrapd")
    with Lab(prefix="snm" + uuid.uuid4().hex[:4]) as lab:
        v = VrrpLab.build(lab, workdir)
        agents = {n: Snmpd(lab, v.routers[n].ns, workdir / f"snmp-{n}").start() for n in ROUTERS}
        procs = {n: start(lab, v, "lvsfast", n, workdir, agents[n].socket) for n in ROUTERS}
        for n, (state, _) in ROUTERS.items():
            wait_for(lambda: entered(procs[n][1], "VI_1", state), timeout=30, what=f"{n} VI_1 in {state}")
        r2 = agents["r2"]
        wait_for(lambda: r2.walk(KEEPALIVED_MIB + ".2.3.1.2"), timeout=10, what="r2's instance table")

        # snmpd restarts: the subagent registers again and answers within a few seconds.
        r2.stop()
        time.sleep(1)
        r2.start()
        rows = wait_for(lambda: r2.walk(KEEPALIVED_MIB + ".2.3.1.4"), timeout=15, what="r2's rows after the restart")
        assert set(rows.values()) == {"INTEGER: 1"}  # BACKUP, all three
        assert _status(workdir, "r2")["snmp"]["connects"] >= 2

        # r1 stops: r2 takes over, and its snmptrapd hears keepalived's notifications of it.
        before = len(r2.trap_lines())
        procs["r1"][0].send_signal(signal.SIGTERM)
        procs["r1"][0].wait(30)
        wait_for(lambda: _state(workdir, "r2", "VI_1") == "MASTER", timeout=10, what="r2 master")

        def traps() -> list[str]:
            return r2.trap_lines()[before:]
        wait_for(lambda: sum(".207.0.1\t" in t for t in traps()) >= 3, timeout=10, what="three vrrpv3NewMaster")
        new = traps()
        for name in ("VI_1", "VI_2", "VI_3"):
            assert any(f'STRING: "{name}"' in t and f"{INSTANCE_STATE} = INTEGER: 2" in t for t in new), (name, new)
        v3 = [t for t in new if ".207.0.1\t" in t]
        assert all(t.endswith("INTEGER: 1") for t in v3), v3  # priority: the master left (priority 0)
        assert all("Hex-STRING: 0A 00 00 02" in t for t in v3), v3  # r2's own address
        assert any(".68.0.1\t" in t and "IpAddress: 10.0.0.2" in t for t in new), new  # VI_1 is VRRPv2
        assert any("100.5.2.10.0.1" in t and 'STRING: "G1"' in t for t in new), new  # the sync group
        assert wait_for(lambda: r2.get(VRRPV3_MIB + ".1.1.1.1.6." + _index(r2) + ".51.1") == "INTEGER: 3",
                        timeout=5, what="vrrpv3OperationsStatus master")

        # A frozen snmpd (its socket fills, nobody reads): r1 comes back and r2 hands over at once.
        r2.proc.send_signal(signal.SIGSTOP)
        try:
            procs["r1"] = start(lab, v, "lvsfast", "r1", workdir, agents["r1"].socket)
            t0 = time.monotonic()
            wait_for(lambda: _state(workdir, "r2", "VI_1") == "BACKUP", timeout=15, what="r2 back to backup")
            assert time.monotonic() - t0 < 10
        finally:
            r2.proc.send_signal(signal.SIGCONT)

        # snmpd back, and a reload: the rows follow the new configuration.
        path = workdir / "lvsfast-r2.conf"
        vi3 = "virtual_router_id 53\n    priority "
        path.write_text(path.read_text().replace(vi3 + "100", vi3 + "120"))
        os.kill(int((workdir / "lvsfast-r2.pid").read_text()), signal.SIGHUP)
        wait_for(lambda: r2.get(KEEPALIVED_MIB + ".2.3.1.7.3") == "INTEGER: 120", timeout=30,
                 what="VI_3's new priority")


def _index(agent: Snmpd) -> str:
    rows = agent.walk(KEEPALIVED_MIB + ".2.6.1.7")
    return next(iter(rows.values())).split(": ")[1]
