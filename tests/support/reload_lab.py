"""A load balancer lab for reload correctness (keepalived's tracker, issue #11), on either backend.

    client ns ── lb ns (lvsfast's checker; the VIP is local) ── bridge ── rs0..rs2 ns

Each real server namespace runs real HTTP/1.1 servers (keep-alive) on several ports, one per
virtual server of the config, so each case owns a virtual server and all cases share one lvsfast:
a case edits its own section of the config, reloads, and reads the kernel's table (/proc/net/ip_vs,
what ``ipvsadm -Ln`` shows, or our nftables table) to see the result. The servers run in this
process, their sockets opened inside the namespaces; a test switches any of them to answering
503, which fails its HTTP_GET check.

lvsfast runs either as the real daemon (:class:`Daemon`: checker child only, reload by SIGHUP) or
as the checker subsystem on a loop thread in the lb namespace (:class:`InProcess`, for the
emulated IPVS VM, where the daemon's start alone takes over a minute). A test class picks with
``backend = "ipvs" | "nftables"`` and ``runner = "daemon" | "inprocess"``.

:class:`ReloadCases` holds the cases both backends share, written once (uvloop's mixin pattern);
``tests/test_reload_regressions_nft.py`` and ``tests/ipvs_vm/test_ipvsvm_reload.py`` run them.
"""
from __future__ import annotations

import asyncio
import http.client
import http.server
import json
import logging
import selectors
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from lvsfast.daemon.control import request
from lvsfast.lab.netns import Lab, LabError, Namespace, wait_for
from support.ipvs import in_netns
from support.requires import need_binary, need_root

VIP = "10.0.1.100"
CLIENT = "10.0.1.2"
REALS = ("10.0.2.11", "10.0.2.12", "10.0.2.13")
# One virtual server (VIP port) per case; every real server listens on all of these.
PORTS = {"a": 80, "b": 82, "c": 83, "f": 84, "d": 85, "e": 86}

#: kernel view: {"VIP:PORT": {"RS:PORT": weight}}
View = dict[str, dict[str, int]]


def hp(addr: str, port: int) -> str:
    return f"{addr}:{port}"


# ---- real servers ----------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a browser or a proxy in front would use

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        srv: "_Server" = self.server  # type: ignore[assignment]
        status = 503 if srv.failing else 200
        body = f"{srv.name}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    failing = False
    name = ""

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name; nothing in a lab namespace can answer.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class RealServers:
    """HTTP servers at each (address, port), each answering with ``address:port``; one thread
    accepts for all of them (a connection then gets its own thread)."""

    def __init__(self) -> None:
        self.servers: dict[tuple[str, int], _Server] = {}
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def add(self, ns: Namespace, addr: str, port: int) -> None:
        with in_netns(ns.name):  # the listening socket is created, so it lives, in ``ns``
            srv = _Server((addr, port), _Handler)
        srv.name = hp(addr, port)
        self.servers[(addr, port)] = srv
        self._sel.register(srv.socket, selectors.EVENT_READ, srv)

    def run(self) -> None:
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(0.2):
                key.data._handle_request_noblock()  # what serve_forever does when readable

    def fail(self, addr: str, port: int, failing: bool = True) -> None:
        self.servers[(addr, port)].failing = failing

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for srv in self.servers.values():
            srv.server_close()
        self._sel.close()


def ip_batch(lines: list[str], ns: str | None = None) -> None:
    """Many iproute2 commands in one process (each exec costs most of a second in the emulated VM)."""
    argv = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    proc = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {proc.stderr.strip()}")


def write_sysctl(ns: str, key: str, value: str) -> None:
    with in_netns(ns), open("/proc/sys/" + key.replace(".", "/"), "w") as f:  # per netns, as sysctl is
        f.write(value)


# ---- the lab ---------------------------------------------------------------------------------

