"""The checker's lines on keepalived's notify FIFOs, their reader scripts, and the startup /
shutdown scripts, on a real daemon (nftables backend) checking real servers in a namespace."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root

VIP = "10.0.0.100"
REALS = ("10.0.0.11", "10.0.0.12")
RS1 = f"[{REALS[0]}]:tcp:80"
VS = f"[{VIP}]:tcp:80"


def _script(path, body: str, mode: int = 0o755) -> str:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return str(path)


def _conf(tmp, globals_: str, vs_extra: str = "") -> str:
    reals = "".join(f"""    real_server {a} 80 {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
""" for a in REALS)
    return (f"global_defs {{\n    lvs_backend nftables\n    script_user root\n    enable_script_security\n"
            f"{globals_}}}\nvirtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n"
            f"    protocol TCP\n    quorum 2\n{vs_extra}{reals}}}\n")


def _daemon(lab, ns, tmp, cfg):
    log = open(tmp / "log", "w")
    return lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(cfg),
                     "--control-socket", str(tmp / "ctl.sock"), "-p", str(tmp / "p"), "-r", str(tmp / "r"),
                     "-c", str(tmp / "c"), stdout=log, stderr=subprocess.STDOUT)


def _stop(daemon) -> None:
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(30)


def _setup(lab):
    ns = lab.ns("nfifo")
    for a in REALS:  # local addresses: the real servers listen in the daemon's own namespace
        ns.ip("addr", "add", f"{a}/32", "dev", "lo")
    return ns


def _serve(lab, ns, addr):
    return lab.spawn(ns, sys.executable, "-m", "http.server", "80", "--bind", addr,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_real_server_and_quorum_lines_reach_the_fifo_script_and_start_stop_scripts_run(tmp_path):
    need_root()
    need_binary("ip", "nft")
    out = tmp_path / "lines"
    direct = tmp_path / "global.fifo"
    reader = _script(tmp_path / "reader.sh", f'exec cat "$1" > {out}')
    start = _script(tmp_path / "start.sh", f"echo start >> {tmp_path / 'runs'}")
    stop = _script(tmp_path / "stop.sh", f"echo stop >> {tmp_path / 'runs'}")
    cfg = tmp_path / "k.conf"
    cfg.write_text(_conf(tmp_path, f"    lvs_notify_fifo {tmp_path / 'lvs.fifo'}\n    lvs_notify_fifo_script {reader}\n"
                                   f"    notify_fifo {direct}\n"
                                   f"    startup_script {start}\n    shutdown_script {stop}\n",
                         vs_extra="    omega\n"))
    with Lab() as lab:
        ns = _setup(lab)
        servers = {a: _serve(lab, ns, a) for a in REALS}
        daemon = _daemon(lab, ns, tmp_path, cfg)
        wait_for(lambda: direct.exists() and out.exists() and (tmp_path / "runs").exists(), timeout=20,
                 what="the FIFOs, their reader and the startup script")
        assert (tmp_path / "runs").read_text() == "start\n"
        fd = os.open(direct, os.O_RDONLY | os.O_NONBLOCK)  # the global FIFO read by the test itself
        got = bytearray()

        def direct_lines() -> list[str]:
            try:
                got.extend(os.read(fd, 65536))
            except BlockingIOError:
                pass
            return got.decode().splitlines()

        def lines() -> list[str]:
            return out.read_text().splitlines()

        time.sleep(3)  # both real servers checked up: nothing changes, nothing written
        base = len(lines())
        servers[REALS[0]].kill()
        servers[REALS[0]].wait()
        down = [f"RS {RS1} {VS} DOWN", f"VS {VS} DOWN"]
        wait_for(lambda: lines()[base:] == down, timeout=20, what=f"{down} on the lvs FIFO, got {lines()}")
        servers[REALS[0]] = _serve(lab, ns, REALS[0])
        up = [f"RS {RS1} {VS} UP", f"VS {VS} UP"]
        wait_for(lambda: lines()[base:] == down + up, timeout=20, what=f"{up} on the lvs FIFO, got {lines()}")
        wait_for(lambda: direct_lines()[-4:] == down + up, timeout=5, what=f"the lines on notify_fifo, got {got}")
        os.close(fd)
        _stop(daemon)
        # omega: at shutdown the real servers still up and the virtual server go down, lines included.
        assert lines()[base + 4:] == [f"RS [{REALS[0]}]:tcp:80 {VS} DOWN", f"RS [{REALS[1]}]:tcp:80 {VS} DOWN",
                                      f"VS {VS} DOWN"]
        assert (tmp_path / "runs").read_text() == "start\nstop\n"
        assert not (tmp_path / "lvs.fifo").exists()  # it created them, it removes them
        assert not direct.exists()


def test_a_hanging_startup_script_is_killed_and_an_unsafe_one_refused(tmp_path):
    need_root()
    need_binary("ip", "nft")
    hang = _script(tmp_path / "hang.sh", f"echo begun > {tmp_path / 'hang'}; sleep 60; echo done > {tmp_path / 'hang'}")
    unsafe = _script(tmp_path / "unsafe.sh", f"echo ran > {tmp_path / 'unsafe'}", mode=0o777)
    cfg = tmp_path / "k.conf"
    cfg.write_text(_conf(tmp_path, f"    startup_script {hang}\n    startup_script_timeout 1\n"
                                   f"    shutdown_script {unsafe}\n"))
    with Lab() as lab:
        ns = _setup(lab)
        for a in REALS:
            _serve(lab, ns, a)
        t0 = time.monotonic()
        daemon = _daemon(lab, ns, tmp_path, cfg)
        log = tmp_path / "log"
        wait_for(lambda: "startup script" in log.read_text() and "timed out" in log.read_text(), timeout=15,
                 what="the startup script's timeout in the log")
        wait_for(lambda: "lvsfast started" in log.read_text(), timeout=15, what="the children started after it")
        assert time.monotonic() - t0 < 10
        _stop(daemon)
        text = log.read_text()
        assert (tmp_path / "hang").read_text() == "begun\n"  # killed: never got to its end
        assert "shutdown script refused" in text and "writable by a non-root user" in text, text
        assert not (tmp_path / "unsafe").exists()


def test_a_reload_replaces_the_fifo_script_and_keeps_the_fifo(tmp_path):
    need_root()
    need_binary("ip", "nft")
    fifo = tmp_path / "lvs.fifo"
    readers = [_script(tmp_path / f"reader{i}.sh", f'exec cat "$1" > {tmp_path}/lines{i}') for i in (1, 2)]
    cfg = tmp_path / "k.conf"

    def write(reader: str) -> None:
        cfg.write_text(_conf(tmp_path, f"    lvs_notify_fifo {fifo}\n    lvs_notify_fifo_script {reader}\n"))

    write(readers[0])
    with Lab() as lab:
        ns = _setup(lab)
        servers = {a: _serve(lab, ns, a) for a in REALS}
        daemon = _daemon(lab, ns, tmp_path, cfg)
        wait_for(lambda: (tmp_path / "lines1").exists(), timeout=20, what="the first reader")
        inode = fifo.stat().st_ino
        write(readers[1])
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: (tmp_path / "lines2").exists(), timeout=20, what="the second reader after the reload")
        assert fifo.stat().st_ino == inode  # the same pipe: writers holding it lose nothing
        servers[REALS[1]].kill()
        line = f"RS [{REALS[1]}]:tcp:80 {VS} DOWN"
        wait_for(lambda: line in (tmp_path / "lines2").read_text().splitlines(), timeout=20,
                 what=f"{line} read by the new reader")
        assert (tmp_path / "lines1").read_text() == ""
        _stop(daemon)
