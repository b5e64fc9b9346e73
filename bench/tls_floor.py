"""The floor of an SSL_GET: the cheapest TLS check loops this machine's Python can run, measured.

    python bench/tls_floor.py --servers 127.0.0.1:20100 --n 2000 --seconds 5 [--http] [--resume] [--loop asyncio]

Two loops, each on the schedule a checker keeps (every server once a period, spread evenly, checks
due within ``ahead`` started together):

- ``selectors``: non-blocking sockets and ``ssl`` on one epoll, no event loop: connect, wait for
  writable, SO_ERROR, the handshake driven by its WANT_READ/WANT_WRITE, with ``request`` one GET
  sent and the answer read to the server's close, then close. What any Python checker must pay
  (OpenSSL's handshake, the kernel's work, a few calls per step) and nothing else.
- ``asyncio`` (uvloop where installed): ``create_connection(ssl=...)`` with a bare protocol that
  closes on connect (or sends the GET and closes at EOF): the least an asyncio checker pays.

``resume``: each server's last session (when it offered a ticket) is offered on its next
connection, as lvsfast's SSL_GET does; ``resumed`` counts the handshakes that resumed. CPU is
getrusage of the calling process (user and system) per completed check; bench/checker_scale.py
runs it in a process of its own beside the checker, against the same servers.
"""
from __future__ import annotations

import argparse
import contextvars
import errno
import json
import resource
import select
import socket
import ssl
import sys
import time

OUT, IN = select.EPOLLOUT, select.EPOLLIN
# At most this many connections under way: past the machine's rate, starting every due check
# would only pile up handshakes that time out (CPU spent, no check done); so the floor, like the
# checker, starts late instead, and its CPU per completed check stays the cost of one.
INFLIGHT = 128
_OFFER: contextvars.ContextVar = contextvars.ContextVar("tls_floor_offer", default=None)


class _Resuming(ssl.SSLContext):
    # create_connection takes no session; the loop makes the SSL object in the task's context.
    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None, session=None):
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session or _OFFER.get())


