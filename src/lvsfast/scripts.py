"""Running user scripts safely: notify scripts, track scripts, MISC_CHECK, notify_up/down.

Follows keepalived's ``enable_script_security`` / ``script_user``: a script that would run as
root is refused when the file, or any directory on its path, can be written by a non-root user
(an unprivileged user could otherwise make root run anything). Scripts never go through a
shell: the configured line is split into argv the way keepalived splits it (quotes respected).
Each run has a timeout; on expiry the whole process group gets SIGTERM, then SIGKILL, and the
process is always reaped.
"""
from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shlex
import signal
import stat

from lvsfast.frozen import record

DEFAULT_SCRIPT_USER = "keepalived_script"  # keepalived's default, used when that user exists
KILL_GRACE = 1.0


class ScriptError(ValueError):
    """A script that may not or cannot be run, with the reason."""


@record
class RunAs:
    uid: int
    gid: int
    name: str


@record
class ScriptResult:
    argv: tuple[str, ...]
    returncode: int | None  # None when killed for the timeout
    timed_out: bool
    output: str  # the last lines of stdout/stderr, for the log

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def split_command(line: str) -> tuple[str, ...]:
    """argv from a configured script line; raises ScriptError on unbalanced quotes or nothing."""
    try:
        argv = tuple(shlex.split(line))
    except ValueError as exc:
        raise ScriptError(f"cannot parse script {line!r}: {exc}") from None
    if not argv:
        raise ScriptError("empty script")
    return argv


def resolve_user(user: str | None, group: str | None = None) -> RunAs:
    """The identity a script runs as: ``user [group]``, else keepalived_script, else root."""
    name = user
    if name is None:
        try:
            pwd.getpwnam(DEFAULT_SCRIPT_USER)
            name = DEFAULT_SCRIPT_USER
        except KeyError:
            name = "root"
    try:
        pw = pwd.getpwnam(name) if not name.isdigit() else pwd.getpwuid(int(name))
    except KeyError:
        raise ScriptError(f"script user {name!r} does not exist") from None
    gid = pw.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid if not group.isdigit() else int(group)
        except KeyError:
            raise ScriptError(f"script group {group!r} does not exist") from None
    return RunAs(pw.pw_uid, gid, pw.pw_name)


def _writable_by_others(st: os.stat_result, run_as: RunAs) -> bool:
    mode = st.st_mode
    if mode & stat.S_IWOTH:
        # A sticky directory (like /tmp) does not let others replace entries they do not own.
        return not (stat.S_ISDIR(mode) and mode & stat.S_ISVTX)
    if mode & stat.S_IWGRP and st.st_gid != 0:
        return not (stat.S_ISDIR(mode) and mode & stat.S_ISVTX)
    return st.st_uid not in (0, run_as.uid)


def insecure_reason(argv0: str, run_as: RunAs) -> str | None:
    """Why running ``argv0`` as ``run_as`` is unsafe, or None. Only root runs are judged, as keepalived does."""
    # os.path rather than pathlib: see lvsfast.daemon.pidfile.
    if not os.path.isabs(argv0):
        return f"{argv0}: not an absolute path, so what runs depends on PATH"
    try:
        target = os.path.realpath(argv0, strict=True)
    except OSError as exc:
        return f"{argv0}: {exc.strerror}"
    if run_as.uid != 0:
        return None
    p = target
    while True:  # the file, then each directory up to /
        if _writable_by_others(os.stat(p), run_as):
            what = "it" if p == target else f"directory {p}"
            return f"{argv0}: {what} is writable by a non-root user, refusing to run it as root"
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


def check_script(line: str, *, user: str | None, group: str | None, security: bool) -> tuple[tuple[str, ...], RunAs]:
    """Validate a configured script once (at config load); raises ScriptError when refused."""
    argv = split_command(line)
    run_as = resolve_user(user, group)
    reason = insecure_reason(argv[0], run_as)
    if reason and (security or not os.path.isabs(argv[0])):
        raise ScriptError(reason)
    if not os.access(argv[0], os.X_OK):
        raise ScriptError(f"{argv[0]}: not executable")
    return argv, run_as


async def run_script(argv: tuple[str, ...], *, run_as: RunAs | None = None, timeout: float = 10.0,
                     env: dict[str, str] | None = None) -> ScriptResult:
    """Run without a shell; kill the process group on timeout; always reap."""
    kwargs: dict = {}
    if run_as is not None and os.geteuid() == 0 and run_as.uid != 0:
        kwargs.update(user=run_as.uid, group=run_as.gid, extra_groups=[])
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout kills its children too
        env=env,
        close_fds=True,
        **kwargs,
    )
    tail = bytearray()

    async def drain() -> None:
        # Keep reading so a chatty script never blocks on a full pipe; keep only the tail.
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            tail.extend(chunk)
            del tail[:-4000]

    reader = asyncio.create_task(drain())
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        timed_out = True
        _killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), KILL_GRACE)
        except asyncio.TimeoutError:
            _killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    # A descendant that left the process group may still hold the pipe: don't wait for it.
    try:
        await asyncio.wait_for(reader, 0.5)
    except asyncio.TimeoutError:
        pass
    text = bytes(tail[-2000:]).decode(errors="replace").strip()
    return ScriptResult(tuple(argv), None if timed_out else proc.returncode, timed_out, text)


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
