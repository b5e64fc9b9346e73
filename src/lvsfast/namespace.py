"""Joining a network namespace made by ``ip netns``: ``-s NAME`` and the top-level ``net_namespace``."""
from __future__ import annotations

import os

NETNS_DIR = "/run/netns"


_CLONE_NEWNET = 0x40000000
_CLONE_NEWNS = 0x00020000
_MS_REC, _MS_SLAVE = 0x4000, 0x80000
_MNT_DETACH = 2


def enter(name: str) -> None:
    """setns() into ``/run/netns/NAME``; raises OSError. Call before any socket is opened or any
    child forked: both keep the namespace they were made in.

    /sys shows the interfaces of the namespace that mounted it, so, as ``ip netns exec`` does
    (and keepalived makes its own mount namespace too), the process gets a private mount
    namespace, following the host's mounts, with a fresh /sys of the joined namespace. Files
    written elsewhere (pid files, the control socket under /run) stay the host's."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def ok(result: int) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        ok(libc.setns(fd, _CLONE_NEWNET))
    finally:
        os.close(fd)
    ok(libc.unshare(_CLONE_NEWNS))
    ok(libc.mount(b"none", b"/", None, _MS_REC | _MS_SLAVE, None))
    libc.umount2(b"/sys", _MNT_DETACH)  # nothing mounted there is fine too
    ok(libc.mount(name.encode(), b"/sys", b"sysfs", 0, None))


def failure(name: str, exc: OSError) -> str:
    """keepalived's line when the namespace cannot be joined."""
    return f"Unable to set network namespace {name} - exiting ({exc.strerror or exc})"
