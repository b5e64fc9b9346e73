"""DNS_CHECK, SMTP_CHECK, UDP_CHECK, PING_CHECK and FILE_CHECK against real servers on loopback
(and an unreachable address inside a namespace), plus the checker service driving a table."""
from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys

from lvsfast.check import protocols
from lvsfast.config.model import DnsCheck, FileCheck, SmtpCheck, UdpCheck, VrrpTrackFile
from support.netns import lab  # noqa: F401  (fixture)
from support.servers import DnsServer, SmtpServer, UdpEcho
from support.wait import until


def test_dns_query_wire_and_verdicts():
    q = protocols.dns_query(0x1234, "example.org.", "A")
    assert q[:12] == struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    assert q[12:] == b"\x07example\x03org\x00\x00\x01\x00\x01"
    assert protocols.dns_query(1, ".", "SOA")[12:] == b"\x00\x00\x06\x00\x01"
    answer = struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0)
    assert protocols.dns_verdict(0x1234, answer)[0]
    assert protocols.dns_verdict(0x1235, answer) == (False, "reply id 4660 is not query id 4661")
    assert protocols.dns_verdict(0x1234, struct.pack("!HHHHHH", 0x1234, 0x8183, 1, 0, 0, 0)) == (False, "rcode NXDOMAIN")
    assert protocols.dns_verdict(0x1234, struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 0, 0, 0))[1] == "no answer records"
    assert not protocols.dns_verdict(1, b"\x00")[0]


def test_dns_check_against_server():
    async def body():
        srv = await DnsServer.start()
        chk = DnsCheck(connect_timeout=0.5, type="A", name="www.test.")
        try:
            ok, why = await protocols.dns(chk, "127.0.0.1", srv.port, 77)
            assert ok, why
            srv.rcode = 2
            ok, why = await protocols.dns(chk, "127.0.0.1", srv.port, 78)
            assert not ok and why.endswith("rcode SERVFAIL"), why
            srv.silent = True
            ok, why = await protocols.dns(chk, "127.0.0.1", srv.port, 79)
            assert not ok and "no reply within 0.5s" in why
        finally:
            srv.close()
        ok, why = await protocols.dns(chk, "127.0.0.1", srv.port, 80)  # closed: ICMP port unreachable
        assert not ok and "refused" in why.lower(), why
    asyncio.run(body())


def test_udp_check_verdicts_and_server():
    assert protocols.udp_verdict(UdpCheck(), None) == (True, "no ICMP error")
    assert protocols.udp_verdict(UdpCheck(reply_required=True), None) == (False, "no reply")
    req = UdpCheck(require_reply=b"\xab\xcd", reply_required=True, min_reply_length=2, max_reply_length=8)
    assert protocols.udp_verdict(req, b"\xab\xcd\x01")[0]
    assert protocols.udp_verdict(req, b"\xab\xce\x01") == (False, "reply abce differs from abcd")
    assert protocols.udp_verdict(req, b"\xab") == (False, "reply of 1 bytes outside 2-8")


def test_udp_require_reply_x_nibbles_are_wildcards():
    from lvsfast.config import loads

    cfg = loads("virtual_server 10.0.0.1 53 {\n protocol UDP\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n"
                "   require_reply 01Xx 3\n  }\n }\n}\n")
    chk = cfg.virtual_servers[0].real_servers[0].checkers[0]
    assert (chk.require_reply, chk.require_reply_mask) == (b"\x01\x00\x03", b"\xff\x00\xff")
    assert protocols.udp_verdict(chk, b"\x01\x7e\x03\x99")[0]
    assert protocols.udp_verdict(chk, b"\x01\x7e\x04") == (False, "reply 017e04 differs from 01xx03")

    async def body():
        srv = await UdpEcho.start()
        try:
            chk = UdpCheck(connect_timeout=0.5, payload=b"\xab\xcd\xef", require_reply=b"\xab\xcd", reply_required=True)
            assert (await protocols.udp(chk, "127.0.0.1", srv.port, b""))[0]
            srv.silent = True
            ok, why = await protocols.udp(chk, "127.0.0.1", srv.port, b"")
            assert not ok and why.endswith("no reply")
            # Without require_reply, silence is success: only an ICMP error fails it.
            assert (await protocols.udp(UdpCheck(connect_timeout=0.3), "127.0.0.1", srv.port, b"x"))[0]
        finally:
            srv.close()
        ok, why = await protocols.udp(UdpCheck(connect_timeout=0.5), "127.0.0.1", srv.port, b"x")
        assert not ok and "refused" in why.lower(), why
    asyncio.run(body())


def test_smtp_check_against_server():
    async def body():
        srv = await SmtpServer.start()
        chk = SmtpCheck(connect_timeout=0.5)
        try:
            ok, why = await protocols.smtp(chk, "127.0.0.1", srv.port, "lb.test")
            assert ok, why
            assert srv.helos == ["lb.test"]
            srv.greeting = b"554 go away\r\n"
            ok, why = await protocols.smtp(chk, "127.0.0.1", srv.port, "lb.test")
            assert not ok and why.endswith("greeting 554, not 220")
            srv.greeting = None  # accepts, never greets
            ok, why = await protocols.smtp(chk, "127.0.0.1", srv.port, "lb.test")
            assert not ok and "no complete answer within 0.5s" in why
        finally:
            srv.close()
    asyncio.run(body())