class ReloadLab:
    def __init__(self, backend: str, workdir: Path, runner: str = "daemon") -> None:
        self.backend = backend
        self.workdir = workdir
        self.lab = Lab()
        self.servers = RealServers()
        self.sections: dict[str, str] = {}
        self.runner: Daemon | InProcess = Daemon(self) if runner == "daemon" else InProcess(self)

    # building
    def build(self) -> "ReloadLab":
        pre = self.lab.prefix
        names = {short: f"{pre}-{short}" for short in ("c", "lb", *(f"rs{i}" for i in range(len(REALS))))}
        root = [f"netns add {n}" for n in names.values()]
        self.lab.namespaces.update({short: Namespace(n) for short, n in names.items()})
        self.client, self.lb = self.lab.namespaces["c"], self.lab.namespaces["lb"]
        c, lb = names["c"], names["lb"]
        root.append(f"link add eth0 netns {lb} type veth peer name eth0 netns {c}")
        root += [f"link add rs{i} netns {lb} type veth peer name eth0 netns {names[f'rs{i}']}"
                 for i in range(len(REALS))]
        ip_batch(root)
        ip_batch(["link set lo up", "link set eth0 up", f"addr add {CLIENT}/24 dev eth0",
                  "route add default via 10.0.1.1"], c)
        ip_batch(["link set lo up", "link set eth0 up", "addr add 10.0.1.1/24 dev eth0",
                  f"addr add {VIP}/32 dev eth0",  # IPVS takes the VIP's packets at LOCAL_IN
                  "link add br0 type bridge stp_state 0 forward_delay 0", "link set br0 up",
                  "addr add 10.0.2.1/24 dev br0"]
                 + [f"link set rs{i} master br0 up" for i in range(len(REALS))], lb)
        write_sysctl(lb, "net.ipv4.ip_forward", "1")
        for i, addr in enumerate(REALS):
            ip_batch(["link set lo up", "link set eth0 up", f"addr add {addr}/24 dev eth0",
                      "route add default via 10.0.2.1"], names[f"rs{i}"])
            for port in PORTS.values():
                self.servers.add(self.lab.namespaces[f"rs{i}"], addr, port)
        self.servers.run()
        return self

    # config and daemon
    @property
    def conf(self) -> Path:
        return self.workdir / "k.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "lvsfast.log"

    def write_config(self) -> None:
        body = "".join(self.sections[k] for k in sorted(self.sections))
        self.conf.write_text(f"global_defs {{\n    lvs_backend {self.backend}\n}}\n{body}")

    def start(self) -> None:
        self.write_config()
        self.runner.start()

    def reload(self, case: str, section: str) -> None:
        """Replace one case's section and reload; returns once the checker applied it."""
        self.sections[case] = section
        self.write_config()
        self.runner.reload()

    def stop(self) -> int | None:
        return self.runner.stop()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.servers.close()
            names = [ns.name for ns in self.lab.namespaces.values()]
            self.lab.namespaces.clear()
            self.lab.close()  # the processes it spawned
            if names:
                ip_batch([f"netns del {n}" for n in names])

    # the kernel's table
    def kernel(self) -> View:
        if self.backend == "ipvs":
            # The kernel's own listing (what ipvsadm -Ln shows), read from a thread in the lb
            # namespace: no process to start.
            with in_netns(self.lb.name), open("/proc/thread-self/net/ip_vs") as f:
                return parse_proc_ip_vs(f.read())
        out = self.lb.run("nft", "-j", "list", "table", "ip", "lvsfast", check=False)
        if out.returncode != 0:
            return {}
        from lvsfast.nft.parse import table_from_json

        t = table_from_json(json.loads(out.stdout)["nftables"])
        return {hp(k.address, k.port): {hp(d.address, d.port): v.weight for d, v in ds.items()}
                for k, ds in t.dests.items()}

    def service(self, case: str) -> dict[str, int]:
        return self.kernel().get(hp(VIP, PORTS[case]), {})

    def wait_service(self, case: str, want: dict[str, int], timeout: float = 20, what: str = "") -> None:
        last: list[dict[str, int]] = [{}]

        def ok() -> bool:
            last[0] = self.service(case)
            return last[0] == want
        try:
            wait_for(ok, timeout=timeout, interval=0.2, what=what or f"case {case}: {want}")
        except LabError as exc:
            raise AssertionError(f"{exc}; the kernel has {last[0]}\n--- log:\n{self.log_tail()}") from None

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""

    # the client side
    def client_socket(self, port: int, timeout: float = 5) -> socket.socket:
        with in_netns(self.client.name):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((VIP, port))
        return s

    def keepalive(self, port: int) -> http.client.HTTPConnection:
        """An HTTP/1.1 connection to the VIP that stays open between requests."""
        conn = http.client.HTTPConnection(VIP, port, timeout=5)
        conn.sock = self.client_socket(port)
        return conn

    def get(self, port: int, timeout: float = 3) -> str | None:
        """One request on a fresh connection: the answering server, or None if it failed."""
        try:
            conn = http.client.HTTPConnection(VIP, port, timeout=timeout)
            conn.sock = self.client_socket(port, timeout)
            conn.request("GET", "/", headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read().decode().strip()
            conn.close()
            return body if resp.status == 200 else None
        except OSError:
            return None


# ---- what runs lvsfast ------------------------------------------------------------------------

class Daemon:
    """The real daemon (checker child only) in the lb namespace; reloads by SIGHUP."""

    def __init__(self, lab: ReloadLab) -> None:
        self.lab = lab
        self.proc: subprocess.Popen | None = None
        self.reloads = 0

    @property
    def sock(self) -> str:
        return str(self.lab.workdir / "ctl.sock")

    def start(self) -> None:
        w, lab = self.lab.workdir, self.lab
        self.proc = lab.lab.spawn(lab.lb, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(lab.conf),
                                  "--control-socket", self.sock, "-p", str(w / "p"), "-r", str(w / "r"),
                                  "-c", str(w / "c"), stdout=open(lab.log, "a"), stderr=subprocess.STDOUT)
        wait_for(self._status, timeout=60, interval=0.2, what=f"lvsfast to answer (log: {lab.log})")

    def _status(self) -> dict | None:
        try:
            return request(self.sock, "status", timeout=5)
        except (RuntimeError, OSError, ValueError):
            return None

    def reload(self) -> None:
        assert self.proc is not None
        self.reloads += 1
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: (self._status() or {}).get("reloads", 0) >= self.reloads, timeout=30, interval=0.1,
                 what="the reload to be applied")
        st = self._status() or {}
        assert st.get("failed_reloads") == 0, st.get("last_reload_error")

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


