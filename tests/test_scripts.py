"""Script security and execution: refusals as keepalived's enable_script_security, no shell, timeouts."""
from __future__ import annotations

import asyncio
import os
import pwd
import time

import pytest

from lvsfast.scripts import ScriptError, check_script, resolve_user, run_script, split_command
from support.requires import need_root


def make_script(path, body="#!/bin/sh\nexit 0\n", mode=0o755):
    path.write_text(body)
    path.chmod(mode)
    return path


@pytest.fixture
def safe_dir(tmp_path):
    d = tmp_path / "safe"
    d.mkdir(mode=0o755)
    return d


def test_split_respects_quotes_and_never_uses_a_shell():
    assert split_command('/bin/echo "a b" c') == ("/bin/echo", "a b", "c")
    with pytest.raises(ScriptError):
        split_command('/bin/echo "unterminated')


def test_world_writable_script_refused_for_root(safe_dir):
    need_root()
    script = make_script(safe_dir / "s.sh", mode=0o777)
    with pytest.raises(ScriptError, match="writable by a non-root user"):
        check_script(str(script), user="root", group=None, security=True)


def test_script_in_writable_directory_refused(tmp_path):
    need_root()
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(0o777)
    script = make_script(d / "s.sh")
    with pytest.raises(ScriptError, match=f"directory {d}"):
        check_script(str(script), user="root", group=None, security=True)


def test_script_owned_by_unprivileged_user_refused(safe_dir):
    need_root()
    script = make_script(safe_dir / "s.sh")
    os.chown(script, pwd.getpwnam("nobody").pw_uid, -1)
    with pytest.raises(ScriptError, match="writable by a non-root user"):
        check_script(str(script), user="root", group=None, security=True)


def test_safe_script_accepted_and_relative_path_refused(safe_dir):
    script = make_script(safe_dir / "s.sh")
    argv, run_as = check_script(f"{script} arg", user="root", group=None, security=True)
    assert argv == (str(script), "arg") and run_as.uid == 0
    with pytest.raises(ScriptError, match="absolute path"):
        check_script("s.sh", user="root", group=None, security=True)


def test_metacharacters_are_arguments_not_shell(safe_dir, tmp_path):
    marker = tmp_path / "pwned"
    out = asyncio.run(run_script(("/bin/echo", f"; touch {marker}"), timeout=5))
    assert out.ok and out.output == f"; touch {marker}"
    assert not marker.exists()


def test_timeout_kills_the_whole_group_and_reaps(safe_dir, tmp_path):
    pidfile = tmp_path / "grandchild"
    script = make_script(safe_dir / "slow.sh", f"#!/bin/sh\nsleep 30 &\necho $! > {pidfile}\nwait\n")
    t0 = time.monotonic()
    res = asyncio.run(run_script((str(script),), timeout=0.5))
    assert res.timed_out and res.returncode is None
    assert time.monotonic() - t0 < 5
    grandchild = int(pidfile.read_text())

    def alive(pid: int) -> bool:
        # Killed orphans may linger as zombies until init reaps them: those count as dead.
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 3
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_runs_as_script_user(safe_dir):
    need_root()
    run_as = resolve_user("nobody")
    res = asyncio.run(run_script(("/usr/bin/id", "-u"), run_as=run_as, timeout=5))
    assert res.output == str(pwd.getpwnam("nobody").pw_uid)


def test_exit_codes_come_back():
    assert asyncio.run(run_script(("/bin/sh", "-c", "exit 3"), timeout=5)).returncode == 3
