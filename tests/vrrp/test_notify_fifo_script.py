"""``vrrp_notify_fifo_script`` and ``notify_fifo_script``: the reader runs with the FIFO's path as
its argument and reads the VRRP lines, as it does under keepalived 2.2.7 given the same file."""
from __future__ import annotations

import signal
import subprocess
import sys
import uuid

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root

CONF = """global_defs {{
    script_user root
    enable_script_security
    {fifo} {work}/{name}.fifo
    {fifo}_script {reader}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {{
        10.0.0.100/24
    }}
}}
"""


def _router(lab: Lab, name: str):
    ns = lab.ns(name)
    ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    ns.link_set("eth0", True)
    ns.link_set("eth1", True)
    ns.ip("addr", "add", "10.0.0.1/24", "dev", "eth0")
    return ns


@pytest.mark.parametrize("fifo", ["vrrp_notify_fifo", "notify_fifo"])
def test_fifo_script_reads_the_vrrp_lines_as_under_keepalived(tmp_path, fifo):
    need_root()
    need_binary("ip", "keepalived")
    procs = {}
    with Lab(prefix="nfv" + uuid.uuid4().hex[:5]) as lab:
        for name in ("lvsfast", "keepalived"):
            reader = tmp_path / f"{name}_reader.sh"
            reader.write_text(f'#!/bin/sh\nexec cat "$1" > {tmp_path}/{name}.lines\n')
            reader.chmod(0o755)
            conf = tmp_path / f"{name}.conf"
            conf.write_text(CONF.format(fifo=fifo, work=tmp_path, name=name, reader=reader))
            ns = _router(lab, name)
            daemon = ([sys.executable, "-m", "lvsfast.cli", "--control-socket", str(tmp_path / "ctl.sock")]
                      if name == "lvsfast" else ["/usr/sbin/keepalived", "-D"])
            procs[name] = lab.spawn(ns, *daemon, "-n", "-l", "-P", "-f", str(conf), "-p", str(tmp_path / f"{name}.pid"),
                                    "-r", str(tmp_path / f"{name}_v.pid"), "-c", str(tmp_path / f"{name}_c.pid"),
                                    stdout=open(tmp_path / f"{name}.log", "w"), stderr=subprocess.STDOUT)
        master = 'INSTANCE "VI_1" MASTER 150'

        def lines(name: str) -> list[str]:
            p = tmp_path / f"{name}.lines"
            return p.read_text().splitlines() if p.exists() else []

        for name in procs:
            wait_for(lambda: master in lines(name), timeout=20, what=f"{master} read by {name}'s fifo script")
        assert lines("lvsfast") == lines("keepalived") == ['INSTANCE "VI_1" BACKUP 150', master]
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        assert not (tmp_path / "lvsfast.fifo").exists()
