"""lvsfast's BFD sessions against FRR 8.4's bfdd (standalone) and keepalived 2.2.7's bfd_instance,
each in its own namespace on one veth: the session comes Up, and goes Down when either end
stops or the link is cut, both ways, at 300 ms x 3 and 10 ms x 3, IPv4 and IPv6 (single hop),
multihop with FRR; timers renegotiated on a reload without the session going down; and
track_bfd puts a VRRP instance in FAULT when the session goes Down, as keepalived does."""
from __future__ import annotations

import time

import pytest

from support.bfd_peers import (FrrBfd, KeepalivedBfd, LvsfastDaemon, keepalived_bfd_config, lab, pair,
                               wait_state)
from support.requires import need_binary, need_root

pytestmark = [pytest.mark.netns, pytest.mark.root]

TIMERS = {"300ms": (300, 3), "10ms": (10, 3)}


@pytest.fixture
def bfd_lab():
    need_root()
    need_binary("ip")
    with lab() as L:
        yield L


def lvsfast_conf(name: str, neighbor: str, source: str, ms: float, mult: int, family: int, *,
                 multihop: bool = False, vrrp: str = "") -> str:
    hop = "    hoplimit 255\n" if family == 6 else ""
    mh = "    multihop\n    max_hops 255\n" if multihop else ""
    vip = "10.71.9.9/32" if family == 4 else "fd71::99/128"
    return (f"bfd_instance {name} {{\n    neighbor_ip {neighbor}\n    source_ip {source}\n    min_rx {ms:g}\n"
            f"    min_tx {ms:g}\n    multiplier {mult}\n{hop}{mh}}}\n"
            f"vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 99\n"
            f"    priority 100\n    advert_int 1\n{vrrp}    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n")


def detect_bound(ms: float, mult: int) -> float:
    # Detection time plus room for a loaded 2-core machine and the log/vty polling.
    return ms * mult / 1000 + 3.0


def _peer(kind: str, L, ns, tmp_path):
    if kind == "frr":
        return FrrBfd(L, ns)
    need_binary("keepalived")
    return KeepalivedBfd(L, ns, tmp_path / "ka")


def _start_peer(peer, kind: str, lf_addr: str, peer_addr: str, ms: float, mult: int, family: int,
                multihop: bool = False) -> None:
    if kind == "frr":
        peer.start(peer.config(lf_addr, peer_addr, rx_ms=int(ms), tx_ms=int(ms), mult=mult, multihop=multihop))
    else:
        peer.start(keepalived_bfd_config("KB", lf_addr, peer_addr, rx_ms=ms, tx_ms=ms, mult=mult, family=family))


def _peer_state(peer, kind: str, lf_addr: str) -> str:
    return peer.state(lf_addr) if kind == "frr" else peer.state("KB")


