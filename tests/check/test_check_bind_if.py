"""Checker bind_if: the check's socket is bound to the named interface (SO_BINDTODEVICE), so a
real server reachable over two links is checked over the one bind_if names, in namespaces.

The checker host reaches 10.9.9.9 over eth0 (the preferred route) and over eth1. With one link
down, a check bound to it fails while the other, and an unbound check, pass."""
from __future__ import annotations

import json
import os
import sys
import textwrap
import uuid

import pytest

from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVER = textwrap.dedent("""
    import socket, threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *a): pass
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.9.9.9", 8053))
    def echo():
        while True:
            data, peer = u.recvfrom(2048); u.sendto(data, peer)
    threading.Thread(target=echo, daemon=True).start()
    m = socket.socket(); m.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); m.bind(("10.9.9.9", 8025)); m.listen()
    def smtp():
        while True:
            conn, _ = m.accept(); f = conn.makefile("rwb")
            try:
                f.write(b"220 hi\\r\\n"); f.flush()
                while line := f.readline():
                    f.write(b"221 bye\\r\\n" if line.upper().startswith(b"QUIT") else b"250 ok\\r\\n"); f.flush()
            except OSError:
                pass  # the checker hangs up after QUIT
            f.close(); conn.close()
    threading.Thread(target=smtp, daemon=True).start()
    HTTPServer(("10.9.9.9", 8080), H).serve_forever()
""")

# Run inside the checker's namespace: every probe kind with bind_if None/eth0/eth1, and the
# checker service with one virtual server per link (each checks 10.9.9.9:8080 bound to it).
PROBE = textwrap.dedent("""
    import asyncio, json, sys
    from lvsfast.check import probes, protocols
    from lvsfast.check.service import CheckerService
    from lvsfast.config import loads
    from lvsfast.config.model import HttpCheck, SmtpCheck, UdpCheck, Url
    from test_check_service import RecordingBackend

    CONF = ''.join(f'''virtual_server 192.0.2.{i} 80 {{
        delay_loop 0.3
        protocol TCP
        real_server 10.9.9.9 8080 {{
            TCP_CHECK {{
                bind_if {dev}
                connect_timeout 0.5
                retry 0
                warmup 0
            }}
        }}
    }}
    ''' for i, dev in ((1, "eth0"), (2, "eth1")))

    async def main():
        out = {}
        for dev in (None, "eth0", "eth1"):
            ok_tcp, why_tcp = await probes.tcp("10.9.9.9", 8080, 0.5, None, dev)
            ok_http, why_http = await probes.http(HttpCheck(connect_timeout=0.5, bind_if=dev), Url(path="/"),
                                                  "10.9.9.9", 8080, None)
            ok_udp, why_udp = await protocols.udp(UdpCheck(connect_timeout=0.5, bind_if=dev), "10.9.9.9", 8053, b"hi")
            ok_smtp, why_smtp = await protocols.smtp(SmtpCheck(connect_timeout=0.5, bind_if=dev), "10.9.9.9", 8025, "t")
            ok_ping, why_ping = await protocols.ping("10.9.9.9", 0.5, 7, 1, dev)
            out[str(dev)] = {"tcp": ok_tcp, "http": ok_http, "udp": ok_udp, "smtp": ok_smtp, "ping": ok_ping,
                             "why": [why_tcp, why_http, why_udp, why_smtp, why_ping]}
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(CONF))
        await asyncio.sleep(2.0)
        t = be.tables[-1]
        out["service"] = sorted(str(s.address) for s, ds in t.dests.items() if ds)
        out["prober"] = svc._prober is not None
        await svc.stop()
        print(json.dumps(out))
    asyncio.run(main())
""")


@pytest.fixture
def net():
    need_root()
    need_binary("ip")
    with Lab(prefix="vmo" + uuid.uuid4().hex[:5]) as lab:
        c, s = lab.ns("c"), lab.ns("s")
        lab.veth(c, "eth0", s, "eth0")
        lab.veth(c, "eth1", s, "eth1")
        for ns, me in ((c, 1), (s, 2)):
            ns.ip("addr", "add", f"10.1.0.{me}/24", "dev", "eth0")
            ns.ip("addr", "add", f"10.2.0.{me}/24", "dev", "eth1")
            ns.run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
            ns.run("sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0")
        s.ip("addr", "add", "10.9.9.9/32", "dev", "lo")
        c.ip("route", "add", "10.9.9.9/32", "via", "10.1.0.2", "dev", "eth0", "metric", "10")
        c.ip("route", "add", "10.9.9.9/32", "via", "10.2.0.2", "dev", "eth1", "metric", "20")
        lab.spawn(s, sys.executable, "-c", SERVER)
        wait_for(lambda: "10.9.9.9:8080" in s.run("ss", "-ltn").stdout, timeout=10, what="the real server")
        yield lab, c, s


def _probe(c) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.environ.get("PYTHONPATH", ""), os.path.join(HERE, "check"), HERE]).strip(os.pathsep))
    res = c.run(sys.executable, "-c", PROBE, env=env, timeout=60)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("down", ["eth0", "eth1"])
def test_bind_if_checks_over_the_named_link_only(net, down):
    _, c, _ = net
    up = "eth1" if down == "eth0" else "eth0"
    c.link_set(down, False)
    got = _probe(c)
    for kind in ("tcp", "http", "udp", "smtp", "ping"):
        assert got[up][kind], got[up]["why"]
        assert not got[down][kind], got[down]
        assert got["None"][kind], got["None"]  # unbound: the kernel's route, over the link that is up
    # The service runs bind_if's checks as tasks (the prober binds no device): only the virtual
    # server whose check is bound to the link that is up keeps its real server.
    assert got["service"] == ["192.0.2.1" if up == "eth0" else "192.0.2.2"], got
    assert got["prober"] is False
