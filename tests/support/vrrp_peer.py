"""A small VRRP speaker built on lvsfast's wire core, run inside a test namespace.

    python -m support.vrrp_peer listen  --family 4 --ifname eth0 --seconds 4 --vrid 51 --version 2 --vips A,B
    python -m support.vrrp_peer send    --family 4 --ifname eth0 --src S --vrid 51 --version 3 --prio 200 --vips A --seconds 5
    python -m support.vrrp_peer garp    --ifname eth0 --ip 192.0.2.100
    python -m support.vrrp_peer na      --ifname eth0 --src fe80::1 --ip 2001:db8::100
    python -m support.vrrp_peer inject  --ifname eth0 --src S

Prints JSON lines; the tests read them.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
import time

import uvloop

from lvsfast import compiled_core
from lvsfast.vrrp import ah
from lvsfast.vrrp.reasons import Reason, describe
from lvsfast.vrrp.transport import FrameSender, VrrpTransport
from lvsfast.vrrp.wire import AdvertBuilder, Receiver, build_garp, build_na
from lvsfast.vrrp.wire_types import InstanceWire


def auth_type(a) -> int:
    return 2 if a.ah else (1 if a.auth else 0)


def listen(a) -> None:
    vips = tuple(a.vips.split(",")) if a.vips else ()
    inst = InstanceWire("VI_1", a.vrid, a.version, a.family, a.interval, vips,
                        auth_type=auth_type(a), auth_pass=a.auth.encode())
    rx = Receiver(a.ifname, a.family, [inst])
    t = VrrpTransport(a.family, a.ifname, a.src or ("0.0.0.0" if a.family == 4 else "::"), multicast=True,
                      ah=a.ah)
    print(json.dumps({"ready": True, "compiled": compiled_core()}), flush=True)

    def on_readable() -> None:
        # Driven by the uvloop loop, as the daemon drives it: never blocks, drains a batch.
        for pkt, src, dst, ttl, ifindex in t.recv():
            res = rx.decode(pkt, src, dst, ttl)
            if isinstance(res, int):
                reason, vrid, ver, name = rx.last
                print(json.dumps({"drop": Reason(res).name, "ifindex": ifindex,
                                  "log": describe(reason, ifname=a.ifname, vrid=vrid, got_version=ver,
                                                  instance=name, our_version=a.version)}), flush=True)
            else:
                print(json.dumps({"version": res.version, "vrid": res.vrid, "priority": res.priority,
                                  "interval_cs": res.interval_cs, "src": res.src, "ttl": res.ttl,
                                  "addresses": list(res.addresses), "pseudo_header": res.pseudo_header,
                                  "auth_type": res.auth_type, "match": bool(res.addresses_match),
                                  "ifindex": ifindex}), flush=True)

    loop = uvloop.new_event_loop()
    for fd in t.filenos():
        loop.add_reader(fd, on_readable)
    loop.run_until_complete(asyncio.sleep(a.seconds))
    loop.close()
    print(json.dumps({"counters": rx.counters()}), flush=True)
    t.close()


def send(a) -> None:
    vips = a.vips.split(",")
    dst = a.dst or ("224.0.0.18" if a.family == 4 else "ff02::12")
    b = AdvertBuilder(a.version, a.vrid, a.interval, vips, a.family, a.src, dst,
                      auth_type=auth_type(a), auth_pass=a.auth.encode())
    t = VrrpTransport(a.family, a.ifname, a.src, multicast=False, ah=a.ah)
    end = time.monotonic() + a.seconds
    sent = 0
    # keepalived drops AH adverts whose sequence number is not above the count it keeps itself,
    # so a sender's sequence starts from the clock (monotonic across restarts too).
    seq0 = int(time.time())
    while time.monotonic() < end:
        if a.ah:
            t.send_ip(ah.wrap(b.build(a.prio), a.src, dst, a.auth.encode(), seq=seq0 + sent, ip_id=sent + 1), dst)
        else:
            t.send(b.build(a.prio), dst)
        sent += 1
        time.sleep(a.interval / 100)
    print(json.dumps({"sent": sent}), flush=True)
    t.close()


def garp(a) -> None:
    f = FrameSender(a.ifname)
    frame = build_garp(f.mac(), a.ip) if ":" not in a.ip else build_na(f.mac(), a.src, a.ip, router=True)
    for _ in range(3):
        f.send(frame)
        time.sleep(0.05)
    print(json.dumps({"mac": f.mac().hex(":")}), flush=True)
    f.close()


def inject(a) -> None:
    """Malformed protocol-112 packets: each should be dropped with its own reason."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.ifname.encode())
    s.bind((a.src, 0))
    good = AdvertBuilder(3, 51, 100, ["192.0.2.100"], 4, a.src, "224.0.0.18").build(50)
    bad = [
        b"",  # too short
        b"\x31\x33",  # too short
        b"\x51" + good[1:],  # version 5
        good[:6] + b"\x00\x00" + good[8:],  # bad checksum
        b"\x31\x33\x64\x00" + good[4:8],  # count 0
        good + b"\x00\x00\x00\x00",  # length mismatch
        bytes(range(256)) * 4,  # garbage
    ]
    for p in bad:
        s.sendto(p, ("224.0.0.18", 0))
    s.sendto(good, ("224.0.0.18", 0))
    print(json.dumps({"sent": len(bad) + 1}), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["listen", "send", "garp", "na", "inject"])
    ap.add_argument("--family", type=int, default=4)
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--src", default="")
    ap.add_argument("--dst", default="")
    ap.add_argument("--vrid", type=int, default=51)
    ap.add_argument("--version", type=int, default=3)
    ap.add_argument("--prio", type=int, default=200)
    ap.add_argument("--interval", type=int, default=100, help="centiseconds")
    ap.add_argument("--vips", default="")
    ap.add_argument("--auth", default="")
    ap.add_argument("--ah", action="store_true", help="auth_type AH with --auth as the key")
    ap.add_argument("--ip", default="")
    ap.add_argument("--seconds", type=float, default=4)
    a = ap.parse_args()
    {"listen": listen, "send": send, "garp": garp, "na": garp, "inject": inject}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
