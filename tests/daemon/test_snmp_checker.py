"""KEEPALIVED-MIB's virtual and real server tables and realServerStateChange, from lvsfast's
checker (nftables backend) through a real snmpd.

keepalived is not beside it here: its checker needs IPVS, which this host's kernel does not
have, so these rows are checked against the MIB's definitions and the configuration instead
(the VRRP side is compared with keepalived in test_snmp_walk.py).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.snmp_lab import KEEPALIVED_MIB, Snmpd

CHECK = f".{KEEPALIVED_MIB}.3"
VS = CHECK + ".3.1"
RS = CHECK + ".4.1"
REALS = ("10.0.0.11", "10.0.0.12")


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="snm-", dir="/var/tmp"))
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def _conf(socket: str) -> str:
    reals = "".join(f"""    real_server {a} 80 {{
        weight {i + 2}
        uthreshold 100
        notify_down /bin/true
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
""" for i, a in enumerate(REALS))
    return (f"global_defs {{\n    router_id chk\n    lvs_backend nftables\n    enable_snmp_checker\n    enable_traps\n"
            f"    snmp_socket unix:{socket}\n}}\n"
            f"virtual_server 10.0.0.100 80 {{\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n"
            f"    persistence_timeout 30\n    quorum 2\n    hysteresis 1\n{reals}}}\n")


def test_checker_tables_and_real_server_trap(workdir):
    need_root()
    need_binary("snmpd", "snmpwalk", "snmptrapd", "nft")
    with Lab(prefix="snm" + uuid.uuid4().hex[:4]) as lab:
        ns = lab.ns("chk")
        for a in REALS:
            ns.ip("addr", "add", f"{a}/32", "dev", "lo")
        agent = Snmpd(lab, ns, workdir / "snmp").start()
        conf = workdir / "k.conf"
        conf.write_text(_conf(agent.socket))
        up = lab.spawn(ns, sys.executable, "-m", "http.server", "80", "--bind", REALS[0],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(conf),
                  "--control-socket", str(workdir / "ctl.sock"), "-p", str(workdir / "p"), "-r", str(workdir / "r"),
                  "-c", str(workdir / "c"), stdout=open(workdir / "log", "w"), stderr=subprocess.STDOUT)

        def rows() -> dict[str, str]:
            return agent.walk(CHECK)
        # Real servers start up (keepalived's default without alpha); the walk that sees the
        # failed one down everywhere (the table is read over several requests) is compared.
        got = wait_for(lambda: (r := rows()).get(f"{RS}.6.1.2") == "INTEGER: 2" and r.get(f"{VS}.21.1") == "Gauge32: 1"
                       and r.get(f"{RS}.6.1.1") == "INTEGER: 1" and r, timeout=20, what="one real server up, one down")
        want = {
            f"{VS}.2.1": "INTEGER: 2", f"{VS}.5.1": "INTEGER: 1", f"{VS}.6.1": "Hex-STRING: 0A 00 00 64 ",
            f"{VS}.7.1": "Gauge32: 80", f"{VS}.8.1": "INTEGER: 1", f"{VS}.9.1": "INTEGER: 2",
            f"{VS}.10.1": "INTEGER: 1",
            f"{VS}.13.1": "INTEGER: 1", f"{VS}.14.1": "Gauge32: 30", f"{VS}.16.1": "Gauge32: 1",
            f"{VS}.20.1": "Gauge32: 2", f"{VS}.21.1": "Gauge32: 1", f"{VS}.22.1": "Gauge32: 2",
            f"{VS}.23.1": "INTEGER: 1", f"{VS}.26.1": "Gauge32: 1",  # weight 2 up meets quorum 2
            f"{RS}.2.1.1": "INTEGER: 1", f"{RS}.4.1.1": "Hex-STRING: 0A 00 00 0B ", f"{RS}.5.1.1": "Gauge32: 80",
            f"{RS}.7.1.1": "INTEGER: 2", f"{RS}.8.1.1": "Gauge32: 100", f"{RS}.10.1.1": "INTEGER: 1",
            f"{RS}.12.1.1": "STRING: \"'/usr/bin/true'\"", f"{RS}.13.1.1": "Gauge32: 0", f"{RS}.13.1.2": "Gauge32: 1",
            f"{RS}.4.1.2": "Hex-STRING: 0A 00 00 0C ",
        }
        assert {k: got.get(k) for k in want} == want
        assert agent.get(f".{KEEPALIVED_MIB}.1.2.0") == 'STRING: "chk"'  # the global part is served too

        # Its failure was told (realServerStateChange with keepalived's objects), and so is its coming up.
        down = wait_for(lambda: next((t for t in agent.trap_lines() if f"{CHECK}.10.0.1" in t
                                      and f"{RS}.6.1.2 = INTEGER: 2" in t), None), timeout=10, what="the down trap")
        assert f"{RS}.4.1.2 = Hex-STRING: 0A 00 00 0C" in down and f"{VS}.21.1 = Gauge32: 1" in down, down
        second = lab.spawn(ns, sys.executable, "-m", "http.server", "80", "--bind", REALS[1],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        trap = wait_for(lambda: next((t for t in agent.trap_lines() if f"{CHECK}.10.0.1" in t
                                      and f"{RS}.6.1.2 = INTEGER: 1" in t), None),
                        timeout=15, what="realServerStateChange")
        assert f"{VS}.21.1 = Gauge32: 2" in trap and f"{VS}.2.1 = INTEGER: 2" in trap, trap
        assert f"{VS}.20.1 = Gauge32: 2" in trap and 'STRING: "chk"' in trap, trap

        # Both go: the quorum (2, hysteresis 1) is lost, virtualServerQuorumStateChange says so.
        up.kill()
        second.kill()
        lost = wait_for(lambda: next((t for t in agent.trap_lines() if f"{CHECK}.10.0.2" in t), None),
                        timeout=15, what="virtualServerQuorumStateChange")
        assert f"{VS}.23.1 = INTEGER: 2" in lost and f"{VS}.22.1 = Gauge32: 2" in lost, lost
