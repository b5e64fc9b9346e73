"""Link and address notifications: the parser on crafted messages, and the kernel's own in a netns."""
from __future__ import annotations

import json
import socket
import struct
import sys

from lvsfast.lab.netns import Lab
from lvsfast.netlink import attr
from lvsfast.vrrp.link_watch import RTM_DELADDR, RTM_NEWLINK, Changes, LinkEvents
from support.requires import need_binary, need_root


def msg(mtype: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


def newlink(name: str) -> bytes:
    return msg(RTM_NEWLINK, struct.pack("=BBHiII", 0, 0, 1, 3, 0, 0) + attr(3, name.encode() + b"\0"))


def deladdr(address: str) -> bytes:
    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    raw = socket.inet_pton(fam, address)
    return msg(RTM_DELADDR, struct.pack("=BBBBI", fam, 24, 0, 0, 3) + attr(1, raw) + attr(2, raw))


def test_links_and_deleted_addresses_from_one_datagram():
    ch = LinkEvents().feed(newlink("eth0") + deladdr("10.0.0.100") + deladdr("2001:db8::a") + newlink("eth1"),
                           Changes())
    assert ch.links == {"eth0", "eth1"}
    assert ch.deleted == {"10.0.0.100", "2001:db8::a"}
    assert not ch.everything and ch


def test_truncated_and_foreign_messages_are_skipped_without_error():
    ev = LinkEvents()
    assert not ev.feed(newlink("eth0")[:20], Changes())
    assert not ev.feed(msg(20, b"\0" * 8), Changes())  # RTM_NEWADDR: not a loss
    assert not ev.feed(b"\xff" * 7, Changes())
    bad = msg(RTM_DELADDR, struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, 3) + attr(1, b"\1\2"))
    assert not ev.feed(bad, Changes())  # a 2-byte IPv4 address is ignored


HELPER = r'''
import asyncio, json, subprocess
from lvsfast.vrrp.link_watch import LinkWatch

async def main():
    got = []
    seen = asyncio.Event()
    def on(ch):
        got.append({"links": sorted(ch.links), "deleted": sorted(ch.deleted)})
        if any("10.0.0.100" in g["deleted"] for g in got) and any("eth0" in g["links"] for g in got):
            seen.set()
    w = LinkWatch(on)
    subprocess.run(["ip", "addr", "del", "10.0.0.100/24", "dev", "eth0"], check=True)
    subprocess.run(["ip", "link", "set", "eth1", "down"], check=True)  # the peer: eth0 loses its carrier
    await asyncio.wait_for(seen.wait(), 5)
    w.close()
    print(json.dumps(got))

asyncio.run(main())
'''


def test_the_kernel_reports_a_lost_carrier_and_a_deleted_vip():
    need_root()
    need_binary("ip")
    with Lab() as lab:
        ns = lab.ns("lw")
        ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        ns.ip("link", "set", "eth0", "up")
        ns.ip("link", "set", "eth1", "up")
        ns.ip("addr", "add", "10.0.0.100/24", "dev", "eth0")
        got = json.loads(ns.run(sys.executable, "-c", HELPER).stdout)
    assert any("10.0.0.100" in g["deleted"] for g in got)
    assert any("eth0" in g["links"] for g in got)
