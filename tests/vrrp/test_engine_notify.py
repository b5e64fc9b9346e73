"""Notify scripts and the notify FIFO of a real instance in a namespace."""
from __future__ import annotations

import os

import pytest

from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_lab import VrrpLab, instance_conf


@pytest.fixture
def vlab(lab, tmp_path):
    return VrrpLab.build(lab, tmp_path)


def test_notify_scripts_and_fifo(vlab, tmp_path):
    out = tmp_path / "notified"
    script = tmp_path / "notify.sh"
    # The arguments arrive one per argv entry, unsplit, whatever they contain: no shell in between.
    script.write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {out}\necho >> {out}\n')
    script.chmod(0o755)
    fifo = tmp_path / "vrrp.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    notify = (f"    notify_master \"{script} master-hook\"\n    notify_stop \"{script} stop-hook\"\n"
              f"    notify {script}\n")
    vlab.start_lvsfast("r1", f"global_defs {{\n    vrrp_notify_fifo {fifo}\n}}\n" +
                       instance_conf(priority=150, advert_int=0.1, extra=notify))
    vlab.wait_master("r1")
    text = lambda: out.read_text() if out.exists() else ""
    wait_for(lambda: "INSTANCE|VI_1|MASTER|150|" in text() and "master-hook|" in text(), timeout=10,
             what="notify scripts for MASTER")
    vlab.stop("r1")
    wait_for(lambda: "INSTANCE|VI_1|STOP|" in text() and "stop-hook|" in text(), timeout=10,
             what="notify scripts for STOP")
    lines = b""
    try:
        while chunk := os.read(reader, 4096):
            lines += chunk
    except BlockingIOError:
        pass
    os.close(reader)
    assert b'INSTANCE "VI_1" BACKUP 150\n' in lines and b'INSTANCE "VI_1" MASTER 150\n' in lines, lines


def test_notify_master_rx_lower_pri_runs_and_reaches_the_fifo(vlab, tmp_path):
    import sys

    from support import keepalived as ka

    out = tmp_path / "lower"
    script = tmp_path / "lower.sh"
    script.write_text(f'#!/bin/sh\necho "lower $*" >> {out}\n')
    script.chmod(0o755)
    fifo = tmp_path / "vrrp.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    vlab.start_lvsfast("r1", f"global_defs {{\n    vrrp_notify_fifo {fifo}\n}}\n" +
                       instance_conf(priority=150, advert_int=0.1,
                                     extra=f"    notify_master_rx_lower_pri \"{script} seen\"\n"))
    vlab.wait_master("r1")
    # r2 claims mastership at a lower priority: r1 answers at once, and tells the hook.
    vlab.routers["r2"].ns.run(sys.executable, "-m", "support.vrrp_peer", "send", "--src", "10.0.0.2", "--prio", "50",
                              "--interval", "10", "--vips", "10.0.0.100", "--seconds", "1", env=ka.peer_env(),
                              timeout=30)
    wait_for(lambda: out.exists() and "lower seen" in out.read_text(), timeout=10, what="notify_master_rx_lower_pri")
    assert vlab.routers["r1"].state() == "MASTER"
    lines = b""
    try:
        while chunk := os.read(reader, 4096):
            lines += chunk
    except BlockingIOError:
        pass
    os.close(reader)
    assert b'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150\n' in lines, lines
