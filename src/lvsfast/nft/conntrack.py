"""Connections per real server from conntrack: what draining waits on with the nftables backend.

NAT flows are conntrack entries whose original destination is the VIP and whose reply source
is the real server. Entries on their way out (TIME_WAIT, CLOSE, ...) do not count.
"""
from __future__ import annotations

import asyncio
from collections import Counter

from lvsfast.dataplane.model import DestKey, ServiceKey

_PROTO = {"tcp": "tcp", "udp": "udp", "sctp": "sctp"}
_ENDING = {"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "FIN_WAIT"}


def parse(text: str) -> Counter[tuple[ServiceKey, DestKey]]:
    """Count live NAT flows in ``conntrack -L`` output by (service, real server)."""
    out: Counter[tuple[ServiceKey, DestKey]] = Counter()
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] not in _PROTO:
            continue
        if words[0] == "tcp" and len(words) > 3 and words[3] in _ENDING:
            continue
        kv: dict[str, list[str]] = {}
        for w in words:
            if "=" in w:
                k, v = w.split("=", 1)
                kv.setdefault(k, []).append(v)
        try:
            vip, vport = kv["dst"][0], int(kv["dport"][0])
            rs, rport = kv["src"][1], int(kv["sport"][1])
        except (KeyError, IndexError, ValueError):
            continue
        if (vip, vport) == (rs, rport):
            continue  # not translated
        out[(ServiceKey(4, words[0], vip, vport), DestKey(rs, rport))] += 1
    return out


async def connections() -> Counter[tuple[ServiceKey, DestKey]]:
    """Live NAT flows per (service, real server) in this namespace (needs the conntrack tool)."""
    import shutil  # here: shutil brings bz2 and lzma, and the checker child rarely drains

    exe = shutil.which("conntrack") or "/usr/sbin/conntrack"
    proc = await asyncio.create_subprocess_exec(exe, "-L", "-f", "ipv4", stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return parse(out.decode(errors="replace"))
