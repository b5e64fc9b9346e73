"""Joining a network namespace made by ``ip netns``: ``-s NAME`` and the top-level ``net_namespace``."""
from __future__ import annotations

import os

NETNS_DIR = "/run/netns"


def enter(name: str) -> None:
    """setns() into ``/run/netns/NAME``; raises OSError. Call before any socket is opened or any
    child forked: both keep the namespace they were made in."""
    import ctypes

    clone_newnet = 0x40000000
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, clone_newnet) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def failure(name: str, exc: OSError) -> str:
    """keepalived's line when the namespace cannot be joined."""
    return f"Unable to set network namespace {name} - exiting ({exc.strerror or exc})"
