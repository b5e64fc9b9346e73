"""The scale-out labs inside the IPVS VM (tests/ipvs_vm/test_ipvsvm_scaleout*.py): one bridge
holding a client, two directors (each its own namespace running lvsfast with ``lvs_backend
ipvs``) and three real servers with the VIP on lo; the client's route to the VIP stands for the
upstream's ECMP choice. Each real server names itself in every reply, so a connection that
reached another server is reset by it, and one that answers names where it went."""
from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
import threading
import time

from support.ipvs import in_netns, sh

from lvsfast.lab.netns import wait_for


@dataclass(frozen=True)
class ScaleLab:
    prefix: str  # of namespaces and host-side links: unique per test file
    vip: str
    net: str  # the segment's first three octets, e.g. "10.0.7"
    tunnel: bool = False  # real servers decapsulate IPIP (lb_kind TUN)
    clients: tuple[str, ...] = ("2",)  # last octets of the client's addresses
    directors: dict[str, str] = field(default_factory=lambda: {"da": "11", "db": "12"})
    servers: dict[str, str] = field(default_factory=lambda: {f"r{i}": str(21 + i) for i in range(3)})

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def client(self) -> str:
        return self.addr(self.clients[0])

    def addr(self, last: str) -> str:
        return f"{self.net}.{last}"

    def ns(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def server_addrs(self) -> dict[str, str]:
        return {short: self.addr(last) for short, last in self.servers.items()}

    def teardown(self) -> None:
        batch = []
        for short in ("c", *self.directors, *self.servers):
            batch += [f"link del {self.prefix}{short}", f"netns del {self.ns(short)}"]
        batch.append(f"link del {self.bridge}")
        # -force: on past what is not there (a teardown before the build).
        subprocess.run(["ip", "-force", "-batch", "-"], input="\n".join(batch) + "\n", text=True, capture_output=True)

    def build(self) -> None:
        """One segment (DR needs it; TUN does not, but it costs nothing here). Batched: every
        process started costs a good part of a second in the emulated VM."""
        hosts = [("c", self.clients[0]), *self.directors.items(), *self.servers.items()]
        batch = [f"link add {self.bridge} type bridge", f"link set {self.bridge} up"]
        for short, _ in hosts:
            batch += [f"netns add {self.ns(short)}",
                      f"link add {self.prefix}{short} type veth peer name eth0 netns {self.ns(short)}",
                      f"link set {self.prefix}{short} master {self.bridge} up"]
        subprocess.run(["ip", "-batch", "-"], input="\n".join(batch) + "\n", text=True, check=True,
                       capture_output=True)
        if self.tunnel:
            sh("modprobe", "ipip")
        for short, last in hosts:
            cmds = ["ip link set lo up", "ip link set eth0 up", f"ip addr add {self.addr(last)}/24 dev eth0"]
            if short == "c":
                cmds += [f"ip addr add {self.addr(c)}/24 dev eth0" for c in self.clients[1:]]
                cmds += [f"ip route add {self.vip}/32 via {self.addr(self.directors['da'])}"]
            if short in self.servers:
                cmds += [f"ip addr add {self.vip}/32 dev lo",
                         "sysctl -qw " + " ".join(f"net.ipv4.conf.{dev}.{key}={v}" for dev in ("all", "eth0")
                                                  for key, v in (("arp_ignore", 1), ("arp_announce", 2)))]
                if self.tunnel:
                    # IPIP from the directors lands on the fallback tunl0; the inner packet's
                    # source is the client, reached through eth0, so reverse-path filtering
                    # must be off there.
                    cmds += ["ip link set tunl0 up", "sysctl -qw " + " ".join(
                        f"net.ipv4.conf.{dev}.rp_filter=0" for dev in ("all", "default", "tunl0", "eth0"))]
            sh("sh", "-ec", "; ".join(cmds), ns=self.ns(short))

    def route_via(self, director: str) -> None:
        """The upstream's choice: the client's route to the VIP, through one director."""
        sh("ip", "route", "replace", f"{self.vip}/32", "via", self.addr(self.directors[director]),
           ns=self.ns("c"))

    # ---- the client's side -------------------------------------------------------------------

    def connect(self, port: int = 0, vport: int = 80, src: str = "") -> tuple[socket.socket, str]:
        """A connection from the client to the VIP; returns it and the server that took it."""
        with in_netns(self.ns("c")):
            s = socket.socket()
        s.settimeout(15)
        if port or src:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((src or self.client, port))
        s.connect((self.vip, vport))
        return s, readline(s)

    def probe(self, ports: range, vport: int = 80, src: str = "") -> dict[int, str]:
        """New connections from fixed client ports: where each port's flow is scheduled (the
        server closes first, so the same ports may be used again at once)."""
        out = {}
        for port in ports:
            s, name = self.connect(port, vport, src)
            s.sendall(b"q\n")
            try:
                while s.recv(4096):
                    pass
            finally:
                s.close()
            out[port] = name
        return out

    # ---- the directors' side -----------------------------------------------------------------

    def ipvs_conns(self, director: str, ports: set[int], vport: int = 80) -> dict[int, str]:
        """``ipvsadm -Lnc`` on one director: client port -> real server, for these ports' flows."""
        by_addr = {a: n for n, a in self.server_addrs().items()}
        out = {}
        for line in sh("ipvsadm", "-Lnc", ns=self.ns(director)).splitlines():
            tok = line.split()
            if len(tok) >= 6 and tok[0] == "TCP" and tok[4] == f"{self.vip}:{vport}":
                port = int(tok[3].rpartition(":")[2])
                if port in ports:
                    out[port] = by_addr[tok[5].rpartition(":")[0]]
        return out

    def templates(self, director: str, vport: int) -> dict[str, str]:
        """Persistence templates (``ipvsadm -Lnc`` rows with client port 0): client address ->
        real server."""
        by_addr = {a: n for n, a in self.server_addrs().items()}
        out = {}
        for line in sh("ipvsadm", "-Lnc", ns=self.ns(director)).splitlines():
            tok = line.split()
            if len(tok) >= 6 and tok[3].endswith(":0") and tok[4] == f"{self.vip}:{vport}":
                out[tok[3].rpartition(":")[0]] = by_addr[tok[5].rpartition(":")[0]]
        return out

    def dests(self, director: str, vport: int = 80) -> set[str]:
        """The real servers of one service with a weight above 0 on one director."""
        return self.all_dests(director).get(vport, set())

    def all_dests(self, director: str) -> dict[int, set[str]]:
        """Each of the VIP's services (by port) on one director: its real servers with a weight
        above 0 (one ipvsadm: each process costs in the emulated VM)."""
        by_addr = {a: n for n, a in self.server_addrs().items()}
        out: dict[int, set[str]] = {}
        mine: set[str] | None = None
        for line in sh("ipvsadm", "-Ln", ns=self.ns(director)).splitlines():
            tok = line.split()
            if tok and tok[0] in ("TCP", "UDP", "FWM", "SCTP"):
                host, _, port = tok[1].rpartition(":")
                mine = out.setdefault(int(port), set()) if host == self.vip else None
            elif mine is not None and tok and tok[0] == "->" and tok[1] != "RemoteAddress:Port" and int(tok[3]) > 0:
                mine.add(by_addr[tok[1].rpartition(":")[0]])
        return out


def readline(s: socket.socket) -> str:
    out = b""
    while not out.endswith(b"\n"):
        data = s.recv(4096)
        if not data:
            raise ConnectionError(f"closed after {out!r}")
        out += data
    return out.decode().strip()


def ask(s: socket.socket, word: str) -> str:
    """Send one line, return the name of the server that answered it."""
    s.sendall(word.encode() + b"\n")
    name, _, echoed = readline(s).partition(" ")
    assert echoed == word, (name, echoed, word)
    return name


class RealServers:
    """The real servers in one thread: each answers a connection with its name, then each line
    ``x`` with ``name x``; ``q`` closes (server side first, so the client's port is free)."""

    def __init__(self, lab: ScaleLab, ports: tuple[int, ...] = (80,)) -> None:
        self.sel = selectors.DefaultSelector()
        self.listeners: dict[tuple[str, int], socket.socket] = {}
        self.buf: dict[socket.socket, bytes] = {}
        self.stop = False
        for short in lab.servers:
            for port in ports:
                with in_netns(lab.ns(short)):
                    s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", port))
                s.listen(256)
                s.setblocking(False)
                self.sel.register(s, selectors.EVENT_READ, ("listen", short))
                self.listeners[short, port] = s
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close_listener(self, short: str, port: int = 80) -> None:
        """The server stops accepting (its check fails); its open connections stay."""
        s = self.listeners.pop((short, port))
        self.sel.unregister(s)
        s.close()

    def serve(self) -> None:
        while not self.stop:
            for k, _ in self.sel.select(0.1):
                kind, name = k.data
                if kind == "listen":
                    try:
                        conn, _ = k.fileobj.accept()  # type: ignore[union-attr]
                        conn.sendall(f"{name}\n".encode())
                    except OSError:  # the checkers' connections end with a reset
                        continue
                    conn.setblocking(False)
                    self.buf[conn] = b""
                    self.sel.register(conn, selectors.EVENT_READ, ("conn", name))
                    continue
                conn = k.fileobj  # type: ignore[assignment]
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                self.buf[conn] += data
                *lines, self.buf[conn] = self.buf[conn].split(b"\n")
                if not data or b"q" in lines:
                    self._drop(conn)
                    continue
                try:
                    for line in lines:
                        conn.sendall(f"{name} ".encode() + line + b"\n")
                except OSError:
                    self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        del self.buf[conn]
        conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        for k in list(self.sel.get_map().values()):
            k.fileobj.close()  # type: ignore[union-attr]


class Director:
    """lvsfast in one director's namespace, started with ``conf`` (the checker alone unless
    ``checker_only`` is False)."""

    def __init__(self, lab: ScaleLab, short: str, work: Path, conf: str, checker_only: bool = True) -> None:
        self.lab = lab
        self.short = short
        self.work = work / short
        self.work.mkdir()
        path = self.work / "k.conf"
        path.write_text(conf)
        self.log = self.work / "log"
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", lab.ns(short), sys.executable, "-m", "lvsfast.cli", "-n", "-l", *(["-C"] if checker_only else []), "-f", str(path),
             "--control-socket", str(self.work / "ctl.sock"), "-p", str(self.work / "p.pid"),
             "-c", str(self.work / "c.pid"), "-r", str(self.work / "v.pid")], stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def ready(self, vports: tuple[int, ...] = (80,)) -> bool:
        """Serving every real server on each of ``vports`` and announcing the VIP."""
        if self.proc.poll() is not None:
            raise AssertionError(f"lvsfast in {self.short} exited: {self.log.read_text()[-2000:]}")
        have = self.lab.all_dests(self.short)
        return all(have.get(p) == set(self.lab.servers) for p in vports) and \
            self.lab.vip in sh("ip", "-o", "addr", "show", "dev", "lo", ns=self.lab.ns(self.short))

    def wait_ready(self, vports: tuple[int, ...] = (80,)) -> float:
        """Wait until ready; returns the seconds since lvsfast was started."""
        wait_for(lambda: self.ready(vports), timeout=120, interval=1.0,
                 what=f"{self.short} serving and announcing: {self.log.read_text()[-2000:]}")
        return time.monotonic() - self.started

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