def test_ping_check_loopback_v4_v6():
    async def body():
        for ip in ("127.0.0.1", "::1"):
            ok, why = await protocols.ping(ip, 1.0, 4242, 7)
            assert ok, why
    asyncio.run(body())


def test_ping_and_tcp_unreachable_in_namespace(lab):
    ns = lab.ns("chk")
    ns.ip("link", "set", "lo", "up")
    ns.ip("route", "add", "blackhole", "10.255.0.0/16")
    code = ("import asyncio; from lvsfast.check import protocols, probes\n"
            "print(asyncio.run(protocols.ping('10.255.0.1', 0.5, 1, 1)))\n"
            "print(asyncio.run(probes.tcp('10.255.0.1', 80, 0.5)))\n")
    out = ns.run(sys.executable, "-c", code, timeout=20).stdout
    out = out.decode() if isinstance(out, bytes) else out
    lines = out.strip().splitlines()
    assert lines[0].startswith("(False, 'PING_CHECK 10.255.0.1:"), out
    assert lines[1].startswith("(False, 'connect failed:"), out


def test_file_check_verdicts(tmp_path):
    path = tmp_path / "state"
    track = VrrpTrackFile("f", str(path))
    chk = FileCheck(track_file="f")
    text = protocols.read_track_file
    assert protocols.file_verdict(chk, track, text(str(path)))[:2] == (False, "FILE_CHECK f: file unreadable")
    path.write_text("0\n")
    assert protocols.file_verdict(chk, track, text(str(path))) == (True, "FILE_CHECK f: value 0", None)
    path.write_text("3\n")
    assert not protocols.file_verdict(chk, track, text(str(path)))[0]
    dyn = FileCheck(track_file="f", weight=2, dynamic=True)
    assert protocols.file_verdict(dyn, track, "3") == (True, "FILE_CHECK f: value 3", 6)
    assert protocols.file_verdict(dyn, track, "-127")[0] is False
    rev = FileCheck(track_file="f", weight=1, weight_reverse=True, dynamic=True)
    assert protocols.file_verdict(rev, track, "5")[2] == -5
    assert protocols.file_verdict(chk, track, "junk")[1] == "FILE_CHECK f: not a number: 'junk'"


def test_service_runs_dns_and_file_checks(tmp_path):
    from lvsfast.check.service import CheckerService
    from lvsfast.config import loads
    from test_check_service import RecordingBackend, wait_until

    state = tmp_path / "weight"
    state.write_text("0\n")

    async def body():
        srv = await DnsServer.start()
        cfg = loads(f"""vrrp_track_file tf {{
    file {state}
}}
virtual_server 192.0.2.100 53 {{
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 127.0.0.1 {srv.port} {{
        weight 5
        DNS_CHECK {{
            type A
            name www.test
            connect_timeout 0.3
            retry 0
            warmup 0
        }}
        FILE_CHECK {{
            track_file tf
            weight 1
            dynamic
        }}
    }}
}}
""")
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(cfg)
        key = f"127.0.0.1:{srv.port}"
        try:
            assert await wait_until(lambda: be.tables and be.reals().get(key) == 5)
            state.write_text("3\n")
            assert await wait_until(lambda: be.reals().get(key) == 8)
            srv.rcode = 5
            assert await wait_until(lambda: key not in be.reals())
            rs = next(iter(svc.status()["virtual_servers"].values()))["real_servers"][key]
            assert "rcode REFUSED" in rs["reason"]
            srv.rcode = 0
            assert await wait_until(lambda: be.reals().get(key) == 8)
        finally:
            await svc.stop()
            srv.close()
    asyncio.run(body())


def test_http_and_tcp_bindto_source_address():
    from lvsfast.check import probes
    from lvsfast.config.model import HttpCheck, Url

    async def body():
        peers = []

        async def client(r, w):
            peers.append(w.get_extra_info("peername")[0])
            try:
                await r.readuntil(b"\r\n\r\n")
                w.write(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                await w.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            w.close()
        srv = await asyncio.start_server(client, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        try:
            chk = HttpCheck(connect_timeout=1.0, bindto="127.0.0.7")
            assert (await probes.http(chk, Url(), "127.0.0.1", port, None))[0]
            assert (await probes.tcp("127.0.0.1", port, 1.0, ("127.0.0.8", 0)))[0]
            await until(lambda: len(peers) == 2)  # the server's handler may not have run yet
        finally:
            srv.close()
        assert peers == ["127.0.0.7", "127.0.0.8"]
    asyncio.run(body())


def test_steady_accepts_only_what_the_full_verdict_passes():
    from lvsfast.check.http_answer import Answer, response, status_map, steady
    from lvsfast.config.model import Url

    url = Url()
    table = status_map(url.status_code)
    cases = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok",
        b"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok",
    ]
    verdicts = []
    for raw in cases:
        a = Answer()
        a.feed(raw)
        quiet = steady(a, table)
        try:
            status, _ = response(raw)
            full = url.status_ok(status)
        except ValueError:
            full = False
        assert full or not quiet, raw  # never quiet where the full verdict fails
        verdicts.append(quiet)
    assert verdicts == [True, True, False, False, False, False, False, False]
