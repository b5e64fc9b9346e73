"""Figure 2.1 of the Keepalived Overview, in namespaces.

    client ── [pub bridge] ── r1.eth0 / r2.eth0        (public side, VIP 192.0.2.100)
                              r1.eth1 / r2.eth1 ── [priv bridge] ── rs1, rs2, rs3
                                                   (private side, gateway VIP 10.10.0.1)

Two LVS routers share the public VIP and the real servers' gateway address through one VRRP
instance; the real servers answer HTTP with their own name and route back through the
gateway VIP, as keepalived's NAT setups do. All addresses exist only inside the lab's
namespaces (192.0.2.0/24 is TEST-NET-1).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from lvsfast.lab.netns import Lab, Namespace, wait_for

PUBLIC_NET = "192.0.2"
PRIVATE_NET = "10.10.0"
VIP = f"{PUBLIC_NET}.100"
GATEWAY_VIP = f"{PRIVATE_NET}.1"
CLIENT = f"{PUBLIC_NET}.10"
ROUTERS = {"r1": 2, "r2": 3}
REAL_SERVERS = {"rs1": 11, "rs2": 12, "rs3": 13}

# A real server: answers every GET with its name; /healthz is what the checker fetches.
_HTTP_SERVER = textwrap.dedent('''
    import http.server, sys
    NAME = sys.argv[1].encode()
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            body = NAME + b"\\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    http.server.ThreadingHTTPServer(("0.0.0.0", 80), H).serve_forever()
''')


def start_http_server(lab: Lab, ns: Namespace, name: str, timeout: float = 60) -> subprocess.Popen:
    """The lab's real server on port 80 of ``ns``, answering with ``name``; returns once it listens
    (``timeout``: Python starts in seconds, not milliseconds, in the emulated IPVS VM)."""
    proc = lab.spawn(ns, sys.executable, "-c", _HTTP_SERVER, name)
    wait_for(lambda: ns.run("python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 80), 1)",
                            check=False).returncode == 0, timeout=timeout, what=f"HTTP on {name}")
    return proc


@dataclass
class Figure21:
    """The built topology; ``close()`` (or the context manager) removes every namespace."""

    lab: Lab = field(default_factory=Lab)
    servers: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pub_sw = self.lab.ns("pubsw")
        self.priv_sw = self.lab.ns("privsw")
        self.lab.bridge(self.pub_sw)
        self.lab.bridge(self.priv_sw)
        self.client = self.lab.ns("client")
        self.lab.plug(self.pub_sw, self.client, "eth0")
        self.client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        self.routers: dict[str, Namespace] = {}
        self.router_ports: dict[str, str] = {}
        for name, host in ROUTERS.items():
            r = self.lab.ns(name)
            self.router_ports[name] = self.lab.plug(self.pub_sw, r, "eth0")
            self.lab.plug(self.priv_sw, r, "eth1")
            r.ip("addr", "add", f"{PUBLIC_NET}.{host}/24", "dev", "eth0")
            r.ip("addr", "add", f"{PRIVATE_NET}.{host}/24", "dev", "eth1")
            r.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
            # A VIP must answer ARP only from the router holding it.
            r.run("sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1")
            r.run("sysctl", "-qw", "net.ipv4.conf.all.arp_announce=2")
            self.routers[name] = r
        self.real: dict[str, Namespace] = {}
        self.real_ports: dict[str, str] = {}
        for name, host in REAL_SERVERS.items():
            rs = self.lab.ns(name)
            self.real_ports[name] = self.lab.plug(self.priv_sw, rs, "eth0")
            rs.ip("addr", "add", f"{PRIVATE_NET}.{host}/24", "dev", "eth0")
            rs.ip("route", "add", "default", "via", GATEWAY_VIP)
            self.real[name] = rs

    def start_http(self, name: str) -> None:
        self.servers[name] = start_http_server(self.lab, self.real[name], name)

    def stop_http(self, name: str) -> None:
        proc = self.servers.pop(name, None)
        if proc is not None:
            proc.terminate()
            proc.wait(5)

    def real_address(self, name: str) -> str:
        return f"{PRIVATE_NET}.{REAL_SERVERS[name]}"

    def config(self, router: str, *, control_socket: str, backend: str = "auto",
               advert_int: float = 1, scheduler: str = "rr") -> str:
        """keepalived.conf for one router: r1 starts as the higher priority."""
        priority = 150 if router == "r1" else 100
        reals = "\n".join(
            f"""    real_server {self.real_address(n)} 80 {{
        weight 1
        HTTP_GET {{
            url {{
                path /healthz
                status_code 200
            }}
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}""" for n in REAL_SERVERS)
        return f"""! generated by lvsfast's lab for {router}
global_defs {{
    router_id lab_{router}
    lvs_backend {backend}
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int {advert_int}
    virtual_ipaddress {{
        {VIP}/24 dev eth0
        {GATEWAY_VIP}/24 dev eth1
    }}
}}

virtual_server {VIP} 80 {{
    delay_loop 1
    lb_algo {scheduler}
    lb_kind NAT
    protocol TCP
{reals}
}}
"""

    def write_configs(self, directory: Path, **kw) -> dict[str, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        out = {}
        for name in ROUTERS:
            path = directory / f"{name}.conf"
            path.write_text(self.config(name, control_socket=str(directory / f"{name}.sock"), **kw))
            out[name] = path
        return out

    def close(self) -> None:
        self.lab.close()

    def __enter__(self) -> "Figure21":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
