"""use_ipvlan's RTM_NEWLINK, byte for byte against iproute2's for the same interface
(``strace -e raw=sendmsg ip link add link d0 name ipvl0 up type ipvlan mode l2 private``, the
sequence number aside): this host's kernel has no ipvlan, so the live test runs in the VM
(tests/ipvs_vm/test_ipvsvm_ipvlan.py)."""
from __future__ import annotations

import struct

from lvsfast.vrrp.rtnl import ipvlan_message

IPROUTE2 = bytes.fromhex(
    "58000000" "1000" "0506" "bc78126b" "00000000"          # header: RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
    "00000000" "00000000" "01000000" "01000000"             # ifinfomsg: AF_UNSPEC, index 0, IFF_UP / change IFF_UP
    "08000500" "03000000"                                   # IFLA_LINK 3
    "0a000300" "6970766c30000000"                           # IFLA_IFNAME "ipvl0"
    "24001200" "0a000100" "6970766c616e0000"                # IFLA_LINKINFO { IFLA_INFO_KIND "ipvlan"
    "14000200" "0600010000000000" "0600020001000000")       #   IFLA_INFO_DATA { MODE L2, FLAGS private } }


def test_ipvlan_message_is_iproute2s():
    assert ipvlan_message(0x6B1278BC, "ipvl0", 3, "private") == IPROUTE2


def test_modes():
    for mode, flags in (("bridge", 0), ("private", 1), ("vepa", 2)):
        msg = ipvlan_message(1, "x", 3, mode)
        assert struct.unpack_from("=H", msg, len(msg) - 4)[0] == flags