@pytest.mark.parametrize("timers", sorted(TIMERS))
@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kind", ["frr", pytest.param("keepalived", marks=pytest.mark.keepalived)])
def test_up_and_down_both_ways(bfd_lab, tmp_path, kind, family, timers):
    ms, mult = TIMERS[timers]
    a, b, lf_addr, peer_addr = pair(bfd_lab, family)
    lf = LvsfastDaemon(bfd_lab, a, tmp_path / "lf")
    peer = _peer(kind, bfd_lab, b, tmp_path)
    lf.start(lvsfast_conf("B1", peer_addr, lf_addr, ms, mult, family))
    _start_peer(peer, kind, lf_addr, peer_addr, ms, mult, family)
    wait_state(lambda: lf.state("B1"), "UP", 20)
    wait_state(lambda: _peer_state(peer, kind, lf_addr), "up", 10)

    # The peer dies: lvsfast's session goes Down within the detection time.
    peer.stop()
    wait_state(lambda: lf.state("B1"), "DOWN", detect_bound(ms, mult))
    assert "Control Detection Time Expired" in lf.text()

    # It comes back; then lvsfast dies, and the peer sees the session go Down.
    _start_peer(peer, kind, lf_addr, peer_addr, ms, mult, family)
    wait_state(lambda: lf.state("B1"), "UP", 20)
    wait_state(lambda: _peer_state(peer, kind, lf_addr), "up", 10)
    lf.stop()
    wait_state(lambda: _peer_state(peer, kind, lf_addr), "down", detect_bound(ms, mult))

    # Both up again, then the cable is cut: both ends go Down. (A daemon restarted right after
    # a SIGKILL can take a few child restarts to come up: its old children are still exiting.)
    lf.start(lvsfast_conf("B1", peer_addr, lf_addr, ms, mult, family))
    wait_state(lambda: _peer_state(peer, kind, lf_addr), "up", 40)
    ups = lf.text().count("Entering UP")
    b.ip("link", "set", "eth0", "down")
    wait_state(lambda: lf.state("B1"), "DOWN", detect_bound(ms, mult))
    wait_state(lambda: _peer_state(peer, kind, lf_addr), "down", detect_bound(ms, mult))
    assert lf.text().count("Entering UP") == ups
    b.ip("link", "set", "eth0", "up")
    wait_state(lambda: lf.state("B1"), "UP", 20)
    peer.stop()
    lf.stop(hard=False)


def test_multihop_with_frr(bfd_lab, tmp_path):
    a, b, lf_addr, peer_addr = pair(bfd_lab, 4)
    lf = LvsfastDaemon(bfd_lab, a, tmp_path / "lf")
    frr = FrrBfd(bfd_lab, b)
    lf.start(lvsfast_conf("B1", peer_addr, lf_addr, 300, 3, 4, multihop=True))
    frr.start(frr.config(lf_addr, peer_addr, rx_ms=300, tx_ms=300, mult=3, multihop=True))
    wait_state(lambda: lf.state("B1"), "UP", 20)
    wait_state(lambda: frr.state(lf_addr), "up", 10)
    assert frr.peer(lf_addr).get("multihop") is True
    frr.stop()
    wait_state(lambda: lf.state("B1"), "DOWN", detect_bound(300, 3))
    frr.close()
    lf.stop(hard=False)


@pytest.mark.parametrize("kind", ["frr", pytest.param("keepalived", marks=pytest.mark.keepalived)])
def test_timers_renegotiated_both_ways_without_going_down(bfd_lab, tmp_path, kind):
    a, b, lf_addr, peer_addr = pair(bfd_lab, 4)
    lf = LvsfastDaemon(bfd_lab, a, tmp_path / "lf")
    peer = _peer(kind, bfd_lab, b, tmp_path)
    lf.start(lvsfast_conf("B1", peer_addr, lf_addr, 300, 3, 4))
    _start_peer(peer, kind, lf_addr, peer_addr, 300, 3, 4)
    wait_state(lambda: lf.state("B1"), "UP", 20)
    wait_state(lambda: _peer_state(peer, kind, lf_addr), "up", 10)
    # lvsfast's intervals change on a reload: a Poll sequence, the peer adopts them.
    lf.reload(lvsfast_conf("B1", peer_addr, lf_addr, 50, 3, 4))
    if kind == "frr":
        wait_state(lambda: str(peer.peer(lf_addr).get("remote-transmit-interval")), "50", 10)
    else:
        deadline = time.monotonic() + 10
        while "remote    50000" not in peer.text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "remote    50000" in peer.text(), peer.text()[-2000:]
    # The peer's change, the other way.
    if kind == "frr":
        peer.reconfigure(lf_addr, peer_addr, rx_ms=100, tx_ms=100, mult=5)
        wait_state(lambda: str(peer.peer(lf_addr).get("transmit-interval")), "100", 10)
    else:
        peer.reload(keepalived_bfd_config("KB", lf_addr, peer_addr, rx_ms=100, tx_ms=100, mult=5))
    time.sleep(2)
    assert lf.state("B1") == "UP" and _peer_state(peer, kind, lf_addr).lower() == "up"
    assert lf.text().count("Entering DOWN") == 0, lf.text()[-3000:]
    assert "timers changed" in lf.text()
    peer.stop()
    lf.stop(hard=False)


