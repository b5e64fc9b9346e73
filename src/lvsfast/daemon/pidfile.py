"""PID files as keepalived writes them: the decimal pid and a newline, removed on clean exit."""
from __future__ import annotations

import os

from lvsfast.paths import DEFAULT_CHECKERS_PID as DEFAULT_CHECKERS
from lvsfast.paths import DEFAULT_PID as DEFAULT_PARENT
from lvsfast.paths import DEFAULT_VRRP_PID as DEFAULT_VRRP


class PidFileError(RuntimeError):
    pass


# os rather than pathlib here, in the control socket and in lvsfast.scripts: pathlib (and the
# urllib.parse it imports) was 8 ms of the daemon's imports before its VRRP child could start.


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def running_pid(path: str | os.PathLike[str]) -> int | None:
    """The pid recorded in ``path`` if that process is alive, else None."""
    try:
        pid = int(_read(os.fspath(path)).strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    # A zombie answers kill(pid, 0): a daemon killed with its children (SIGKILL to the group)
    # leaves them unreaped for a moment, and they must not stop its successor from starting.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
    except (OSError, IndexError):
        pass
    return pid


def write(path: str | os.PathLike[str], pid: int | None = None) -> None:
    """Write ``pid`` (default: ours); refuse if another live process holds the file."""
    p = os.fspath(path)
    other = running_pid(p)
    me = os.getpid() if pid is None else pid
    if other is not None and other != me and other != os.getppid():
        raise PidFileError(f"{p}: lvsfast already running as pid {other}")
    os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
    tmp = p + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{me}\n")
    os.replace(tmp, p)


def remove(path: str | os.PathLike[str], pid: int | None = None) -> None:
    """Remove ``path`` only if it still names ``pid`` (default: ours)."""
    p = os.fspath(path)
    try:
        if int(_read(p).strip()) == (os.getpid() if pid is None else pid):
            os.unlink(p)
    except (OSError, ValueError):
        pass
