"""Helpers for the IPVS tests: the in-VM flag, ipvsadm's view as a dataplane Table, a NAT lab
with in-process real servers (one thread serving sockets opened in several namespaces)."""
from __future__ import annotations

import ctypes
import os
import selectors
import socket
import subprocess
import threading
from contextlib import contextmanager
from typing import Iterator

import pytest

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table

#: True inside the IPVS VM (scripts/vm.sh sets it); the in-VM tests are only collected then.
IN_VM = os.environ.get("LVSFAST_IPVS_VM") == "1"

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def need_ipvs() -> None:
    subprocess.run(["modprobe", "ip_vs"], capture_output=True)
    if not os.path.exists("/proc/net/ip_vs"):
        pytest.skip("needs a kernel with IPVS (run through tests/test_ipvs_in_vm.py)")


@contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the block with this thread in namespace ``name`` (sockets made there stay there)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            yield
        finally:
            _libc.setns(home, _CLONE_NEWNET)
    finally:
        os.close(home)
        os.close(target)


def sh(*argv: str, ns: str | None = None) -> str:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


# ---- ipvsadm's view ----------------------------------------------------------------------

_FWD = {"-m": "nat", "-g": "dr", "-i": "tun"}
_PROTO = {"-t": "tcp", "-u": "udp", "--sctp-service": "sctp"}


def _hostport(text: str) -> tuple[int, str, int]:
    host, _, port = text.rpartition(":")
    if host.startswith("["):
        return 6, host[1:-1], int(port)
    return 4, host, int(port)


def _prefix(family: int, mask: str) -> int:
    if family == 6 or "." not in mask:
        return int(mask)
    return sum(bin(int(p)).count("1") for p in mask.split("."))


def ipvsadm_table() -> Table:
    """The kernel's table as ipvsadm (not lvsfast) reads it: ``-S -n`` plus thresholds."""
    services: dict[ServiceKey, Service] = {}
    dests: dict[ServiceKey, dict[DestKey, Dest]] = {}
    thresholds = _thresholds()
    for line in sh("ipvsadm", "-S", "-n").splitlines():
        tok = line.split()
        if not tok:
            continue
        opts: dict[str, str] = {}
        i = 1
        while i < len(tok):
            if i + 1 < len(tok) and not tok[i + 1].startswith("-"):
                opts[tok[i]] = tok[i + 1]
                i += 2
            else:
                opts[tok[i]] = ""
                i += 1
        if "-f" in opts:
            fam = 6 if "-6" in opts else 4
            key = ServiceKey(fam, "tcp", None, 0, int(opts["-f"]))
        else:
            flag = next(f for f in _PROTO if f in opts)
            fam, host, port = _hostport(opts[flag])
            key = ServiceKey(fam, _PROTO[flag], host, port)
        if tok[0] == "-A":
            flags = set(filter(None, opts.get("-b", "").split(",")))
            if "-o" in opts:
                flags.add("ops")
            timeout = int(opts.get("-p", 0) or 0)
            gran = _prefix(key.family, opts["-M"]) if "-M" in opts else (32 if key.family == 4 else 128)
            services[key] = Service(key, opts["-s"], frozenset(flags), timeout, gran, opts.get("--pe", ""))
            dests[key] = {}
        else:
            fam, host, port = _hostport(opts["-r"])
            dkey = DestKey(host, port)
            fwd = next(v for f, v in _FWD.items() if f in opts)
            u, l = thresholds.get((key, dkey), (0, 0))
            dests[key][dkey] = Dest(dkey, int(opts.get("-w", 1)), fwd,
                                    opts.get("--tun-type", "ipip") if fwd == "tun" else "ipip",
                                    int(opts.get("--tun-port", 0)), "--tun-nocsum" in opts, "--tun-csum" in opts,
                                    "--tun-remcsum" in opts, u, l)
    return Table(services, dests)


