"""The nftables lab: client, LVS router (public + private side), three real servers.

Also runnable as a script inside a namespace (``ip netns exec NS python tests/support/nft.py``):
``server NAME PORT`` (HTTP/1.1 server answering its name), ``apply`` (a Table as JSON on stdin,
applied with a fresh NftBackend: read, diff, one transaction), ``close``, and
``client VIP PORT SRC N`` (N requests from SRC, one name per line) or ``keepalive VIP PORT SRC``
(one connection; a request per line read on stdin), ``conns`` (live NAT flows per real server).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

HERE = os.path.abspath(__file__)
PY = sys.executable
VIP = "10.0.0.100"
CLIENTS = [f"10.0.0.{i}" for i in range(10, 20)]
SERVERS = {"rs1": "10.1.0.11", "rs2": "10.1.0.12", "rs3": "10.1.0.13"}
RS_PORT = 8080


def table_to_json(table) -> str:
    svcs = []
    for key, svc in table.services.items():
        svcs.append({"key": [key.family, key.protocol, key.address, key.port, key.fwmark],
                     "sched": svc.scheduler, "pt": svc.persistence_timeout, "flags": sorted(svc.flags),
                     "configured": [[k.address, k.port, w] for k, w in svc.configured],
                     "dests": [[d.key.address, d.key.port, d.weight]
                               for d in table.dests.get(key, {}).values()]})
    return json.dumps(svcs)


def table_from_json(text: str):
    from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
    services, dests = {}, {}
    for s in json.loads(text):
        key = ServiceKey(*s["key"])
        configured = tuple((DestKey(a, p), w) for a, p, w in s.get("configured", ()))
        services[key] = Service(key, s["sched"], frozenset(s["flags"]), s["pt"], configured=configured)
        dests[key] = {DestKey(a, p): Dest(DestKey(a, p), w) for a, p, w in s["dests"]}
    return Table(services, dests)


@dataclass
class NftLab:
    lab: object
    client: object
    router: object
    servers: dict

    def apply(self, table) -> str:
        return self.router.run(PY, HERE, "apply", input=table_to_json(table)).stdout

    def close_backend(self) -> None:
        self.router.run(PY, HERE, "close")

    def connections(self) -> dict[str, int]:
        """Live NAT flows per real server address, as lvsfast.nft.conntrack counts them."""
        return json.loads(self.router.run(PY, HERE, "conns").stdout)

    def nft_json(self) -> dict:
        out = self.router.run("nft", "-j", "list", "table", "ip", "lvsfast").stdout
        return json.loads(out)

    def get(self, src: str, n: int, port: int = 80) -> list[str]:
        out = self.client.run(PY, HERE, "client", VIP, str(port), src, str(n), timeout=60).stdout
        return out.split()

    def keepalive(self, src: str, port: int = 80) -> subprocess.Popen:
        return self.lab.spawn(self.client, PY, "-u", HERE, "keepalive", VIP, str(port), src,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def build(lab) -> NftLab:
    from lvsfast.lab.netns import wait_for
    client, router, sw = lab.ns("cl"), lab.ns("lvs"), lab.ns("sw")
    lab.veth(client, "eth0", router, "eth0")
    client.ip("addr", "add", f"{CLIENTS[0]}/24", "dev", "eth0")
    for a in CLIENTS[1:]:
        client.ip("addr", "add", f"{a}/24", "dev", "eth0")
    client.ip("route", "add", "default", "via", "10.0.0.1")
    router.ip("addr", "add", "10.0.0.1/24", "dev", "eth0")
    router.ip("addr", "add", f"{VIP}/24", "dev", "eth0")
    lab.bridge(sw)
    lab.plug(sw, router, "eth1")
    router.ip("addr", "add", "10.1.0.1/24", "dev", "eth1")
    router.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    servers = {}
    for name, addr in SERVERS.items():
        ns = lab.ns(name)
        lab.plug(sw, ns, "eth0")
        ns.ip("addr", "add", f"{addr}/24", "dev", "eth0")
        ns.ip("route", "add", "default", "via", "10.1.0.1")
        lab.spawn(ns, PY, HERE, "server", name, str(RS_PORT))
        servers[name] = ns
    for name, addr in SERVERS.items():
        wait_for(lambda a=addr: router.run("python3", "-c",
                 f"import socket; socket.create_connection(('{a}', {RS_PORT}), 1)", check=False).returncode == 0,
                 what=f"{name} listening")
    return NftLab(lab, client, router, servers)


def _server(name: str, port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:
            pass

    ThreadingHTTPServer(("0.0.0.0", port), H).serve_forever()


def _apply() -> None:
    import asyncio
    from lvsfast.nft.backend import NftBackend
    table = table_from_json(sys.stdin.read())

    async def go() -> None:
        b = NftBackend()
        ops = await b.apply(table)
        print("\n".join(str(o) for o in ops))

    asyncio.run(go())


def _close() -> None:
    import asyncio
    from lvsfast.nft.backend import NftBackend
    asyncio.run(NftBackend().close())


def _conns() -> None:
    import asyncio
    from lvsfast.nft.conntrack import connections
    counts = asyncio.run(connections())
    out: dict[str, int] = {}
    for (_svc, rs), n in counts.items():
        out[rs.address] = out.get(rs.address, 0) + n
    print(json.dumps(out))


def _client(vip: str, port: int, src: str, n: int) -> None:
    import http.client
    for _ in range(n):
        c = http.client.HTTPConnection(vip, port, timeout=5, source_address=(src, 0))
        c.request("GET", "/", headers={"Connection": "close"})
        print(c.getresponse().read().decode(), flush=True)
        c.close()


def _keepalive(vip: str, port: int, src: str) -> None:
    import http.client
    c = http.client.HTTPConnection(vip, port, timeout=5, source_address=(src, 0))
    for _ in sys.stdin:
        c.request("GET", "/")
        print(c.getresponse().read().decode(), flush=True)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "server":
        _server(args[0], int(args[1]))
    elif cmd == "apply":
        _apply()
    elif cmd == "close":
        _close()
    elif cmd == "conns":
        _conns()
    elif cmd == "client":
        _client(args[0], int(args[1]), args[2], int(args[3]))
    elif cmd == "keepalive":
        _keepalive(args[0], int(args[1]), args[2])
