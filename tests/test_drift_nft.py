"""Repair of outside changes on nftables (keepalived #1018, #1877): our table deleted, flushed with
the whole ruleset, or an element removed, is put back within seconds; foreign tables are left alone.
On nftables the repair starts from the kernel's change notification."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.requires import need_binary

CONF = """global_defs {
    lvs_backend nftables
}
virtual_server 192.0.2.1 80 {
    delay_loop 5
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.11 80 {
        weight 1
    }
    real_server 10.0.0.12 80 {
        weight 1
    }
}
"""


def test_outside_changes_are_repaired(lab, tmp_path):
    need_binary("nft")
    ns = lab.ns("lb")
    cfg = tmp_path / "k.conf"
    cfg.write_text(CONF)
    log = tmp_path / "log"
    proc = lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(cfg), "--control-socket",
                     str(tmp_path / "ctl.sock"), "-p", str(tmp_path / "p"), "-r", str(tmp_path / "r"),
                     "-c", str(tmp_path / "c"), stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def ours() -> str:
        out = ns.run("nft", "-j", "list", "table", "ip", "lvsfast", check=False)
        return out.stdout if out.returncode == 0 else ""

    wait_for(lambda: "10.0.0.12" in ours(), timeout=20, what="the initial table")
    ns.run("nft", "add", "table", "ip", "foreign")
    ns.run("nft", "add", "chain", "ip", "foreign", "c")
    ns.run("nft", "add", "rule", "ip", "foreign", "c", "counter")
    ns.run("nft", "delete", "table", "ip", "lvsfast")
    wait_for(lambda: "10.0.0.12" in ours(), timeout=10, what="our deleted table restored")
    assert "counter" in ns.run("nft", "list", "table", "ip", "foreign").stdout  # not ours: untouched
    ns.run("nft", "flush", "ruleset")  # a firewall restart
    wait_for(lambda: "10.0.0.11" in ours() and "10.0.0.12" in ours(), timeout=10, what="table restored after flush")
    wait_for(lambda: "restored" in log.read_text(), timeout=5, what="the repair logged")
    assert "kernel entries changed outside lvsfast" in log.read_text()
    # nf_tables told us who did it, at once, rather than the periodic comparison finding it
    assert "found by a transaction by nft[" in log.read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert ours() == ""