def _thresholds() -> dict[tuple[ServiceKey, DestKey], tuple[int, int]]:
    out = {}
    key = None
    for line in sh("ipvsadm", "-Ln", "--thresholds").splitlines():
        tok = line.split()
        if not tok or tok[0] in ("IP", "Prot"):
            continue
        if tok[0] == "FWM":
            key = ServiceKey(4, "tcp", None, 0, int(tok[1]))
        elif tok[0] in ("TCP", "UDP", "SCTP"):
            fam, host, port = _hostport(tok[1])
            key = ServiceKey(fam, tok[0].lower(), host, port)
        elif tok[0] == "->" and len(tok) >= 4 and key is not None:
            fam, host, port = _hostport(tok[1])
            out[(key, DestKey(host, port))] = (int(tok[2]), int(tok[3]))
    return out


def ipvsadm_restore_text(table: Table) -> str:
    """The same rules in ``ipvsadm -R`` syntax (the floor the benchmark compares against)."""
    lines = []
    for key, svc in table.services.items():
        spec = f"-f {key.fwmark}" if key.fwmark else (
            {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}[key.protocol]
            + (f" [{key.address}]:{key.port}" if key.family == 6 else f" {key.address}:{key.port}"))
        lines.append(f"-A {spec} -s {svc.scheduler}" + (f" -p {svc.persistence_timeout}" if svc.persistence_timeout else ""))
        for d in table.dests.get(key, {}).values():
            host = f"[{d.key.address}]" if ":" in d.key.address else d.key.address
            lines.append(f"-a {spec} -r {host}:{d.key.port} {dict(nat='-m', dr='-g', tun='-i')[d.forward]} -w {d.weight}")
    return "\n".join(lines) + "\n"


# ---- a NAT lab ---------------------------------------------------------------------------

