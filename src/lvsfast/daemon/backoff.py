"""When to restart a crashed child: exponential backoff, forgiven after a stable run."""
from __future__ import annotations

from lvsfast.frozen import record

BASE = 0.5
CAP = 30.0
STABLE_AFTER = 60.0


@record
class Restart:
    delay: float
    failures: int


def next_restart(failures: int, ran_for: float) -> Restart:
    """The delay before restarting a child that ran ``ran_for`` seconds and had ``failures`` before."""
    if ran_for >= STABLE_AFTER:
        failures = 0
    return Restart(min(CAP, BASE * (2 ** failures)), failures + 1)


def describe_exit(status: int) -> str:
    """A waitpid status in words: 'exited with status 3' or 'killed by signal 9 (SIGKILL)'."""
    import os
    import signal

    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        core = ", core dumped" if os.WCOREDUMP(status) else ""
        return f"killed by signal {sig} ({name}{core})"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return f"stopped (status {status:#x})"