def client_context() -> ssl.SSLContext:
    """As lvsfast's SSL_GET without a CA (keepalived's default): nothing verified."""
    ctx = _Resuming(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_stime


class _Counts:
    __slots__ = ("started", "done", "failed", "timed_out", "resumed", "errors", "late")

    def __init__(self) -> None:
        self.started = self.done = self.failed = self.timed_out = self.resumed = 0
        self.errors: dict[str, int] = {}
        self.late: list[float] = []

    def fail(self, why: str) -> None:
        self.failed += 1
        self.errors[why] = self.errors.get(why, 0) + 1


def run_selectors(servers: list[tuple[str, int]], period: float, seconds: float, request: bytes | None,
                  resume: bool, sessions: list, ctx: ssl.SSLContext, ahead: float = 0.02,
                  timeout: float = 2.0) -> _Counts:
    n = len(servers)
    ep = select.epoll()
    # fd -> [socket, server index, phase, deadline]; phase 0 connecting, 1 handshaking, 2 reading
    conns: dict[int, list] = {}
    k = _Counts()
    t0 = time.monotonic()
    end = t0 + seconds
    nxt = 0  # next check to start, counting over periods: server nxt % n at t0 + nxt * period / n
    expire_at = t0

    def finish(fd: int, c: list, ok: bool, why: str = "") -> None:
        ep.unregister(fd)
        del conns[fd]
        s = c[0]
        if ok:
            k.done += 1
            if isinstance(s, ssl.SSLSocket):
                if s.session_reused:
                    k.resumed += 1
                if resume:
                    sess = s.session
                    sessions[c[1]] = sess if sess is not None and (sess.has_ticket or sess.id) else None
        else:
            k.fail(why)
            sessions[c[1]] = None
        s.close()

    def step(fd: int, c: list) -> None:
        s = c[0]
        try:
            if c[2] == 0:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    return finish(fd, c, False, errno.errorcode.get(err, str(err)))
                s = c[0] = ctx.wrap_socket(s, do_handshake_on_connect=False, session=sessions[c[1]])
                c[2] = 1
            if c[2] == 1:
                s.do_handshake()
                if request is None:
                    return finish(fd, c, True)
                s.send(request)
                c[2] = 2
            while True:  # phase 2: to the server's close (the ticket of TLS 1.3 comes with the answer)
                if not s.recv(16384):
                    return finish(fd, c, True)
        except ssl.SSLWantReadError:
            ep.modify(fd, IN)
        except ssl.SSLWantWriteError:
            ep.modify(fd, OUT)
        except ssl.SSLZeroReturnError:
            finish(fd, c, c[2] == 2, "TLS closed early")
        except (ssl.SSLError, OSError) as exc:
            if c[2] == 2 and isinstance(exc, (ConnectionResetError, ssl.SSLEOFError)):
                return finish(fd, c, True)  # the answer was read; the server closed rudely
            finish(fd, c, False, type(exc).__name__)

    while True:
        now = time.monotonic()
        if now >= end:
            break
        horizon = min(now + ahead, end)
        while t0 + nxt * period / n <= horizon and len(conns) < INFLIGHT:
            due = t0 + nxt * period / n
            i = nxt % n
            nxt += 1
            k.late.append(now - due)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            k.started += 1
            rc = s.connect_ex(servers[i])
            if rc not in (0, errno.EINPROGRESS):
                k.fail(errno.errorcode.get(rc, str(rc)))
                s.close()
                continue
            fd = s.fileno()
            conns[fd] = [s, i, 0, now + timeout]
            ep.register(fd, OUT)
        wait = max(0.0, min(t0 + nxt * period / n, end) - time.monotonic() - ahead)
        for fd, _ in ep.poll(wait if len(conns) < INFLIGHT else 0.1, 1024):
            c = conns.get(fd)
            if c is not None:
                step(fd, c)
        if conns and time.monotonic() >= expire_at:  # now and then: a stalled server is rare here
            now = time.monotonic()
            expire_at = now + 0.1
            for fd, c in [(fd, c) for fd, c in conns.items() if c[3] < now]:
                k.timed_out += 1
                finish(fd, c, False, "timeout")
    for fd, c in list(conns.items()):  # the last period's stragglers are neither counted nor failed
        ep.unregister(fd)
        c[0].close()
    ep.close()
    return k


def run_asyncio(servers: list[tuple[str, int]], period: float, seconds: float, request: bytes | None,
                resume: bool, sessions: list, ctx: ssl.SSLContext, ahead: float = 0.02,
                timeout: float = 2.0) -> _Counts:
    import asyncio

    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover - the venv has it
        runner = asyncio.run
    n = len(servers)
    k = _Counts()

    class Bare(asyncio.Protocol):
        __slots__ = ("done", "t")

        def __init__(self, done: asyncio.Future) -> None:
            self.done = done

        def connection_made(self, t) -> None:
            self.t = t
            if request is None:
                t.close()
            else:
                t.write(request)

        def data_received(self, data: bytes) -> None:
            pass

        def connection_lost(self, exc) -> None:
            if not self.done.done():
                self.done.set_result(None)

    async def one(i: int) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                _OFFER.set(sessions[i])  # this task's own context
                t, _ = await loop.create_connection(lambda: Bare(done), *servers[i], ssl=ctx, server_hostname="")
                obj = t.get_extra_info("ssl_object")
                await done
        except TimeoutError:
            k.timed_out += 1
            k.fail("timeout")
            sessions[i] = None
            return
        except (OSError, ssl.SSLError) as exc:
            k.fail(type(exc).__name__)
            sessions[i] = None
            return
        k.done += 1
        if obj is not None:
            if obj.session_reused:
                k.resumed += 1
            if resume:
                sess = obj.session
                sessions[i] = sess if sess is not None and (sess.has_ticket or sess.id) else None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        end = t0 + seconds
        nxt = 0
        tasks: set[asyncio.Task] = set()
        while loop.time() < end:
            now = loop.time()
            horizon = min(now + ahead, end)
            if len(tasks) >= INFLIGHT:
                await asyncio.sleep(0.001)
                continue
            while t0 + nxt * period / n <= horizon and len(tasks) < INFLIGHT:
                k.late.append(now - (t0 + nxt * period / n))
                k.started += 1
                task = loop.create_task(one(nxt % n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                nxt += 1
            await asyncio.sleep(max(0.0, min(t0 + nxt * period / n, end) - loop.time() - ahead))
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    runner(main())
    return k


LOOPS = {"selectors": run_selectors, "asyncio": run_asyncio}


def measure(servers: list[tuple[str, int]], seconds: float, period: float = 1.0, request: bytes | None = None,
            resume: bool = False, loop: str = "selectors", ahead: float = 0.02, timeout: float = 2.0) -> dict:
    """One unmeasured period (sessions and caches warm, as the checker's first delay_loop is not
    measured either), then ``seconds`` measured; the row checker_scale.py's floor rows have."""
    run = LOOPS[loop]
    sessions: list[ssl.SSLSession | None] = [None] * len(servers)  # each server's last, with ``resume``
    ctx = client_context()  # one for both runs: a session resumes only through the context that made it
    run(servers, period, min(period, seconds), request, resume, sessions, ctx, ahead, timeout)
    cpu0, sys0 = _cpu()
    w0 = time.monotonic()
    k = run(servers, period, seconds, request, resume, sessions, ctx, ahead, timeout)
    wall = time.monotonic() - w0
    cpu1, sys1 = _cpu()
    late = sorted(k.late)
    checks = max(1, k.done)

    def pct(p: float) -> float:
        return round(late[min(len(late) - 1, int(p * len(late)))] * 1000, 2) if late else float("nan")

    return {"impl": "floor", "floor": f"tls-{loop}" + ("-resume" if resume else ""), "n": len(servers),
            "check": "SSL", "scheduled_per_s": round(len(servers) / period, 1),
            "achieved_per_s": round(k.done / wall, 1), "started_per_s": round(k.started / wall, 1),
            "resumed_pct": round(100 * k.resumed / checks, 1),
            "failed": k.failed, "timed_out": k.timed_out, "errors": k.errors,
            "cpu_pct": round(100 * (cpu1 - cpu0) / wall, 1),
            "cpu_us_per_check": round(1e6 * (cpu1 - cpu0) / checks, 1),
            "kernel_us_per_check": round(1e6 * (sys1 - sys0) / checks, 1),
            "lateness_p50_ms": pct(0.5), "lateness_p99_ms": pct(0.99), "ahead_ms": ahead * 1000,
            "http": request is not None, "inflight_limit": INFLIGHT,
            "raw": {"cpu_s": cpu1 - cpu0, "sys_s": sys1 - sys0, "connected": k.done, "wall_s": wall}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", nargs="+", required=True, help="host:port; repeated round-robin up to --n")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--http", action="store_true", help="one GET and its answer after the handshake")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--loop", choices=sorted(LOOPS), default="selectors")
    a = ap.parse_args()
    base = [(h, int(p)) for h, p in (s.rsplit(":", 1) for s in a.servers)]
    n = a.n or len(base)
    servers = [base[i % len(base)] for i in range(n)]
    req = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n" if a.http else None
    print(json.dumps(measure(servers, a.seconds, request=req, resume=a.resume, loop=a.loop)))


if __name__ == "__main__":
    sys.exit(main())
