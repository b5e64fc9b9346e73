"""The checker at scale: N local listeners checked with TCP_CHECK, then HTTP_GET, at delay_loop 1.

    python bench/checker_scale.py --n 1000 5000 20000 --seconds 10 [--impls lvsfast keepalived] [--json out.json]

Listeners run in a child process (their CPU is not the checker's): wildcard sockets on 10
ports in the bench's own network namespace, so each real server is a distinct 127.1.x.y:port.
lvsfast's checker is the real CheckerService on uvloop with a backend that only records.
keepalived 2.2.7's checker (``keepalived -C``) runs the same keepalived.conf; it needs IPVS, so
it runs only where the kernel has it (inside the VM: scripts/vm.sh). Per N, check and
implementation: checks/s as the servers counted them (accepted connections) against the N/s
the schedule asks for; the checker's CPU % of one core, CPU microseconds per check (kernel
part shown), and RSS; for lvsfast also the p50/p99 lateness of check starts. Measured after
the first delay_loop; results are this machine's (2 shared cores).

    python bench/checker_scale.py --path veth --n 20000 [--also main=/work/main/src] [--json out.json]

``--path veth``: the real servers in a namespace of their own behind a veth pair (a /16 local
there, so wildcard listeners answer every address without NAT), the daemon started as keepalived
is (``-C -n -l -f``, ``lvs_backend nftables``), its checker child's CPU from /proc and its start
lateness from the prober's histogram (``stats``). nginx serves where installed (else the Python
loop). Beside every checker figure, the floor (bench/tcp_floor.pyx, built at run time: connect,
epoll, SO_ERROR, RST close at the same schedule) against the same servers; with the daemon the
two run in alternating rounds (the checker child stopped meanwhile) so both meet the same load.

    python bench/checker_scale.py --path veth --n 20000 --checks TCP --probers 1 2

``--probers``: the daemon with global_defs ``checker_probers`` at each value in turn (the
probers each on a thread of its own; the child's CPU is all its threads'), the floor beside each.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

PORTS = 10
SSL_BASE = 20100  # SSL_GET's real servers: nginx's TLS listeners, beside the plain ones
SSL12_BASE = 20200  # the same limited to TLS 1.2, whose resumption skips the key exchange (1.3's does not)
HTTP_REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"


def addresses(n: int, net: str = "127.1", base: int = 20000) -> list[tuple[str, int]]:
    # Distinct (address, port) real servers; the listeners are wildcard sockets on PORTS ports,
    # so 20,000 servers need 10 descriptors, not 20,000 (the fd limit here is 20,000).
    return [(f"{net}.{i // PORTS // 250}.{i // PORTS % 250 + 1}", base + i % PORTS) for i in range(n)]


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # root may raise the hard limit; 20,000 listeners need more than a default 20,000
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def enter_netns(name: str | None) -> None:
    """Move this process into the named network namespace (Python 3.11 has no os.setns)."""
    if not name:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def _listeners(n: int, ready, stop, accepted, netns: str | None = None) -> None:
    """A bare epoll server: accept, answer HTTP if a request comes, close. Light enough that
    20,000 checks a second are limited by the checker, not by the servers."""
    import select
    import socket

    enter_netns(netns)
    _raise_nofile()
    ep = select.epoll()
    listening: dict[int, socket.socket] = {}
    conns: dict[int, socket.socket] = {}
    for port in sorted({p for _, p in addresses(n)}):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))  # inside the bench's own network namespace: only its loopback
        s.listen(4096)
        listening[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLIN)
    ready.set()
    while not stop.is_set():
        for fd, _ in ep.poll(0.2, 1024):
            ls = listening.get(fd)
            if ls is not None:
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    c.setblocking(False)
                    accepted.value += 1  # one process writes it: no lock needed
                    conns[c.fileno()] = c
                    ep.register(c.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
                continue
            c = conns.pop(fd, None)
            if c is None:
                continue
            try:
                if c.recv(4096):  # TCP_CHECK closes at once: an empty read
                    c.send(HTTP_REPLY)
            except OSError:
                pass
            c.close()
    for s in list(listening.values()) + list(conns.values()):
        s.close()


NGINX_CONF = """worker_processes {workers};
daemon off;
pid {wd}/nginx.pid;
error_log {wd}/error.log;
worker_rlimit_nofile 200000;
events {{ worker_connections 100000; multi_accept on; }}
http {{
 access_log off;
 keepalive_timeout 0;
 client_body_temp_path {wd}/b; proxy_temp_path {wd}/p; fastcgi_temp_path {wd}/f; uwsgi_temp_path {wd}/u;
 scgi_temp_path {wd}/s;
 server {{
{listens}
  location / {{ return 200 "ok\\n"; }}
 }}
 server {{
{ssl_listens}
  ssl_certificate {wd}/server.crt; ssl_certificate_key {wd}/server.key;
  location / {{ return 200 "ok\\n"; }}
 }}
 server {{
{ssl12_listens}
  ssl_protocols TLSv1.2;
  ssl_certificate {wd}/server.crt; ssl_certificate_key {wd}/server.key;
  location / {{ return 200 "ok\\n"; }}
 }}
 server {{ listen 127.0.0.1:8081; location / {{ stub_status; }} }}
}}
"""


def _nginx_servers(n: int, ready, stop, accepted, netns: str | None = None, workers: int = 1) -> None:
    """nginx (one worker by default, C) answering every real server: TCP_CHECK's connects cost it an
    accept and a reset, HTTP_GET's a 200. Its accept counter (stub_status) is the servers' count."""
    import urllib.request

    enter_netns(netns)
    _raise_nofile()
    with tempfile.TemporaryDirectory(prefix="chf-nginx-") as wd:
        ports = sorted({p for _, p in addresses(n)})
        listens = "\n".join(f"  listen {p} backlog=8192;" for p in ports)
        # SSL_GET's: nginx's defaults (TLS 1.3, session tickets on), an ECDSA P-256 certificate
        # (an RSA signature per full handshake would make the one worker, not the checker, the limit).
        ssl_listens, ssl12_listens = ("\n".join(f"  listen {p} ssl backlog=8192;" for p in sorted({p for _, p in addresses(n, base=b)}))
                                      for b in (SSL_BASE, SSL12_BASE))
        _self_signed(wd)
        Path(wd, "nginx.conf").write_text(NGINX_CONF.format(wd=wd, workers=workers, listens=listens, ssl_listens=ssl_listens,
                                                            ssl12_listens=ssl12_listens))
        proc = subprocess.Popen(["nginx", "-p", wd, "-c", f"{wd}/nginx.conf", "-e", f"{wd}/error.log"])

        def accepts() -> int:
            # A saturated worker (TLS in an emulated guest) answers late: wait rather than lose the count.
            body = urllib.request.urlopen("http://127.0.0.1:8081/", timeout=30).read().decode()
            return int(body.splitlines()[2].split()[0])

        try:
            for _ in range(100):
                try:
                    base = accepts()
                    break
                except OSError:
                    time.sleep(0.05)
            ready.set()
            polls = 0  # each reading counts its own connection to stub_status: not a check
            while not stop.is_set():
                polls += 1
                try:
                    accepted.value = accepts() - base - polls
                except OSError:  # nginx slow to answer on a loaded machine: its count is read next time
                    pass
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(10)


def _self_signed(wd: str) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "checker-bench.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    Path(wd, "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(wd, "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))


def base_port(check: str) -> int:
    return {"SSL": SSL_BASE, "SSL12": SSL12_BASE}.get(check, 20000)


class Recorder:
    name = "recording"
    capabilities: frozenset[str] = frozenset()  # none of the optional data-plane parts

    def __init__(self) -> None:
        self.applies = 0

    async def apply(self, desired, reread=False):
        self.applies += 1
        return []

    async def close(self, desired=None):
        pass


def config_text(n: int, check: str, net: str = "127.1") -> str:
    block = {"TCP": "TCP_CHECK {\n connect_timeout 2\n retry 0\n}",
             "HTTP": "HTTP_GET {\n url {\n path /\n status_code 200\n }\n connect_timeout 2\n retry 0\n}",
             "SSL": "SSL_GET {\n url {\n path /\n status_code 200\n }\n connect_timeout 2\n retry 0\n}"}["SSL" if check.startswith("SSL") else check]
    reals = "".join(f" real_server {h} {p} {{\n  {block}\n }}\n" for h, p in addresses(n, net, base_port(check)))
    return (f"virtual_server 192.0.2.1 80 {{\n delay_loop 1\n warmup 1\n lb_algo rr\n lb_kind NAT\n"
            f" protocol TCP\n{reals}}}\n")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sys() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def measure(n: int, check: str, seconds: float, accepted, asyncio_http: bool = False, net: str = "127.1",
                  resume: bool = True) -> dict:
    from lvsfast.check.service import CheckerService
    from lvsfast.config import loads

    if not resume:
        # The same-run baseline for SSL_GET: a full handshake every check, as keepalived makes.
        from lvsfast.check import probes

        probes.TlsMemo.offer = lambda self, ctx, now: None  # type: ignore[method-assign]
    if asyncio_http:
        # The same-run baseline for HTTP_GET: every check on the asyncio protocol, none in the prober.
        CheckerService._exchange_url = staticmethod(lambda chk: None)  # type: ignore[method-assign]

    t0 = time.monotonic()
    cfg = loads(config_text(n, check, net))
    parse_s = time.monotonic() - t0
    svc = CheckerService(backend=Recorder())
    await svc.start(cfg)
    # warmup spreads the first runs over 1 s; the first delay_loop ends a second later, and its
    # results (each server's first state, handed to Python) are in by then.
    await asyncio.sleep(2.5)
    st0 = svc.stats()
    runs0 = st0["checks"]
    svc.record_lateness()
    cpu0, sys0, acc0, w0 = _cpu(), _sys(), accepted.value, time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, sys1, acc1, w1 = _cpu(), _sys(), accepted.value, time.monotonic()
    st1 = svc.stats()
    runs1 = st1["checks"]
    late = sorted(svc.lateness_samples())
    down = sum(1 for r in svc.reals.values() if not r.up)
    from collections import Counter

    reasons = Counter(r.reason().split(": ", 1)[-1] for r in svc.reals.values() if not r.up).most_common(3)
    await svc.stop()

    def pct(p: float) -> float:
        return late[min(len(late) - 1, int(p * len(late)))] * 1000 if late else float("nan")

    checks = max(1, acc1 - acc0)
    tls = st1.get("tls_handshakes", 0) - st0.get("tls_handshakes", 0)
    resumed = st1.get("tls_resumed", 0) - st0.get("tls_resumed", 0)
    return {"impl": "lvsfast-asyncio" if asyncio_http else "lvsfast" if resume else "lvsfast-noresume", "n": n, "check": check, "scheduled_per_s": n,
            "achieved_per_s": round((acc1 - acc0) / (w1 - w0), 1),
            "completed_per_s": round((runs1 - runs0) / (w1 - w0), 1),
            "cpu_pct": round(100 * (cpu1 - cpu0) / (w1 - w0), 1),
            "cpu_us_per_check": round(1e6 * (cpu1 - cpu0) / checks, 1),
            "kernel_us_per_check": round(1e6 * (sys1 - sys0) / checks, 1),
            "rss_mb": round(_rss_mb(), 1),
            "lateness_p50_ms": round(pct(0.50), 1), "lateness_p99_ms": round(pct(0.99), 1),
            "lateness_sample_ms": [round(x * 1000, 2) for x in late[::max(1, len(late) // 2000)]],
            "servers_down": down, "down_reasons": reasons, "config_parse_s": round(parse_s, 2),
            "tls_resumed_pct": round(100 * resumed / tls, 1) if tls else None,
            "compiled_core": __import__("lvsfast").compiled_core(), "loadavg": _loadavg()}


def _proc_cpu(pid: int) -> tuple[float, float]:
    """(user+system, system) seconds of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, int(fields[12]) / tick


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def keepalived_usable() -> bool:
    return shutil.which("keepalived") is not None and subprocess.run(
        ["modprobe", "ip_vs"], capture_output=True).returncode == 0


