"""VIPs through one rtnetlink request each: what `ip addr` then shows, and the kernel's errors."""
from __future__ import annotations

import json
import sys

from lvsfast.lab.netns import Lab
from lvsfast.netlink import ack_code
from lvsfast.vrrp.rtnl import RTM_DELADDR, RTM_NEWADDR, address_message
from support.requires import need_binary, need_root

HELPER = r'''
import errno, json, subprocess
from lvsfast.vrrp.rtnl import AddressSocket, IFA_F_NODAD

s = AddressSocket()
s.change(True, "eth0", "192.0.2.10", 24, label="eth0:vip", broadcast="192.0.2.255")
s.change(True, "eth0", "192.0.2.11", 32, scope=254)
s.change(True, "eth0", "2001:db8::10", 64, flags=IFA_F_NODAD)
try:
    s.change(True, "eth0", "192.0.2.11", 32)
    dup = 0
except OSError as exc:
    dup = exc.errno
shown = json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", "eth0"], capture_output=True, text=True).stdout)
import socket
dumped = sorted([a, p] for i, a, p in s.dump() if i == socket.if_nametoindex("eth0"))
s.change(False, "eth0", "192.0.2.10", 24)
try:
    s.change(True, "nosuch0", "192.0.2.12", 32)
    nodev = 0
except OSError as exc:
    nodev = exc.errno
after = json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", "eth0"], capture_output=True, text=True).stdout)
s.close()
print(json.dumps({"dumped": dumped, "shown": shown[0]["addr_info"], "after": after[0]["addr_info"], "dup": dup, "nodev": nodev,
                  "eexist": errno.EEXIST, "enodev": errno.ENODEV}))
'''


def test_messages_ask_for_an_ack_and_acks_are_found():
    m = address_message(True, 7, 3, "192.0.2.1", 32)
    assert int.from_bytes(m[4:6], "little") == RTM_NEWADDR and int.from_bytes(m[0:4], "little") == len(m)
    assert int.from_bytes(address_message(False, 7, 3, "2001:db8::1", 64)[4:6], "little") == RTM_DELADDR
    ack = (36).to_bytes(4, "little") + (2).to_bytes(2, "little") + b"\0\0" + (7).to_bytes(4, "little") + b"\0" * 4
    assert ack_code(ack + (-17).to_bytes(4, "little", signed=True) + b"\0" * 16, 7) == 17
    assert ack_code(ack + b"\0" * 20, 8) is None
    assert ack_code(b"\0" * 10, 7) is None  # short input: not an ack, never an exception


def test_addresses_reach_the_kernel_as_ip_shows_them():
    need_root()
    need_binary("ip")
    with Lab() as lab:
        ns = lab.ns("rtnl")
        ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        ns.ip("link", "set", "eth0", "up")
        out = json.loads(ns.run(sys.executable, "-c", HELPER).stdout)
    by = {a["local"]: a for a in out["shown"]}
    v = by["192.0.2.10"]
    assert v["prefixlen"] == 24 and v["label"] == "eth0:vip" and v["broadcast"] == "192.0.2.255"
    assert by["192.0.2.11"]["scope"] == "host"
    assert by["2001:db8::10"]["prefixlen"] == 64 and "tentative" not in by["2001:db8::10"]  # no DAD: answers at once
    assert out["dup"] == out["eexist"] and out["nodev"] == out["enodev"]
    # The dump the periodic VIP check reads lists what ip shows, as (address, prefix).
    assert sorted([a["local"], a["prefixlen"]] for a in out["shown"]) == sorted(out["dumped"])
    assert {a["local"] for a in out["after"]} >= {"192.0.2.11", "2001:db8::10"}
    assert "192.0.2.10" not in {a["local"] for a in out["after"]}
