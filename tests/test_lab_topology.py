"""Figure 2.1 builds: the client reaches the routers, the routers reach the real servers' HTTP."""
from __future__ import annotations

from lvsfast.lab.topology import Figure21
from support.requires import need_root


def test_figure21_connectivity():
    need_root()
    with Figure21() as topo:
        for name in topo.real:
            topo.start_http(name)
        topo.client.run("ping", "-c1", "-W2", "192.0.2.2")
        out = topo.routers["r1"].run("python3", "-c",
                                     "import urllib.request;print(urllib.request.urlopen('http://10.10.0.12/').read().decode())")
        assert out.stdout.strip() == "rs2"
        names = [ns.name for ns in topo.lab.namespaces.values()]
    from lvsfast.lab.netns import run
    left = run(["ip", "netns", "list"]).stdout
    assert not any(n in left for n in names)