@pytest.mark.keepalived
@pytest.mark.parametrize("who", ["lvsfast", "keepalived"])
def test_track_bfd_puts_vrrp_in_fault_when_the_session_goes_down(bfd_lab, tmp_path, who):
    # The tracking side is lvsfast or keepalived, its BFD peer FRR: both go FAULT alike.
    a, b, lf_addr, peer_addr = pair(bfd_lab, 4)
    frr = FrrBfd(bfd_lab, b)
    frr.start(frr.config(lf_addr, peer_addr, rx_ms=100, tx_ms=100, mult=3))
    track = "    track_bfd {\n        B1\n    }\n"
    conf = lvsfast_conf("B1", peer_addr, lf_addr, 100, 3, 4, vrrp=track)
    if who == "lvsfast":
        d = LvsfastDaemon(bfd_lab, a, tmp_path / "lf")
        d.start(conf)
        vrrp_state = lambda: d.vrrp_state("VI_1")  # noqa: E731
    else:
        d = KeepalivedBfd(bfd_lab, a, tmp_path / "ka")
        d.start(conf.replace("bfd_instance B1", "bfd_instance B1"))

        def vrrp_state() -> str:
            last = "none"
            for line in d.text().splitlines():
                if "(VI_1) Entering " in line:
                    last = line.split("Entering ", 1)[1].split()[0]
            return last
    wait_state(vrrp_state, "MASTER", 20)
    frr.stop()
    wait_state(vrrp_state, "FAULT", 5)
    frr.start(frr.config(lf_addr, peer_addr, rx_ms=100, tx_ms=100, mult=3))
    wait_state(vrrp_state, "MASTER", 20)
    frr.close()
    d.stop(hard=False)


SENDER = """
import socket, sys
from lvsfast.bfd.wire import encode
dst, ttl, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
s.bind(("0.0.0.0", 49200))
pkt = bytearray(encode(1, 0, 3, 0x1234, 0, 300000, 300000))  # a valid Down: only its TTL is wrong
if what == "up":
    pkt = bytearray(encode(3, 0, 3, 0x1234, 0, 300000, 300000))  # Up without knowing our discriminator
elif what == "version":
    pkt[0] = (2 << 5) | (pkt[0] & 0x1F)
elif what == "disc":
    pkt = bytearray(encode(3, 0, 3, 0x1234, 0xDEADBEEF, 300000, 300000))
for _ in range(20):
    s.sendto(bytes(pkt), (dst, 3784))
"""


def test_hostile_packets_are_counted_and_dropped_never_a_false_up(bfd_lab, tmp_path):
    import sys

    a, b, lf_addr, peer_addr = pair(bfd_lab, 4)
    lf = LvsfastDaemon(bfd_lab, a, tmp_path / "lf")
    lf.start(lvsfast_conf("B1", peer_addr, lf_addr, 300, 3, 4))
    wait_state(lambda: "ok" if "B1" in lf.bfd_status() else "not yet", "ok", 30)
    for ttl, what in ((254, "ok"), (255, "up"), (255, "version"), (255, "disc")):
        b.run(sys.executable, "-c", SENDER, lf_addr, str(ttl), what)
    time.sleep(1)
    st = lf.bfd_status()
    assert st["B1"]["drops"].get("ttl", 0) == 20, st
    assert st["B1"]["drops"].get("version", 0) == 20, st
    assert st["B1"]["drops"].get("your_disc_zero_state", 0) == 20, st
    assert st.get("_unmatched", {}).get("your_disc", 0) == 20, st
    assert st["B1"]["received"] == 0 and st["B1"]["state"] == "Down"
    assert "Entering UP" not in lf.text() and "Entering INIT" not in lf.text()
    lf.stop(hard=False)