class NatLab:
    """client ns --veth-- director (this, the VM's root ns) --bridge-- real-server namespaces.

    The VIP lives on the director; real servers route back through it, as NAT needs. Each
    real server answers a connection with its name, then echoes lines (so an established
    connection can be probed after a change).
    """

    CLIENT = "10.0.1.2"
    VIP = "10.0.1.100"

    def __init__(self, n_servers: int, prefix: str = "lvsipvs", *, direct: bool = False) -> None:
        # direct: the real servers hold the VIP on lo (not answering ARP for it) and listen on
        # it, for direct routing; their replies go back through this host, which must accept
        # packets from its own VIP address.
        self.direct = direct
        self.prefix = prefix
        self.servers = [f"10.0.2.{11 + i}" for i in range(n_servers)]
        self._namespaces: list[str] = []
        self._sel = selectors.DefaultSelector()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.hits: dict[str, int] = {}

    def ns(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def __enter__(self) -> "NatLab":
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "link", "set", "lo", "up")
        c = self.ns("c")
        sh("ip", "netns", "add", c)
        self._namespaces.append(c)
        sh("ip", "link", "add", "lvc0", "type", "veth", "peer", "name", "eth0", "netns", c)
        sh("ip", "addr", "add", "10.0.1.1/24", "dev", "lvc0")
        sh("ip", "addr", "add", f"{self.VIP}/32", "dev", "lvc0")
        sh("ip", "link", "set", "lvc0", "up")
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "addr", "add", f"{self.CLIENT}/24", "dev", "eth0"],
                    ["ip", "addr", "add", "10.0.1.3/24", "dev", "eth0"],
                    ["ip", "route", "add", "default", "via", "10.0.1.1"]):
            sh(*cmd, ns=c)
        sh("ip", "link", "add", "lvbr0", "type", "bridge")
        sh("ip", "addr", "add", "10.0.2.1/24", "dev", "lvbr0")
        sh("ip", "link", "set", "lvbr0", "up")
        for i, addr in enumerate(self.servers):
            r = self.ns(f"r{i}")
            sh("ip", "netns", "add", r)
            self._namespaces.append(r)
            sh("ip", "link", "add", f"lvr{i}", "type", "veth", "peer", "name", "eth0", "netns", r)
            sh("ip", "link", "set", f"lvr{i}", "master", "lvbr0", "up")
            for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "eth0", "up"],
                        ["ip", "addr", "add", f"{addr}/24", "dev", "eth0"],
                        ["ip", "route", "add", "default", "via", "10.0.2.1"]):
                sh(*cmd, ns=r)
            if self.direct:
                for cmd in (["ip", "addr", "add", f"{self.VIP}/32", "dev", "lo"],
                            ["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"],
                            ["sysctl", "-qw", "net.ipv4.conf.all.arp_announce=2"]):
                    sh(*cmd, ns=r)
            with in_netns(r):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0" if self.direct else addr, 80))
            s.listen(128)
            s.setblocking(False)
            self._sel.register(s, selectors.EVENT_READ, ("listen", addr))
            self.hits[addr] = 0
        self._saved: list[str] = []
        if self.direct:
            for knob in ("net.ipv4.conf.all.accept_local", "net.ipv4.conf.all.rp_filter"):
                self._saved.append(f"{knob}={sh('sysctl', '-n', knob).strip()}")
            for knob in ("net.ipv4.conf.all.accept_local=1", "net.ipv4.conf.lvbr0.accept_local=1",
                         "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.lvbr0.rp_filter=0"):
                sh("sysctl", "-qw", knob)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop:
            for k, _ in self._sel.select(0.1):
                kind, addr = k.data
                if kind == "listen":
                    try:
                        conn, _peer = k.fileobj.accept()  # type: ignore[union-attr]
                    except OSError:
                        continue
                    self.hits[addr] += 1
                    conn.sendall(f"{addr}\n".encode())
                    conn.setblocking(False)
                    self._sel.register(conn, selectors.EVENT_READ, ("conn", addr))
                else:
                    conn = k.fileobj
                    try:
                        data = conn.recv(4096)  # type: ignore[union-attr]
                    except OSError:
                        data = b""
                    if data:
                        conn.sendall(data)  # type: ignore[union-attr]
                    else:
                        self._sel.unregister(conn)
                        conn.close()  # type: ignore[union-attr]

    def connect(self, source: str | None = None, port: int = 80) -> socket.socket:
        """A TCP connection from the client namespace to the VIP."""
        with in_netns(self.ns("c")):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        if source:
            s.bind((source, 0))
        s.connect((self.VIP, port))
        return s

    def request(self, source: str | None = None) -> str:
        """Connect, read the real server's name, close."""
        with self.connect(source) as s:
            return s.makefile().readline().strip()

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        if self._thread:
            self._thread.join()
        for k in list(self._sel.get_map().values()):
            k.fileobj.close()  # type: ignore[union-attr]
        # The links first: a namespace's deletion finishes asynchronously, and a lab built
        # right after this one reuses the names.
        for dev in ("lvc0", "lvbr0", *(f"lvr{i}" for i in range(len(self.servers)))):
            subprocess.run(["ip", "link", "del", dev], capture_output=True)
        for n in self._namespaces:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
        for knob in getattr(self, "_saved", ()):
            subprocess.run(["sysctl", "-qw", knob], capture_output=True)


def table_diff(got: Table, want: Table) -> list[str]:
    """Readable differences between two tables (empty when equal)."""
    out = []
    for k in sorted(got.services.keys() | want.services.keys(), key=str):
        g, w = got.services.get(k), want.services.get(k)
        if g != w:
            out.append(f"service {k}: got {g} want {w}")
        gd, wd = got.dests.get(k, {}), want.dests.get(k, {})
        for dk in sorted(gd.keys() | wd.keys(), key=str):
            if gd.get(dk) != wd.get(dk):
                out.append(f"dest {k} -> {dk}: got {gd.get(dk)} want {wd.get(dk)}")
    return out
