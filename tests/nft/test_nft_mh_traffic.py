"""lb_algo mh on nftables with real traffic (issue #29): 300 flows (ten client addresses, thirty
source ports each, mh-port) through the router to six real servers; one server leaves, then
comes back. Each flow is a new TCP connection from the same address and port every time, so the
router's nft rule picks its server afresh (conntrack reopens the closed entry)."""
from __future__ import annotations

import collections
import uuid

import pytest

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.lab.netns import Lab, wait_for
from support.nft import CLIENTS, HERE, PY, RS_PORT, SERVERS, VIP, build
from support.requires import need_binary, need_root

PORT2 = RS_PORT + 1
FLOWS = [(src, 21000 + i) for src in CLIENTS for i in range(30)]

# One connection per line of "SRC SPORT" on stdin; the server closes first (Connection: close),
# so the client keeps no TIME_WAIT on the port it binds again next time.
CLIENT = r'''
import socket, sys
vip, port = sys.argv[1], int(sys.argv[2])
for line in sys.stdin:
    src, sport = line.split()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, int(sport)))
    s.settimeout(5)
    s.connect((vip, port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    print(src, sport, data.split(b"\r\n\r\n", 1)[1].decode(), flush=True)
'''

KEY = ServiceKey(4, "tcp", VIP, 80)
REALS = {f"{name}{tag}": DestKey(addr, port) for name, addr in SERVERS.items()
         for tag, port in (("", RS_PORT), ("b", PORT2))}


def table(live: list[str]) -> Table:
    svc = Service(KEY, "mh", frozenset({"mh-port"}), configured=tuple(sorted((k, 1) for k in REALS.values())))
    return Table({KEY: svc}, {KEY: {REALS[n]: Dest(REALS[n], 1) for n in live}})


@pytest.fixture(scope="module")
def mlab():
    need_root()
    need_binary("ip", "nft")
    with Lab(prefix="nmh" + uuid.uuid4().hex[:5]) as lab:
        nl = build(lab)
        for name, ns in nl.servers.items():
            lab.spawn(ns, PY, HERE, "server", f"{name}b", str(PORT2))
        for name, addr in SERVERS.items():
            wait_for(lambda a=addr: nl.router.run("python3", "-c", f"import socket; socket.create_connection(('{a}', {PORT2}), 1)",
                                                  check=False).returncode == 0, what=f"{name}b listening")
        yield nl


def flows(nl) -> dict[tuple[str, int], str]:
    text = "".join(f"{s} {p}\n" for s, p in FLOWS)
    out = nl.client.run(PY, "-c", CLIENT, VIP, "80", input=text, timeout=120).stdout
    got = {}
    for line in out.splitlines():
        src, sport, name = line.split()
        got[(src, int(sport))] = name
    assert len(got) == len(FLOWS)
    return got


def test_nft_mh_removal_keeps_every_other_flow_on_its_server(mlab):
    everyone = sorted(REALS)
    mlab.apply(table(everyone))
    before = flows(mlab)
    spread = collections.Counter(before.values())
    assert set(spread) == set(REALS), spread  # 300 flows reach all six servers
    assert flows(mlab) == before  # the same flows again: the same servers
    victim = spread.most_common(1)[0][0]
    rest = [n for n in everyone if n != victim]
    mlab.apply(table(rest))
    after = flows(mlab)
    for f, name in before.items():
        if name != victim:
            assert after[f] == name, f  # exactly: a flow on another server stays there
        else:
            assert after[f] != victim  # its own flows found another server
    assert len({after[f] for f, n in before.items() if n == victim}) >= 2  # and were spread
    # It comes back: only its own flows go back to it, every other flow stays.
    mlab.apply(table(everyone))
    again = flows(mlab)
    assert again == before
