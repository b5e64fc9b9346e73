"""One switched segment with three hosts for the wire tests: keepalived (ka), us (me), a client (cl)."""
from __future__ import annotations

import json
import sys

import pytest

from support import keepalived as ka
from support.netns import lab  # noqa: F401  (fixture)


@pytest.fixture
def segment(lab):
    sw, a, b, c = lab.ns("sw"), lab.ns("ka"), lab.ns("me"), lab.ns("cl")
    lab.bridge(sw)
    for i, ns in enumerate((a, b, c), start=1):
        lab.plug(sw, ns, "eth0")
        ns.ip("addr", "add", f"10.0.0.{i}/24", "dev", "eth0")
        ns.ip("-6", "addr", "add", f"2001:db8::{i}/64", "dev", "eth0", "nodad")
    return lab, a, b, c


def link_local(ns) -> str:
    out = ns.ip("-6", "-o", "addr", "show", "dev", "eth0", "scope", "link").stdout
    return out.split()[3].split("/")[0]


def peer(ns, *args: str, timeout: float = 30, twins: bool = False) -> list[dict]:
    """Run ``support.vrrp_peer`` in ``ns`` and return its JSON lines."""
    env = ka.peer_env()
    if twins:
        env["LVSFAST_NO_EXTENSIONS"] = "1"
    out = ns.run(sys.executable, "-m", "support.vrrp_peer", *args, timeout=timeout, env=env)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