class InProcess:
    """The checker subsystem with the real backend, on an asyncio loop in a thread that lives in
    the lb namespace (so every socket it opens, checks and netlink alike, is made there).

    For the emulated IPVS VM, where starting the daemon's processes alone takes tens of seconds.
    Plain asyncio, not uvloop: see ``TestIpvsOnUvloop`` in tests/ipvs_vm/test_ipvsvm_reload.py.
    """

    def __init__(self, lab: ReloadLab) -> None:
        self.lab = lab
        self.loop: asyncio.AbstractEventLoop | None = None
        self.svc: Any = None
        self._thread: threading.Thread | None = None
        self._handler: logging.Handler | None = None

    def _call(self, coro: Any, timeout: float = 60) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        from lvsfast.check.service import CheckerService
        from lvsfast.config import load

        self._handler = logging.FileHandler(self.lab.log)
        self._handler.setFormatter(logging.Formatter("%(asctime)s: %(message)s"))
        logger = logging.getLogger("lvsfast")
        logger.addHandler(self._handler)
        logger.setLevel(logging.INFO)
        self.loop = loop = asyncio.new_event_loop()

        def run() -> None:
            with in_netns(self.lab.lb.name):
                asyncio.set_event_loop(loop)
                loop.run_forever()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

        async def start() -> None:
            # Runtime state goes beside the control socket's path: our workdir, not /var/lib.
            opts = SimpleNamespace(control_socket=str(self.lab.workdir / "ctl.sock"))
            self.svc = CheckerService(opts, backend=self._backend())
            await self.svc.start(load(str(self.lab.conf)))
        self._call(start())

    def _backend(self) -> Any:
        if self.lab.backend == "ipvs":
            from lvsfast.ipvs.backend import IPVSBackend

            return IPVSBackend()
        from lvsfast.nft.backend import NftBackend

        return NftBackend()

    def reload(self) -> None:
        from lvsfast.config import load

        self._call(self.svc.reload(load(str(self.lab.conf))))

    def stop(self) -> int | None:
        if self.loop is None:
            return None
        try:
            if self.svc is not None:
                self._call(self.svc.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            assert self._thread is not None
            self._thread.join(10)
            self.loop.close()
            self.loop = None
            logger = logging.getLogger("lvsfast")
            if self._handler is not None:
                logger.removeHandler(self._handler)
                self._handler.close()
        return 0


def ask(conn: http.client.HTTPConnection) -> str:
    conn.request("GET", "/")
    resp = conn.getresponse()
    body = resp.read().decode().strip()
    assert resp.status == 200, (resp.status, body)
    return body


class Load:
    """Steady requests on fresh connections from a thread; records (start time, answer or None)."""

    def __init__(self, lab: ReloadLab, port: int, rate: float = 20) -> None:
        self.lab, self.port, self.period = lab, port, 1 / rate
        self.results: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            t = time.monotonic()
            self.results.append((t, self.lab.get(self.port)))
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> "Load":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def since(self, t: float) -> list[str | None]:
        return [r for at, r in list(self.results) if at >= t]


def parse_proc_ip_vs(text: str) -> View:
    """/proc/net/ip_vs (IPv4): ``TCP  0A000164:0050 rr`` then ``  -> 0A00020B:0050 Masq 1 0 0``."""
    def addr(hexed: str) -> str:
        a, _, port = hexed.partition(":")
        return hp(socket.inet_ntoa(bytes.fromhex(a)), int(port, 16))
    out: View = {}
    cur: dict[str, int] | None = None
    for line in text.splitlines():
        tok = line.split()
        if len(tok) >= 2 and tok[0] in ("TCP", "UDP", "SCTP") and ":" in tok[1]:
            cur = out.setdefault(addr(tok[1]), {})
        elif len(tok) >= 4 and tok[0] == "->" and cur is not None and tok[1][0] in "0123456789ABCDEF":
            cur[addr(tok[1])] = int(tok[3])
    return out


# ---- config sections -------------------------------------------------------------------------

def real(addr: str, port: int, weight: int = 1, extra: str = "") -> str:
    return f"""    real_server {addr} {port} {{
        weight {weight}
{extra}        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 2
            retry 0
            delay_before_retry 1
        }}
    }}
"""


def virtual(case: str, reals: str, extra: str = "") -> str:
    return (f"virtual_server {VIP} {PORTS[case]} {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n"
            f"    protocol TCP\n{extra}{reals}}}\n")


def rs(i: int, case: str) -> str:
    return hp(REALS[i], PORTS[case])


# ---- the cases both backends run -------------------------------------------------------------

def initial_sections() -> dict[str, str]:
    p = PORTS
    return {
        "a": virtual("a", "".join(real(a, p["a"]) for a in REALS), "    drain_timeout 4\n"),
        # b: rs0 fails while inhibited; the reload changes its weight.
        "b": virtual("b", real(REALS[0], p["b"], 2) + real(REALS[1], p["b"]), "    inhibit_on_failure\n"),
        # c: rs1 fails while inhibited; the reload removes it (no drain_timeout: it has no connections).
        "c": virtual("c", real(REALS[0], p["c"]) + real(REALS[1], p["c"]), "    inhibit_on_failure\n"),
        # d: rs1 and rs2 fail (and leave); the reload changes rs2's weight and leaves rs1 as it was.
        "d": virtual("d", "".join(real(a, p["d"]) for a in REALS)),
        # f: rs1 fails, quorum 2 is lost, the sorry server (rs2) takes over.
        "f": virtual("f", real(REALS[0], p["f"]) + real(REALS[1], p["f"]),
                     f"    quorum 2\n    sorry_server {REALS[2]} {p['f']}\n"),
        "e": virtual("e", real(REALS[0], p["e"]) + real(REALS[1], p["e"])),
    }


FAILING = [(REALS[0], PORTS["b"]), (REALS[1], PORTS["c"]), (REALS[1], PORTS["d"]), (REALS[2], PORTS["d"]),
           (REALS[1], PORTS["f"])]


@pytest.fixture(scope="class")
def reload_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReloadLab]:
    backend = request.cls.backend
    need_root()
    need_binary("ip", "ipvsadm" if backend == "ipvs" else "nft")
    if backend == "ipvs":
        from support.ipvs import need_ipvs

        need_ipvs()
    rl = ReloadLab(backend, tmp_path_factory.mktemp("reload"), getattr(request.cls, "runner", "daemon"))
    try:
        rl.build()
        for addr, port in FAILING:
            rl.servers.fail(addr, port)
        rl.sections = initial_sections()
        rl.start()
        yield rl
        assert rl.stop() == 0, rl.log_tail()
        assert hp(VIP, 80) not in rl.kernel()  # our entries leave with the daemon
    finally:
        rl.close()


