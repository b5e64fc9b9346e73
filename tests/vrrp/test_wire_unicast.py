"""Unicast VRRP with keepalived 2.2.7 (unicast_src_ip / unicast_peer), and announcements from the VMAC.

Our sender's socket is bound to the chosen source address, so keepalived sees (and checks) the
unicast peer it was configured with; keepalived's unicast adverts reach our unbound receive socket.
"""
from __future__ import annotations

import sys
import time

import pytest

from support import keepalived as ka
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_segment import peer, segment  # noqa: F401  (fixture)

PY = sys.executable


@pytest.fixture
def pair(segment):
    return segment


UNICAST = "    unicast_src_ip 10.0.0.1\n    unicast_peer {\n        10.0.0.2\n    }\n"


def test_keepalived_unicast_adverts_decode(pair, tmp_path):
    lab, a, b, c = pair
    k = ka.start(lab, a, ka.vrrp_config(version=3, family=4, vips=["192.0.2.100/24"], state="MASTER", priority=120,
                                        extra=UNICAST), tmp_path)
    # Listen once it advertises: a loaded machine can take seconds to start keepalived.
    k.wait_for_log("Entering MASTER STATE", timeout=15)
    out = peer(b, "listen", "--family", "4", "--version", "3", "--vrid", "51", "--vips", "192.0.2.100",
               "--seconds", "3.5")
    adverts = [o for o in out if "vrid" in o]
    assert adverts, out
    adv = adverts[-1]
    assert (adv["version"], adv["priority"], adv["src"], adv["ttl"], adv["addresses"], adv["pseudo_header"]) == \
        (3, 120, "10.0.0.1", 255, ["192.0.2.100"], 1)
    assert out[-1]["counters"]["accepted"] == len(adverts)


def test_keepalived_accepts_our_unicast_adverts(pair, tmp_path):
    lab, a, b, c = pair
    k = ka.start(lab, a, ka.vrrp_config(version=2, family=4, vips=["192.0.2.100/24"], state="MASTER", priority=100,
                                        extra=UNICAST), tmp_path)
    k.wait_for_log("Entering MASTER STATE", timeout=15)
    mark = len(k.text())
    peer(b, "send", "--family", "4", "--version", "2", "--vrid", "51", "--prio", "200", "--src", "10.0.0.2",
         "--dst", "10.0.0.1", "--vips", "192.0.2.100", "--seconds", "3")
    text = k.wait_for_log("Entering BACKUP STATE", timeout=5, after=mark)
    assert "invalid" not in text[mark:].lower()


ANNOUNCE = """
import sys
from lvsfast.vrrp.transport import FrameSender
from lvsfast.vrrp.wire import build_garp, build_na
from lvsfast.vrrp.wire_types import vrrp_mac
ip, src = sys.argv[1], sys.argv[2]
f = FrameSender("eth0")
mac = vrrp_mac(51, 6 if ":" in ip else 4)
frame = build_na(mac, src, ip, router=True) if ":" in ip else build_garp(mac, ip)
for _ in range(3):
    f.send(frame)
f.close()
"""


def _neigh_mac(ns, ip: str) -> str:
    out = ns.ip("-6" if ":" in ip else "-4", "neigh", "show", ip, "dev", "eth0").stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else ""


@pytest.mark.parametrize("ip,mac", [("192.0.2.100", "00:00:5e:00:01:33"), ("2001:db8::100", "00:00:5e:00:02:33")])
def test_announcement_from_vmac_updates_client(pair, ip, mac):
    lab, a, b, c = pair
    c.ip("-6" if ":" in ip else "-4", "neigh", "replace", ip, "lladdr", "02:00:00:00:00:99", "dev", "eth0",
         "nud", "stale")
    b.run(PY, "-c", ANNOUNCE, ip, "fe80::2", timeout=30, env=ka.peer_env())
    deadline = time.monotonic() + 5
    while _neigh_mac(c, ip) != mac and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _neigh_mac(c, ip) == mac