def measure_keepalived(n: int, check: str, seconds: float, accepted) -> dict:
    """keepalived's checker child on the same servers: CPU from /proc, checks as the servers count them."""
    with tempfile.TemporaryDirectory(prefix="lvsfast-chkbench-") as wd:
        conf = Path(wd, "keepalived.conf")
        conf.write_text("global_defs {\n router_id chkbench\n}\n" + config_text(n, check))
        pid, cpid = Path(wd, "k.pid"), Path(wd, "c.pid")
        proc = subprocess.Popen(["keepalived", "-C", "-n", "-f", str(conf), "-p", str(pid), "-c", str(cpid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 120
            while not (cpid.exists() and cpid.read_text().strip()) and time.monotonic() < end:
                time.sleep(0.1)
            child = int(cpid.read_text())
            # Settled once the servers see the scheduled rate (loading N IPVS entries comes first).
            last, steady = accepted.value, 0
            while steady < 2 and time.monotonic() < end:
                time.sleep(1)
                rate, last = accepted.value - last, accepted.value
                steady = steady + 1 if rate >= 0.5 * n else 0
            (cpu0, sys0), acc0, w0 = _proc_cpu(child), accepted.value, time.monotonic()
            time.sleep(seconds)
            (cpu1, sys1), acc1, w1 = _proc_cpu(child), accepted.value, time.monotonic()
            rss = _proc_rss_mb(child)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            subprocess.run(["ipvsadm", "-C"], capture_output=True)
    checks = max(1, acc1 - acc0)
    return {"impl": "keepalived", "n": n, "check": check, "scheduled_per_s": n,
            "achieved_per_s": round((acc1 - acc0) / (w1 - w0), 1),
            "cpu_pct": round(100 * (cpu1 - cpu0) / (w1 - w0), 1),
            "cpu_us_per_check": round(1e6 * (cpu1 - cpu0) / checks, 1),
            "kernel_us_per_check": round(1e6 * (sys1 - sys0) / checks, 1), "rss_mb": round(rss, 1)}


# ---- the veth path: real servers in another namespace, the daemon as keepalived is started ----

# The real servers' addresses on the veth path: a /16 routed to the servers' namespace, where it
# is local (AnyIP), so wildcard listeners on PORTS ports answer every address without NAT (a
# redirect would put 20,000 connections a second through conntrack twice, past its table).
VETH_NET = "10.78"
ROOT = Path(__file__).resolve().parent.parent


def veth_lab():
    """Two namespaces prefixed ``chf``: ``dir`` (the checker) and ``srv`` (the real servers)."""
    import uuid

    from lvsfast.lab.netns import Lab

    lab = Lab(prefix="chf" + uuid.uuid4().hex[:5])
    d, srv = lab.ns("dir"), lab.ns("srv")
    lab.veth(d, "eth0", srv, "eth0")
    d.ip("addr", "add", "10.77.0.1/24", "dev", "eth0")
    srv.ip("addr", "add", "10.77.0.2/24", "dev", "eth0")
    srv.ip("route", "add", "local", f"{VETH_NET}.0.0/16", "dev", "lo")
    d.ip("route", "add", f"{VETH_NET}.0.0/16", "via", "10.77.0.2")
    return lab, d, srv


def _wait_steady(accepted, n: int, limit: float) -> None:
    """Until the servers see at least half the schedule two seconds running (or ``limit`` s)."""
    end = time.monotonic() + limit
    last, steady = accepted.value, 0
    while steady < 2 and time.monotonic() < end:
        time.sleep(1)
        rate, last = accepted.value - last, accepted.value
        steady = steady + 1 if rate >= 0.5 * n else 0


def measure_daemon(n: int, check: str, seconds: float, accepted, netns, net: str, floor_too: bool,
                   src: str | None = None, label: str = "", probers: int = 1) -> list[dict]:
    """lvsfast's daemon started as keepalived is (``-C -n -l -f``, nftables backend) in ``netns``;
    CPU of its checker child from /proc, checks as the servers count them, start lateness from the
    prober's own histogram (the ``stats`` control request). With ``floor_too`` the checker child
    is stopped (SIGSTOP: its nftables tables stay, so the path is the same) while the floor runs."""
    from lvsfast.daemon.control import request

    out = []
    with tempfile.TemporaryDirectory(prefix="chf-") as wd:
        conf = Path(wd, "keepalived.conf")
        more = f" checker_probers {probers}\n" if probers != 1 else ""  # a tree without the keyword still runs at 1
        conf.write_text("global_defs {\n router_id chkbench\n lvs_backend nftables\n" + more + "}\n"
                        + config_text(n, check, net))
        pid, cpid, sock = Path(wd, "k.pid"), Path(wd, "c.pid"), Path(wd, "ctl.sock")
        env = {**os.environ, "PYTHONPATH": src or str(ROOT / "src")}
        log = open(Path(wd, "log"), "w")
        proc = subprocess.Popen(netns.argv(sys.executable, "-m", "lvsfast.cli", "-C", "-n", "-l", "-f", str(conf),
                                           "-p", str(pid), "-c", str(cpid), "--control-socket", str(sock)),
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            end = time.monotonic() + 120
            while not (cpid.exists() and cpid.read_text().strip()) and time.monotonic() < end:
                if proc.poll() is not None:
                    raise SystemExit(f"the daemon exited: {Path(wd, 'log').read_text()[-2000:]}")
                time.sleep(0.1)
            child = int(cpid.read_text())
            _wait_steady(accepted, n, 60)
            # Rounds of checker, then floor (the checker stopped), so both see the same moments of
            # a shared machine's load; each figure is summed over its rounds.
            rounds = ROUNDS if floor_too else 1
            cpu = sys_ = acc = wall = 0.0
            lates: list[dict] = []
            floors: list[dict] = []
            for k in range(rounds):
                if k:
                    os.kill(child, signal.SIGCONT)
                    time.sleep(RESUME_S)  # its stopped checks are past due: back on its schedule first
                request(str(sock), "stats", clear=True)
                (cpu0, sys0), acc0, w0 = _proc_cpu(child), accepted.value, time.monotonic()
                if os.environ.get("CHF_PERF"):  # where the checker's time goes: perf report -i $CHF_PERF
                    subprocess.run(["perf", "record", "-g", "-o", os.environ["CHF_PERF"], "-p", str(child), "--",
                                    "sleep", str(seconds / rounds)], capture_output=True)
                else:
                    time.sleep(seconds / rounds)
                (cpu1, sys1), acc1, w1 = _proc_cpu(child), accepted.value, time.monotonic()
                lates.append(request(str(sock), "stats").get("checker", {}))
                cpu, sys_, acc, wall = cpu + cpu1 - cpu0, sys_ + sys1 - sys0, acc + acc1 - acc0, wall + w1 - w0
                if floor_too:
                    os.kill(child, signal.SIGSTOP)
                    floors.append(_floor_in_child(n, check, seconds / rounds, accepted, netns.name, net))
            os.kill(child, signal.SIGCONT)
            rss = _proc_rss_mb(child)
            checks = max(1, acc)
            p99s = [st.get("lateness_p99_ms") for st in lates if st.get("lateness_p99_ms") is not None]
            p50s = sorted(st.get("lateness_p50_ms") for st in lates if st.get("lateness_p50_ms") is not None)
            out.append({"impl": "lvsfast-daemon", "tree": label or "this", "n": n, "check": check, "scheduled_per_s": n,
                        "achieved_per_s": round(acc / wall, 1),
                        "cpu_pct": round(100 * cpu / wall, 1),
                        "cpu_us_per_check": round(1e6 * cpu / checks, 1),
                        "kernel_us_per_check": round(1e6 * sys_ / checks, 1), "rss_mb": round(rss, 1),
                        "lateness_p50_ms": p50s[len(p50s) // 2] if p50s else None,
                        "lateness_p99_ms": max(p99s) if p99s else None,
                        "behind": any(st.get("behind") for st in lates), "rounds": rounds, "loadavg": _loadavg(),
                        "probers": probers})
            if floors:
                out.append({**_sum_floors(floors), "probers": probers})
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    return out


ROUNDS = 3
RESUME_S = 1.5


def _sum_floors(floors: list[dict]) -> dict:
    """Rounds of the floor as one: sums for rate and CPU, the worst lateness."""
    raw = {k: sum(f["raw"][k] for f in floors) for k in floors[0]["raw"]}
    out = dict(floors[-1])
    checks = max(1, raw["connected"])
    out.update({"achieved_per_s": round(raw["connected"] / raw["wall_s"], 1),
                "cpu_pct": round(100 * raw["cpu_s"] / raw["wall_s"], 1),
                "cpu_us_per_check": round(1e6 * raw["cpu_s"] / checks, 1),
                "kernel_us_per_check": round(1e6 * raw["sys_s"] / checks, 1),
                "failed": sum(f["failed"] for f in floors), "timed_out": sum(f["timed_out"] for f in floors),
                "errors": {e: sum(f["errors"].get(e, 0) for f in floors) for f in floors for e in f["errors"]},
                "lateness_p99_ms": max(f["lateness_p99_ms"] for f in floors), "rounds": len(floors), "raw": raw})
    return out


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# SSL_GET's floors (bench/tls_floor.py): (loop, GET after the handshake, resume). The first is the
# one an SSL_GET is held against (the README's "floor"); the rest say where the cost lies.
TLS_FLOORS = [("selectors", True, False), ("selectors", True, True), ("selectors", False, False),
              ("asyncio", True, False), ("asyncio", True, True)]


def _floor_child(n, check, seconds, net, netns, q, variant=None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    enter_netns(netns)
    _raise_nofile()
    req = b"GET / HTTP/1.0\r\nHost: 0.0.0.0\r\nUser-Agent: lvsfast\r\n\r\n" if check != "TCP" else None
    if check.startswith("SSL"):
        import tls_floor

        loop, get, resume = variant or TLS_FLOORS[0]
        res = tls_floor.measure(addresses(n, net, base_port(check)), seconds, 1.0, req if get else None, resume, loop)
        res["check"] = check
        q.put(res)
        return
    import floor

    q.put(floor.measure(addresses(n, net), seconds, 1.0, req))


def _floor_in_child(n: int, check: str, seconds: float, accepted, netns: str | None, net: str,
                    variant: tuple | None = None) -> dict:
    """The floor (bench/tcp_floor.pyx; for SSL bench/tls_floor.py) on the same servers, in a
    process of its own; its rate as the servers count it, as the checker's is."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    acc0, w0 = accepted.value, time.monotonic()
    p = ctx.Process(target=_floor_child, args=(n, check, seconds, net, netns, q, variant))
    p.start()
    res = q.get(timeout=600)
    p.join(30)
    res["servers_counted_per_s"] = round((accepted.value - acc0) / (time.monotonic() - w0), 1)  # warm-up period included
    res["loadavg"] = _loadavg()
    return res


NETNS_ENV = "LVSFAST_CHECKER_BENCH_NETNS"


def in_own_netns() -> int | None:
    """Re-run this script inside a fresh network namespace (loopback only), so the wildcard
    listeners reach nothing outside it; returns the exit status, or None when already inside."""
    import subprocess

    if os.environ.get(NETNS_ENV) or os.geteuid() != 0:
        return None
    name = f"lvsfast-chkbench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        return subprocess.run(["ip", "netns", "exec", name, sys.executable, *sys.argv],
                              env={**os.environ, NETNS_ENV: name}).returncode
    finally:
        subprocess.run(["ip", "netns", "del", name])


def main() -> None:
    if "veth" not in sys.argv:  # the loopback path runs in a namespace of its own; veth makes two
        rc = in_own_netns()
        if rc is not None:
            raise SystemExit(rc)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--checks", nargs="+", default=["TCP", "HTTP"], choices=["TCP", "HTTP", "SSL", "SSL12"],
                    help="SSL: SSL_GET against nginx's TLS listeners, with and without session resumption, "
                         "beside the TLS floors (bench/tls_floor.py); SSL12: the same with TLS 1.2 only")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="1,000 servers, 5 s per check type")
    ap.add_argument("--path", choices=["loopback", "veth"], default="loopback",
                    help="veth: the real servers in another namespace behind a veth pair, the daemon started "
                         "with keepalived's flags (-C -n -l -f, nftables backend)")
    ap.add_argument("--server", choices=["python", "nginx"], default=None,
                    help="the real servers: nginx (the default where installed: cheap enough that the checker, not "
                         "the servers, sets the rate on a loaded machine) or a Python epoll loop")
    ap.add_argument("--also", nargs="*", default=[], metavar="NAME=SRC",
                    help="the daemon from other trees too (their src/ folder), in the same run: a before/after")
    ap.add_argument("--no-floor", action="store_true", help="leave out the floor (bench/tcp_floor.pyx)")
    ap.add_argument("--probers", type=int, nargs="+", default=[1],
                    help="veth daemon: global_defs checker_probers, each value in turn (the floor beside each)")
    ap.add_argument("--impls", nargs="*", default=None,
                    choices=["lvsfast", "lvsfast-asyncio", "lvsfast-noresume", "lvsfast-daemon", "keepalived"],
                    help="keepalived runs only where the kernel has IPVS; lvsfast-asyncio (HTTP only) runs every "
                         "HTTP_GET on the asyncio protocol instead of the prober")
    a = ap.parse_args()
    if a.quick:
        a.n, a.seconds = [1000], 5.0
    if a.server is None:
        a.server = "nginx" if shutil.which("nginx") else "python"
    if a.impls is None:
        a.impls = ["lvsfast-daemon"] if a.path == "veth" else ["lvsfast", "lvsfast-asyncio", "lvsfast-noresume",
                                                                "keepalived"]
    if any(c.startswith("SSL") for c in a.checks) and a.server != "nginx":
        raise SystemExit("SSL_GET needs nginx's TLS listeners (--server nginx)")
    _raise_nofile()
    import logging

    logging.basicConfig(level=logging.WARNING)

    impls = [i for i in a.impls if i != "keepalived" or keepalived_usable()]
    skipped = sorted(set(a.impls) - set(impls))
    if skipped:
        print(f"not measured here (no IPVS): {', '.join(skipped)}", file=sys.stderr)
    results = []
    ctx = mp.get_context("spawn")
    lab = None
    if a.path == "veth":
        lab, dir_ns, srv_ns = veth_lab()
        checker_ns, server_ns, net = dir_ns, srv_ns.name, VETH_NET
    else:
        from lvsfast.lab.netns import Namespace

        checker_ns, server_ns, net = Namespace(os.environ.get(NETNS_ENV, "")), None, "127.1"
    try:
        for n in a.n:
            ready, stop, accepted = ctx.Event(), ctx.Event(), ctx.Value("q", 0, lock=False)
            serve = _nginx_servers if a.server == "nginx" else _listeners
            child = ctx.Process(target=serve, args=(n, ready, stop, accepted, server_ns), daemon=True)
            child.start()
            if not ready.wait(120):
                raise SystemExit("listeners did not start")
            try:
                for check in a.checks:
                    floored = a.no_floor
                    for impl in impls:
                        if impl == "lvsfast-asyncio" and check != "HTTP" or impl == "lvsfast-noresume" and not check.startswith("SSL"):
                            continue
                        if impl == "lvsfast-daemon":
                            got = []
                            for label, src in [("", None)] + [t.split("=", 1) for t in a.also]:
                                # Another tree may not know checker_probers: it runs with its default only.
                                for k, probers in enumerate(a.probers if src is None else [1]):
                                    got += measure_daemon(n, check, a.seconds, accepted, checker_ns, net,
                                                          not floored or (k > 0 and not a.no_floor), src, label, probers)
                                    floored = True
                        elif impl.startswith("lvsfast"):
                            # A process of its own each time: the baseline patches the service class.
                            got = [_in_child(n, check, a.seconds, accepted, impl == "lvsfast-asyncio", checker_ns.name
                                             if a.path == "veth" else None, net, impl != "lvsfast-noresume")]
                        else:
                            got = [measure_keepalived(n, check, a.seconds, accepted)]
                        for res in got:
                            res["path"], res["server"] = a.path, a.server
                            results.append(res)
                            print(json.dumps({k: v for k, v in res.items() if k != "lateness_sample_ms"}), flush=True)
                    variants = [] if floored else TLS_FLOORS if check.startswith("SSL") else [None]
                    for variant in variants:
                        res = _floor_in_child(n, check, a.seconds, accepted,
                                              checker_ns.name if a.path == "veth" else None, net, variant)
                        res["path"], res["server"] = a.path, a.server
                        results.append(res)
                        print(json.dumps(res), flush=True)
            finally:
                stop.set()
                child.join(10)
                if child.is_alive():
                    child.kill()
    finally:
        if lab is not None:
            lab.close()
    if a.json:
        write_json(Path(a.json), results, skipped)


def _measure_child(n, check, seconds, accepted, asyncio_http, q, netns=None, net="127.1", resume=True) -> None:
    import logging

    import uvloop

    enter_netns(netns)
    logging.basicConfig(level=logging.WARNING)
    _raise_nofile()
    q.put(uvloop.run(measure(n, check, seconds, accepted, asyncio_http, net, resume)))


def _in_child(n: int, check: str, seconds: float, accepted, asyncio_http: bool, netns: str | None = None,
              net: str = "127.1", resume: bool = True) -> dict:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_measure_child, args=(n, check, seconds, accepted, asyncio_http, q, netns, net, resume))
    p.start()
    res = q.get(timeout=600)
    p.join(30)
    return res


def _floor_name(f: dict) -> str:
    """'the TLS floor (selectors, handshake + GET, resumed)': how an SSL floor row names its baseline."""
    loop = "asyncio" if "asyncio" in f.get("floor", "") else "selectors"
    what = "handshake + GET" if f.get("http") else "bare handshake"
    return f"the TLS floor ({loop}, {what}{', resumed' if f.get('floor', '').endswith('resume') else ''})"


def write_json(path: Path, results: list[dict], skipped: list[str]) -> None:
    def one(x: float) -> dict:
        return {"median": x, "min": x, "max": x, "n": 1}

    ka = {(r["n"], r["check"]): r for r in results if r["impl"] == "keepalived"}
    aio = {(r["n"], r["check"]): r for r in results if r["impl"] == "lvsfast-asyncio"}
    # The first floor of a case is the one it is held against (for SSL: TLS_FLOORS[0]); SSL's others
    # are rows of their own, named by their loop.
    floors: dict[tuple, dict] = {}
    extra_floors: dict[tuple, list[dict]] = {}
    for r in results:
        if r["impl"] == "floor":
            key = (r.get("path"), r["n"], r["check"], r.get("probers", 1))
            if key in floors:
                extra_floors.setdefault(key, []).append(r)
            else:
                floors[key] = r
    noresume = {(r["n"], r["check"]): r for r in results if r["impl"] == "lvsfast-noresume"}
    rows = []
    series: dict[str, list[float]] = {}
    for r in results:
        if r["impl"] not in ("lvsfast", "lvsfast-daemon", "lvsfast-noresume"):
            continue
        # The in-process run on loopback keeps its old case name (the README's headline reads
        # it); the daemon's and the veth path's say so first, so that headline never takes them.
        case = f"{r['n']} servers, {r['check']}"
        if r["impl"] == "lvsfast-daemon" or r.get("path", "loopback") != "loopback":
            case = f"{r.get('path', 'loopback')}, daemon -C: {case}" + (
                f" ({r['tree']})" if r.get("tree", "this") != "this" else "")
        if r["impl"] == "lvsfast-noresume":
            case += " (no session resumption)"
        if r.get("probers", 1) != 1:
            case += f", {r['probers']} probers"
        k = ka.get((r["n"], r["check"]))
        f = floors.get((r.get("path"), r["n"], r["check"], r.get("probers", 1)))
        rows.append({"case": case, "metric": "checks per second", "unit": "/s", "better": "higher",
                     "lvsfast": one(r["achieved_per_s"]), "baseline_name": "the schedule",
                     "baseline": one(r["scheduled_per_s"])})
        if k is not None:
            rows.append({"case": case, "metric": "checks per second", "unit": "/s", "better": "higher",
                         "lvsfast": one(r["achieved_per_s"]), "baseline_name": "keepalived 2.2.7",
                         "baseline": one(k["achieved_per_s"])})
        rows.append({"case": case, "metric": "CPU per check", "unit": "us", "better": "lower",
                     "lvsfast": one(r["cpu_us_per_check"]),
                     "baseline_name": "keepalived 2.2.7" if k else "", "baseline": one(k["cpu_us_per_check"]) if k else None})
        if f is not None:
            rows.append({"case": case, "metric": "CPU per check", "unit": "us", "better": "lower",
                         "lvsfast": one(r["cpu_us_per_check"]),
                         "baseline_name": _floor_name(f) if r["check"].startswith("SSL") else "the floor (kernel's work only)",
                         "baseline": one(f["cpu_us_per_check"])})
            rows.append({"case": case, "metric": "checks per second", "unit": "/s", "better": "higher",
                         "lvsfast": one(r["achieved_per_s"]),
                         "baseline_name": _floor_name(f) if r["check"].startswith("SSL") else "the floor (kernel's work only)",
                         "baseline": one(f["achieved_per_s"])})
            for x in extra_floors.get((r.get("path"), r["n"], r["check"], r.get("probers", 1)), []):
                rows.append({"case": case, "metric": "CPU per check", "unit": "us", "better": "lower",
                             "lvsfast": one(r["cpu_us_per_check"]), "baseline_name": _floor_name(x),
                             "baseline": one(x["cpu_us_per_check"])})
        if (r["n"], r["check"]) in noresume and r["impl"] == "lvsfast":
            rows.append({"case": case, "metric": "CPU per check", "unit": "us", "better": "lower",
                         "lvsfast": one(r["cpu_us_per_check"]), "baseline_name": "lvsfast, full handshake every check",
                         "baseline": one(noresume[(r["n"], r["check"])]["cpu_us_per_check"])})
        if r.get("tls_resumed_pct") is not None:
            rows.append({"case": case, "metric": "handshakes resumed", "unit": "%", "better": "higher",
                         "lvsfast": one(r["tls_resumed_pct"]), "baseline_name": "", "baseline": None})
        if (r["n"], r["check"]) in aio:
            rows.append({"case": case, "metric": "CPU per check", "unit": "us", "better": "lower",
                         "lvsfast": one(r["cpu_us_per_check"]), "baseline_name": "lvsfast, HTTP on asyncio",
                         "baseline": one(aio[(r["n"], r["check"])]["cpu_us_per_check"])})
        rows.append({"case": case, "metric": "checker CPU", "unit": "%", "better": "lower",
                     "lvsfast": one(r["cpu_pct"]),
                     "baseline_name": "keepalived 2.2.7" if k else "", "baseline": one(k["cpu_pct"]) if k else None})
        rows.append({"case": case, "metric": "checker RSS", "unit": "MB", "better": "lower",
                     "lvsfast": one(r.get("rss_mb")),
                     "baseline_name": "keepalived 2.2.7" if k else "", "baseline": one(k["rss_mb"]) if k else None})
        rows.append({"case": case, "metric": "p99 lateness", "unit": "ms", "better": "lower",
                     "lvsfast": one(r["lateness_p99_ms"]), "baseline_name": "", "baseline": None})
        series[case] = r.get("lateness_sample_ms", [])
    path.write_text(json.dumps({
        "scenario": "checker", "what": "health checks per second, CPU per check, RSS and lateness at scale",
        "how": "bench/checker_scale.py: N servers on loopback in the bench's own netns (path loopback: lvsfast's "
               "checker service with a recording backend) or behind a veth in another namespace (path veth: the "
               "daemon with -C -n -l -f, nftables backend), TCP_CHECK then HTTP_GET (SSL_GET against nginx's TLS "
               "listeners, ECDSA P-256, TLS 1.3 tickets) at delay_loop 1; the floor "
               "(bench/tcp_floor.pyx: connect, epoll, SO_ERROR, close with RST, on the same schedule; for SSL_GET "
               "bench/tls_floor.py: Python's ssl on one epoll, or asyncio/uvloop with a bare protocol) in the same run"
               + ("; keepalived -C on the same servers" if ka else f"; not measured here (no IPVS): {', '.join(skipped)}"),
        "results": rows, "series": {"lateness_ms": series},
        "raw": [{k: v for k, v in r.items() if k != "lateness_sample_ms"} for r in results]}, indent=1))


if __name__ == "__main__":
    main()
