"""The namespace lab builds a bridged network that really passes traffic, and leaves nothing behind."""
from __future__ import annotations

from lvsfast.lab.netns import run
from support.netns import lab  # noqa: F401  (fixture)


def test_bridge_ping_and_cleanup(lab):
    sw, a, b = lab.ns("sw"), lab.ns("a"), lab.ns("b")
    lab.bridge(sw)
    lab.plug(sw, a, "eth0")
    lab.plug(sw, b, "eth0")
    a.ip("addr", "add", "10.99.0.1/24", "dev", "eth0")
    b.ip("addr", "add", "10.99.0.2/24", "dev", "eth0")
    a.run("ping", "-c1", "-W2", "10.99.0.2")
    names = [ns.name for ns in lab.namespaces.values()]
    lab.close()
    left = run(["ip", "netns", "list"]).stdout
    assert not any(n in left for n in names)
