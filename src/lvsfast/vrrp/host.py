"""What the VRRP engine reads and sets on the host itself, outside netlink: the process table
(track_process) and an interface's promote_secondaries switch."""
from __future__ import annotations

import logging
import os

log = logging.getLogger("lvsfast.vrrp")


def promote_secondaries(ifname: str) -> None:
    """promote_secondaries: removing one VIP must not take the others of its subnet with it
    (without the flag the kernel deletes every secondary address when the primary goes)."""
    path = f"/proc/sys/net/ipv4/conf/{ifname}/promote_secondaries"
    try:
        with open(path, "w") as f:
            f.write("1")
    except OSError as exc:
        log.error("cannot set promote_secondaries on %s: %s", ifname, exc)


def process_table() -> list[tuple[str, list[str]]]:
    """(comm, argv) of every process, read from /proc."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().rstrip("\n")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        out.append((comm, argv))
    return out