class ReloadCases:
    """keepalived's reload failures, each a case with its own virtual server (set ``backend``)."""

    backend = ""

    def test_weight_changed_while_inhibited_applies_on_recovery(self, reload_lab: ReloadLab) -> None:
        """keepalived #187, #1354."""
        lab, p = reload_lab, PORTS["b"]
        lab.wait_service("b", {rs(0, "b"): 0, rs(1, "b"): 1}, what="rs0 inhibited (weight 0)")
        lab.reload("b", virtual("b", real(REALS[0], p, 5) + real(REALS[1], p), "    inhibit_on_failure\n"))
        assert lab.service("b") == {rs(0, "b"): 0, rs(1, "b"): 1}  # still failing: still inhibited
        lab.servers.fail(REALS[0], p, False)
        lab.wait_service("b", {rs(0, "b"): 5, rs(1, "b"): 1}, what="the reloaded weight 5 on recovery")

    def test_inhibited_server_removed_from_config_disappears(self, reload_lab: ReloadLab) -> None:
        """keepalived #492."""
        lab, p = reload_lab, PORTS["c"]
        lab.wait_service("c", {rs(0, "c"): 1, rs(1, "c"): 0}, what="rs1 inhibited (weight 0)")
        lab.reload("c", virtual("c", real(REALS[0], p), "    inhibit_on_failure\n"))
        lab.wait_service("c", {rs(0, "c"): 1}, timeout=15, what="the removed inhibited server gone")

    def test_failed_server_returns_after_reload(self, reload_lab: ReloadLab) -> None:
        """keepalived #373, #1720: one failed server unchanged by the reload, one with a new weight."""
        lab, p = reload_lab, PORTS["d"]
        lab.wait_service("d", {rs(0, "d"): 1}, what="rs1 and rs2 out after failing")
        lab.reload("d", virtual("d", real(REALS[0], p) + real(REALS[1], p) + real(REALS[2], p, 4)))
        assert lab.service("d") == {rs(0, "d"): 1}
        lab.servers.fail(REALS[1], p, False)
        lab.servers.fail(REALS[2], p, False)
        lab.wait_service("d", {rs(0, "d"): 1, rs(1, "d"): 1, rs(2, "d"): 4}, what="both back once their checks pass")

    def test_sorry_server_kept_across_reload(self, reload_lab: ReloadLab) -> None:
        """keepalived #490: a plain reload, then one changing the failed server's weight."""
        lab, p = reload_lab, PORTS["f"]
        sorry = {rs(2, "f"): 1}
        lab.wait_service("f", sorry, what="quorum lost: only the sorry server")
        extra = f"    quorum 2\n    sorry_server {REALS[2]} {p}\n"
        lab.reload("f", virtual("f", real(REALS[0], p) + real(REALS[1], p), extra))
        assert lab.service("f") == sorry, lab.service("f")
        lab.reload("f", virtual("f", real(REALS[0], p) + real(REALS[1], p, 3), extra))
        assert lab.service("f") == sorry, lab.service("f")
        assert lab.get(p) == rs(2, "f")  # and traffic reaches it
        lab.servers.fail(REALS[1], p, False)
        lab.wait_service("f", {rs(0, "f"): 1, rs(1, "f"): 3}, what="quorum back: the real servers, sorry out")
