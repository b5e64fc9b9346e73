"""PID files as keepalived writes them: the decimal pid and a newline, removed on clean exit."""
from __future__ import annotations

import os
from pathlib import Path

from lvsfast.paths import DEFAULT_CHECKERS_PID as DEFAULT_CHECKERS
from lvsfast.paths import DEFAULT_PID as DEFAULT_PARENT
from lvsfast.paths import DEFAULT_VRRP_PID as DEFAULT_VRRP


class PidFileError(RuntimeError):
    pass


def running_pid(path: str | Path) -> int | None:
    """The pid recorded in ``path`` if that process is alive, else None."""
    try:
        pid = int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def write(path: str | Path, pid: int | None = None) -> None:
    """Write ``pid`` (default: ours); refuse if another live process holds the file."""
    p = Path(path)
    other = running_pid(p)
    me = os.getpid() if pid is None else pid
    if other is not None and other != me and other != os.getppid():
        raise PidFileError(f"{p}: lvsfast already running as pid {other}")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(f"{me}\n")
    os.replace(tmp, p)


def remove(path: str | Path, pid: int | None = None) -> None:
    """Remove ``path`` only if it still names ``pid`` (default: ours)."""
    p = Path(path)
    try:
        if int(p.read_text().strip()) == (os.getpid() if pid is None else pid):
            p.unlink()
    except (OSError, ValueError):
        pass
