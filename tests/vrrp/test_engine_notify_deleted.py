"""notify_deleted: what a reload that deletes an instance notifies, lvsfast beside keepalived.

keepalived 2.2.7 (observed): the deleted instance's notify script and the notify FIFO get FAULT
(its notify_fault script does not run, nor notify_stop); with notify_deleted they get DELETED
and the notify_deleted script, if one is given, runs as well."""
from __future__ import annotations

import os
import time
import signal
import uuid

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.vrrp_lab import VrrpLab, instance_conf


def _observe(workdir, impl: str, deleted_line: str) -> tuple[list[str], list[str]]:
    """Run two instances, reload without VI_2, and return what VI_2's removal notified:
    (notify script lines, FIFO lines), the start's BACKUP and MASTER left out."""
    with Lab(prefix="vmo" + uuid.uuid4().hex[:5]) as lab:
        return _observe_in(lab, workdir, impl, deleted_line)


def _observe_in(lab: Lab, workdir, impl: str, deleted_line: str) -> tuple[list[str], list[str]]:
    workdir.mkdir()
    out = workdir / "notified"
    script = workdir / "n.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {out}\necho >> {out}\n')
    script.chmod(0o755)
    fifo = workdir / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    vlab = VrrpLab.build(lab, workdir, n=1)

    def inst(name: str, vrid: int, extra: str = "") -> str:
        return instance_conf(priority=150, advert_int=0.1, vrid=vrid, name=name, vips=(f"10.0.0.{vrid}/24",),
                             extra=f'    notify {script}\n    notify_fault "{script} fault-hook"\n'
                                   f'    notify_stop "{script} stop-hook"\n{extra}')
    head = f"global_defs {{\n    vrrp_notify_fifo {fifo}\n}}\n"
    (vlab.start_keepalived if impl == "keepalived" else vlab.start_lvsfast)(
        "r1", head + inst("VI_1", 51) + inst("VI_2", 52, deleted_line))
    r = vlab.routers["r1"]
    wait_for(lambda: r.state("VI_2") == "MASTER" and r.state("VI_1") == "MASTER", timeout=20, what="both masters")
    text = lambda: out.read_text() if out.exists() else ""
    wait_for(lambda: "INSTANCE|VI_2|MASTER|" in text(), timeout=10, what="VI_2's MASTER notify")
    (workdir / "r1.conf").write_text("global_defs {\n    router_id r1\n}\n" + head + inst("VI_1", 51))
    r.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: not r.has("10.0.0.52"), timeout=10, what="VI_2's VIP gone after the reload")
    wait_for(lambda: text().count("\n") >= 5, timeout=10, what="the deleted instance's notify")
    time.sleep(1.0)  # anything else the removal would notify has come by now
    data = b""
    try:
        while chunk := os.read(reader, 4096):
            data += chunk
    except BlockingIOError:
        pass
    os.close(reader)
    # Blank lines left out: two notify scripts appending at once can leave one (seen from keepalived).
    scripts = [ln for ln in text().splitlines() if ln and "BACKUP" not in ln and "MASTER" not in ln]
    lines = [ln for ln in data.decode().splitlines() if ln and "BACKUP" not in ln and "MASTER" not in ln]
    vlab.stop("r1")
    return sorted(scripts), lines


@pytest.mark.parametrize("deleted_line,word,hook", [
    ("", "FAULT", None),
    ('    notify_deleted "{script} deleted-hook"\n', "DELETED", "deleted-hook|"),
    ("    notify_deleted\n", "DELETED", None),
], ids=["without", "with-script", "bare"])
def test_a_deleted_instance_notifies_as_keepalived_does(tmp_path, deleted_line, word, hook):
    need_root()
    need_binary("ip")
    need_binary("/usr/sbin/keepalived")
    seen = {}
    for impl in ("keepalived", "lvsfast"):
        wd = tmp_path / impl
        seen[impl] = _observe(wd, impl, deleted_line.replace("{script}", str(wd / "n.sh")))
    scripts, fifo = seen["lvsfast"]
    assert seen["lvsfast"] == seen["keepalived"], seen
    assert fifo == [f'INSTANCE "VI_2" {word} 150'], fifo
    assert f"INSTANCE|VI_2|{word}|150|" in scripts
    assert ("deleted-hook|" in scripts) == (hook is not None)
    assert "fault-hook|" not in scripts and not any("VI_2|STOP" in s for s in scripts)


def test_plan_and_fifo_line_of_a_deleted_instance():
    from lvsfast.config.model import Script
    from lvsfast.vrrp.machine import State
    from lvsfast.vrrp.notify import Notification, fifo_line, plan

    fault, deleted, every = Script("/f"), Script("/d"), Script("/n")
    notify = (("fault", fault), ("deleted", deleted), ("notify", every))
    plain = Notification("INSTANCE", "VI_2", State.INIT, 150, False)
    assert plan(notify, plain) == [(every, ("INSTANCE", "VI_2", "FAULT", "150"))]
    assert fifo_line(plain) == 'INSTANCE "VI_2" FAULT 150\n'
    gone = Notification("INSTANCE", "VI_2", State.INIT, 150, True)
    assert plan(notify, gone) == [(deleted, ()), (every, ("INSTANCE", "VI_2", "DELETED", "150"))]
    assert fifo_line(gone) == 'INSTANCE "VI_2" DELETED 150\n'
    # Not deleted: the instance's own stop is STOP, as before.
    assert fifo_line(Notification("INSTANCE", "VI_2", State.INIT, 150)) == 'INSTANCE "VI_2" STOP 150\n'
