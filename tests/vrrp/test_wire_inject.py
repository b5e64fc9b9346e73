"""Malformed IPv6 VRRP packets on a real link: hop limit, checksum, length and source rules are
counted under their own reasons from the ancillary data, and the receiver keeps decoding."""
from __future__ import annotations

import json
import subprocess
import sys

from lvsfast.lab.netns import wait_for
from support import keepalived as ka
from support.netns import lab  # noqa: F401  (fixture)

PY = sys.executable

INJECT6 = """
import socket, sys
from lvsfast.vrrp.wire import AdvertBuilder
src = sys.argv[1]
def sender(hops):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
    s.bind((src, 0, 0, socket.if_nametoindex("eth0")))
    return s
dst = ("ff02::12", 0, 0, socket.if_nametoindex("eth0"))
good = AdvertBuilder(3, 51, 100, ["2001:db8::100"], 6, src, "ff02::12").build(50)
wrong_src = AdvertBuilder(3, 51, 100, ["2001:db8::100"], 6, "fe80::dead", "ff02::12").build(50)
s255, s64 = sender(255), sender(64)
s64.sendto(good, dst)                                  # hop limit 64: bad_ttl
s255.sendto(wrong_src, dst)                            # pseudo-header of another source: bad_checksum
s255.sendto(good[:6] + b"\\0\\0" + good[8:], dst)        # bad_checksum
s255.sendto(good[:20], dst)                            # length_mismatch
s255.sendto(b"\\x21" + good[1:], dst)                   # VRRPv2 over IPv6: bad_family
s255.sendto(b"\\x31", dst)                              # too_short
s255.sendto(good, dst)                                 # still accepted afterwards
"""


def test_malformed_ipv6_packets_counted_and_receiver_survives(lab):
    sw, a, b = lab.ns("sw"), lab.ns("tx"), lab.ns("rx")
    lab.bridge(sw)
    for ns in (a, b):
        lab.plug(sw, ns, "eth0")
    # The sender binds its link-local address, which must have finished DAD.
    wait_for(lambda: not a.ip("-6", "addr", "show", "dev", "eth0", "tentative").stdout.strip(), timeout=10)
    out = a.ip("-6", "-o", "addr", "show", "dev", "eth0", "scope", "link").stdout
    src = out.split()[3].split("/")[0]
    listener = b.popen(PY, "-m", "support.vrrp_peer", "listen", "--family", "6", "--version", "3", "--vrid", "51",
                       "--vips", "2001:db8::100", "--seconds", "3", env=ka.peer_env(), stdout=subprocess.PIPE,
                       text=True)
    assert json.loads(listener.stdout.readline())["ready"]
    a.run(PY, "-c", INJECT6, src, timeout=30, env=ka.peer_env())
    lines = [json.loads(line) for line in listener.stdout.read().splitlines() if line.startswith("{")]
    listener.wait(10)
    counters = lines[-1]["counters"]
    drops = {k: v for k, v in counters.items() if k not in ("received", "accepted") and v}
    assert counters["accepted"] == 1, lines
    assert drops == {"bad_ttl": 1, "bad_checksum": 2, "length_mismatch": 1, "bad_family": 1, "too_short": 1}, drops
    assert [o["src"] for o in lines if "vrid" in o] == [src]
