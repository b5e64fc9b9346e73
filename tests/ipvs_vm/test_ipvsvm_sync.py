"""Inside the IPVS VM: lvs_sync_daemon. A TCP connection opened through director A keeps working
through director B after the VIPs move, because A's master sync daemon (started by lvsfast)
gave B's backup the connection. Two directors in namespaces, each with its own IPVS."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time

from support.ipvs import IN_VM, in_netns, need_ipvs, sh

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.ipvs import wire
from lvsfast.ipvs.backend import IPVSBackend
from lvsfast.lab.netns import wait_for

P = "lvsy"
VIP, BACK_VIP, RS = "10.0.5.100", "10.0.6.100", "10.0.6.21"
VS = ServiceKey(4, "tcp", VIP, 80)
TABLE = Table({VS: Service(VS, "rr")}, {VS: {DestKey(RS, 80): Dest(DestKey(RS, 80), 1, "nat")}})


def ns(short: str) -> str:
    return f"{P}-{short}"


def build() -> None:
    for br in ("lvsyf", "lvsyb"):
        sh("ip", "link", "add", br, "type", "bridge")
        sh("ip", "link", "set", br, "up")
    plan = {"c": [("lvsyf", "eth0", "10.0.5.2/24")],
            "da": [("lvsyf", "f0", "10.0.5.11/24"), ("lvsyb", "b0", "10.0.6.11/24")],
            "db": [("lvsyf", "f0", "10.0.5.12/24"), ("lvsyb", "b0", "10.0.6.12/24")],
            "r": [("lvsyb", "eth0", f"{RS}/24")]}
    for short, links in plan.items():
        n = ns(short)
        sh("ip", "netns", "add", n)
        sh("ip", "link", "set", "lo", "up", ns=n)
        for i, (br, dev, addr) in enumerate(links):
            host = f"lvsy{short}{i}"
            sh("ip", "link", "add", host, "type", "veth", "peer", "name", dev, "netns", n)
            sh("ip", "link", "set", host, "master", br, "up")
            sh("ip", "link", "set", dev, "up", ns=n)
            sh("ip", "addr", "add", addr, "dev", dev, ns=n)
    for d in ("da", "db"):
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=ns(d))
    sh("ip", "route", "add", "default", "via", BACK_VIP, ns=ns("r"))


def teardown() -> None:
    for short, n in (("c", 1), ("da", 2), ("db", 2), ("r", 1)):
        for i in range(n):
            subprocess.run(["ip", "link", "del", f"lvsy{short}{i}"], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns(short)], capture_output=True)
    for br in ("lvsyf", "lvsyb"):
        subprocess.run(["ip", "link", "del", br], capture_output=True)


def echo_server() -> tuple[socket.socket, threading.Thread]:
    with in_netns(ns("r")):
        srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((RS, 80))
    srv.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.sendall(b"hello\n")
            threading.Thread(target=lambda c=conn: _echo(c), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)


def take_vips(director: str, other: str) -> None:
    for dev, addr in (("f0", VIP), ("b0", BACK_VIP)):
        subprocess.run(["ip", "-n", ns(other), "addr", "del", f"{addr}/32", "dev", dev], capture_output=True)
        sh("ip", "addr", "add", f"{addr}/32", "dev", dev, ns=ns(director))
    # What the new master's gratuitous ARP does: the neighbours look the addresses up again.
    subprocess.run(["ip", "-n", ns("c"), "neigh", "flush", "to", VIP], capture_output=True)
    subprocess.run(["ip", "-n", ns("r"), "neigh", "flush", "to", BACK_VIP], capture_output=True)


class TestSyncDaemonFailover:
    __test__ = IN_VM

    def test_connection_survives_failover_through_synced_director(self) -> None:
        need_ipvs()
        teardown()
        build()
        srv = None
        backends: list[IPVSBackend] = []
        try:
            srv, _ = echo_server()
            for d, state in (("da", "master"), ("db", "backup")):
                with in_netns(ns(d)):
                    b = IPVSBackend()
                    asyncio.run(b.apply(TABLE))
                    asyncio.run(b.start_sync_daemon(wire.SyncDaemon(state, "b0", 9)))
                backends.append(b)
            take_vips("da", "db")
            with in_netns(ns("c")):
                client = socket.socket()
            client.settimeout(10)
            client.connect((VIP, 80))
            f = client.makefile("rwb", buffering=0)
            assert f.readline() == b"hello\n"
            f.write(b"one\n")
            assert f.readline() == b"one\n"
            # B's backup sync daemon learns the connection from A's master.
            wait_for(lambda: "ESTABLISHED" in sh("ipvsadm", "-Lnc", ns=ns("db")), timeout=30,
                     what="the connection synced to director B")
            take_vips("db", "da")
            f.write(b"two\n")
            assert f.readline() == b"two\n"  # the same TCP connection, now through B
            assert VIP not in sh("ip", "-o", "addr", ns=ns("da"))
            client.close()
        finally:
            for b in backends:
                try:
                    asyncio.run(b.close(None))
                except Exception:
                    pass
            if srv is not None:
                srv.close()
            teardown()
