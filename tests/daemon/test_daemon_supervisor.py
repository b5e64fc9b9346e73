"""The parent supervises real child processes: restart on crash, safe reload, signals, control socket."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lvsfast.daemon import control, ctl
from lvsfast.daemon.control import request
from lvsfast.lab.netns import wait_for

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def daemon(tmp_path, request: pytest.FixtureRequest):
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"value": 1}))
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env.update(getattr(request, "param", {}))
    proc = subprocess.Popen([sys.executable, "-m", "support.daemon_dummy", str(tmp_path), str(conf)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sock = str(tmp_path / "ctl.sock")

    def ready():
        try:
            st = control.request(sock, "status", timeout=2)  # (request is the fixture's here)
        except (RuntimeError, OSError):
            return None
        kids = st["children"]
        return st if all(c.get("status") for c in kids.values()) and len(kids) == 2 else None

    try:
        wait_for(ready, timeout=20, what="daemon up")
        yield proc, sock, conf, tmp_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        out = proc.communicate(timeout=10)[0]
        print(out)


def child_pids(sock):
    st = request(sock, "status")
    return {n: c["pid"] for n, c in st["children"].items()}


def test_crashed_child_is_restarted_and_logged(daemon):
    proc, sock, conf, state = daemon
    before = child_pids(sock)
    os.kill(before["vrrp"], signal.SIGKILL)

    def restarted():
        st = request(sock, "status")
        c = st["children"]["vrrp"]
        return st if c["pid"] not in (0, before["vrrp"]) and c.get("status") else None

    st = wait_for(restarted, timeout=20, what="vrrp child restart")
    assert st["children"]["vrrp"]["restarts"] == 1
    assert "killed by signal 9 (SIGKILL)" in st["children"]["vrrp"]["last_exit"]
    assert st["children"]["checker"]["pid"] == before["checker"]  # the other child is untouched


def test_broken_reload_keeps_running_config(daemon):
    proc, sock, conf, state = daemon
    pids = child_pids(sock)
    conf.write_text("{ not json")
    os.kill(proc.pid, signal.SIGHUP)
    wait_for(lambda: request(sock, "status")["failed_reloads"] == 1, timeout=10, what="failed reload")
    st = request(sock, "status")
    assert st["last_reload_error"]
    assert {n: c["status"]["value"] for n, c in st["children"].items()} == {"vrrp": 1, "checker": 1}
    assert child_pids(sock) == pids
    # A good config then reaches both children without restarting them.
    conf.write_text(json.dumps({"value": 2}))
    assert ctl.main(["--control-socket", sock, "reload"]) == 0
    st = request(sock, "status")
    assert {n: c["status"]["value"] for n, c in st["children"].items()} == {"vrrp": 2, "checker": 2}
    assert child_pids(sock) == pids


def reloads_of(state, pid):
    return [ln for ln in (state / f"{pid}.log").read_text().split("\n") if ln.startswith("reload")]


OWN_READING = {"DUMMY_DIGEST": "1"}


@pytest.mark.parametrize("daemon", [OWN_READING], indirect=True)
def test_checker_applies_its_own_reading_which_ours_confirms(daemon):
    proc, sock, conf, state = daemon
    pids = child_pids(sock)
    conf.write_text(json.dumps({"value": 2}))
    assert ctl.main(["--control-socket", sock, "reload"]) == 0
    st = request(sock, "status")
    assert st["own_readings"] == 1
    assert {n: c["status"]["value"] for n, c in st["children"].items()} == {"vrrp": 2, "checker": 2}
    assert reloads_of(state, pids["checker"]) == ["reload 2"]  # once: its own reading, not our copy
    # A broken file: the checker's reading fails, nothing is applied anywhere.
    conf.write_text("{ not json")
    os.kill(proc.pid, signal.SIGHUP)
    wait_for(lambda: request(sock, "status")["failed_reloads"] == 1, timeout=10, what="failed reload")
    assert reloads_of(state, pids["checker"]) == ["reload 2"]


@pytest.mark.parametrize("daemon", [{**OWN_READING, "DUMMY_PARENT_CONF": "parent.json"}], indirect=True)
def test_files_changed_between_the_readings(daemon):
    proc, sock, conf, state = daemon
    pids = child_pids(sock)
    # Ours is another valid file: the checker, having applied its own reading, takes ours.
    conf.write_text(json.dumps({"value": 2}))
    (state / "parent.json").write_text(json.dumps({"value": 3}))
    assert ctl.main(["--control-socket", sock, "reload"]) == 0
    st = request(sock, "status")
    assert {n: c["status"]["value"] for n, c in st["children"].items()} == {"vrrp": 3, "checker": 3}
    assert reloads_of(state, pids["checker"]) == ["reload 2", "reload 3"] and st["own_readings"] == 0
    # Ours is broken: the reload fails and the checker goes back to the running config.
    conf.write_text(json.dumps({"value": 4}))
    (state / "parent.json").write_text("{ not json")
    os.kill(proc.pid, signal.SIGHUP)
    wait_for(lambda: request(sock, "status")["failed_reloads"] == 1, timeout=10, what="failed reload")
    st = request(sock, "status")
    assert {n: c["status"]["value"] for n, c in st["children"].items()} == {"vrrp": 3, "checker": 3}
    assert reloads_of(state, pids["checker"]) == ["reload 2", "reload 3", "reload 4", "reload 3"]


def test_events_are_relayed_between_children(daemon):
    proc, sock, conf, state = daemon
    pids = child_pids(sock)

    def relayed():
        st = request(sock, "status")["children"]
        got = {n: {e["pid"] for e in c["status"]["events"] if e.get("event") == "hello"} for n, c in st.items()}
        return got if got == {"vrrp": {pids["checker"]}, "checker": {pids["vrrp"]}} else None

    wait_for(relayed, timeout=10, what="each child to hear the other's event")


def test_usr1_writes_the_vrrp_and_the_checker_data_dumps(daemon):
    proc, sock, conf, state = daemon
    os.kill(proc.pid, signal.SIGUSR1)
    files = (state / "keepalived.data", state / "keepalived_check.data")
    wait_for(lambda: all(f.exists() for f in files), timeout=10, what="both data dumps")
    assert files[1].read_text().endswith(" check data\n")  # written by the checker child itself
    assert files[0].read_text().startswith("------< VRRP Topology >------")


def test_usr2_writes_stats_dump(daemon):
    proc, sock, conf, state = daemon
    os.kill(proc.pid, signal.SIGUSR2)
    wait_for(lambda: (state / "keepalived.stats").exists(), timeout=10, what="stats dump")
    # keepalived's layout, one block per VRRP instance: this stub child runs none.
    assert (state / "keepalived.stats").read_text() == ""
    assert request(sock, "server", action="drain")["op"] == "server"  # routed to the checker child


def test_sigterm_stops_children_and_removes_pidfiles(daemon):
    proc, sock, conf, state = daemon
    pids = child_pids(sock)
    assert (state / "parent.pid").read_text().strip() == str(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    for pid in pids.values():
        assert "stop" in (state / f"{pid}.log").read_text().split("\n")
    assert not (state / "parent.pid").exists()
    assert not (state / "vrrp.pid").exists() and not (state / "checkers.pid").exists()
    assert not os.path.exists(sock)


def test_ctl_status_json(daemon, capsys):
    proc, sock, conf, state = daemon
    assert ctl.main(["--control-socket", sock, "status", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["children"]) == {"vrrp", "checker"}
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"


def test_systemd_notifications(tmp_path):
    """READY, RELOADING then READY (also after a failed reload), STOPPING and watchdog pings."""
    import socket as _socket

    notify = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(15)
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"value": 1}))
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               NOTIFY_SOCKET=str(tmp_path / "notify"), WATCHDOG_USEC="200000")
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "support.daemon_dummy", str(tmp_path), str(conf)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: list[str] = []

    def until(word: str) -> None:
        while True:
            msg = notify.recv(4096).decode()
            seen.append(msg)
            if word in msg.split("\n"):
                return

    try:
        until("READY=1")
        until("WATCHDOG=1")
        conf.write_text("broken")
        os.kill(proc.pid, signal.SIGHUP)
        until("RELOADING=1")
        until("READY=1")
        assert any(m.startswith("READY=1\nSTATUS=reload failed") for m in seen)
        proc.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()


def test_children_forked_early_stop_when_the_control_socket_fails(tmp_path):
    """The children are forked before the parent's own stack (daemon.main.run): when the parent
    then cannot serve its control socket, it stops them and exits 1, leaving no process behind."""
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"value": 1}))
    (tmp_path / "ctl.sock").mkdir()  # not a socket, and not removable as one
    (tmp_path / "ctl.sock" / "keep").write_text("")
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "support.daemon_dummy", str(tmp_path), str(conf)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "control socket" in proc.stdout + proc.stderr
    children = [int(p.stem) for p in tmp_path.glob("*.log")]
    for pid in children:  # reaped by the parent: gone, not zombies
        assert not os.path.exists(f"/proc/{pid}"), pid
    assert not (tmp_path / "parent.pid").exists()
