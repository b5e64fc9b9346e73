"""TCP_CHECK's batched prober, compiled and twin: the same results for open, refused, silent
(full accept queue, so SYNs are dropped) and bound connects, over IPv4 and IPv6 loopback."""
from __future__ import annotations

import errno
import select
import socket
import time

import pytest

from support.impls import implementations, resolve_impl


@pytest.fixture(params=implementations("tcp_probe"), scope="module")
def tp(request):
    return resolve_impl(request.param)


def _listener(family: int = socket.AF_INET, backlog: int = 16) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    s.listen(backlog)
    return s


def _fill_queue(srv: socket.socket) -> list[socket.socket]:
    """Connect until the listener's accept queue is full, so it drops further SYNs."""
    out = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(srv.getsockname())
        out.append(c)
    time.sleep(0.2)
    return out


def _wait(prober, n: int, timeout: float = 5.0) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    ep = select.epoll()
    ep.register(prober.fileno(), select.EPOLLIN)
    end = time.monotonic() + timeout
    try:
        while len(out) < n and time.monotonic() < end:
            ep.poll(0.05)
            prober.harvest(out)
            prober.expire(time.monotonic(), out)
    finally:
        ep.close()
    return out


def _packed(ip: str) -> tuple[int, bytes]:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return family, socket.inet_pton(family, ip)


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1"])
def test_open_port_connects(tp, ip):
    family, addr = _packed(ip)
    with _listener(family) as srv:
        p = tp.TcpProber()
        try:
            rc = p.start(7, family, addr, srv.getsockname()[1], 2.0, time.monotonic())
            results = [(7, 0)] if rc == tp.CONNECTED else _wait(p, 1)
            assert rc in (0, tp.CONNECTED)
            assert results == [(7, 0)]
            assert len(p) == 0
            conn, _ = srv.accept()  # the handshake really reached the server
            conn.close()
        finally:
            p.close()


def test_closed_port_is_refused(tp):
    with _listener() as srv:
        port = srv.getsockname()[1]
    family, addr = _packed("127.0.0.1")
    p = tp.TcpProber()
    try:
        rc = p.start(1, family, addr, port, 2.0, time.monotonic())
        results = [(1, rc)] if rc > 0 else _wait(p, 1)
        assert results == [(1, errno.ECONNREFUSED)]
    finally:
        p.close()


def test_silent_server_times_out_and_others_still_finish(tp):
    family, addr = _packed("127.0.0.1")
    # A listener whose accept queue is full drops further SYNs: the connect hangs, as to a
    # silent host.
    silent = _listener(backlog=0)
    fillers = _fill_queue(silent)
    good = _listener()
    p = tp.TcpProber()
    try:
        now = time.monotonic()
        assert p.start(1, family, addr, silent.getsockname()[1], 0.3, now) == 0
        assert p.start(2, family, addr, good.getsockname()[1], 5.0, now) in (0, tp.CONNECTED)
        assert p.next_deadline() == pytest.approx(now + 0.3)
        results = dict(_wait(p, 2))
        assert results == {1: errno.ETIMEDOUT, 2: 0}
        assert p.next_deadline() is None and len(p) == 0
    finally:
        p.close()
        for s in fillers + [silent, good]:
            s.close()


def test_bind_address_is_the_source(tp):
    family, addr = _packed("127.0.0.1")
    with _listener() as srv:
        p = tp.TcpProber()
        try:
            rc = p.start(3, family, addr, srv.getsockname()[1], 2.0, time.monotonic(), socket.inet_aton("127.0.0.9"), 0)
            assert rc in (0, tp.CONNECTED)
            if rc == 0:
                assert _wait(p, 1) == [(3, 0)]
            conn, peer = srv.accept()
            conn.close()
            assert peer[0] == "127.0.0.9"
        finally:
            p.close()


def test_bad_address_and_unbindable_source(tp):
    p = tp.TcpProber()
    try:
        with pytest.raises(ValueError):
            p.start(1, socket.AF_INET, b"\x7f\x00\x00", 80, 1.0, 0.0)
        # A source address this host does not have: bind fails, reported as that errno.
        rc = p.start(2, socket.AF_INET, socket.inet_aton("127.0.0.1"), 80, 1.0, 0.0, socket.inet_aton("192.0.2.7"), 0)
        assert rc == errno.EADDRNOTAVAIL
    finally:
        p.close()
    with pytest.raises(ValueError):
        p.start(1, socket.AF_INET, socket.inet_aton("127.0.0.1"), 80, 1.0, 0.0)


def test_close_abandons_pending_connects(tp):
    silent = _listener(backlog=0)
    fillers = _fill_queue(silent)
    family, addr = _packed("127.0.0.1")
    p = tp.TcpProber()
    try:
        for token in range(5):
            assert p.start(token, family, addr, silent.getsockname()[1], 10.0, time.monotonic()) == 0
        assert len(p) == 5
        p.close()
        assert len(p) == 0 and p.fileno() == -1
    finally:
        for s in fillers + [silent]:
            s.close()


def _drive(prober, seconds: float) -> list[tuple[int, int]]:
    """The event loop's part, by hand: tick when due, harvest when the epoll fd is readable."""
    out: list[tuple[int, int]] = []
    ep = select.epoll()
    ep.register(prober.fileno(), select.EPOLLIN)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            wake = prober.next_wake()
            wait = 0.02 if wake is None else min(0.02, max(0.0, wake - time.monotonic()))
            ep.poll(wait)
            prober.harvest(out, time.monotonic())
            prober.tick(time.monotonic(), out)
    finally:
        ep.close()
    return out


def test_periodic_quiet_successes_stay_in_the_prober(tp):
    family, addr = _packed("127.0.0.1")
    with _listener(backlog=128) as srv:
        port = srv.getsockname()[1]
        srv.setblocking(False)
        p = tp.TcpProber()
        try:
            now = time.monotonic()
            for token in (0, 1, 2):
                p.schedule(token, family, addr, port, 1.0, 0.1, now)
            out = _drive(p, 0.55)
            assert out == []  # nothing to hand over: up servers staying up
            assert all(4 <= p.runs(t) <= 7 for t in (0, 1, 2)), [p.runs(t) for t in (0, 1, 2)]
            # report mode hands successes over, and the check waits for next()
            p.next(1, time.monotonic(), True)
            p.unschedule(0)
            runs0 = p.runs(0)
            out = _drive(p, 0.3)
            assert out == [(1, 0)] and p.runs(0) == runs0 == 0
        finally:
            p.close()


def test_periodic_failures_are_handed_over_and_wait_for_next(tp):
    with _listener() as srv:
        closed = srv.getsockname()[1]
    family, addr = _packed("127.0.0.1")
    silent = _listener(backlog=0)
    fillers = _fill_queue(silent)
    p = tp.TcpProber()
    try:
        now = time.monotonic()
        p.schedule(5, family, addr, closed, 1.0, 0.05, now)
        p.schedule(6, family, addr, silent.getsockname()[1], 0.2, 0.05, now)
        out = _drive(p, 0.5)
        assert sorted(out) == [(5, errno.ECONNREFUSED), (6, errno.ETIMEDOUT)]  # once each: waiting
        p.next(5, time.monotonic(), False)
        p.pause(6)
        p.next(6, time.monotonic(), False)
        out = _drive(p, 0.2)
        assert out == [(5, errno.ECONNREFUSED)] and p.runs(6) == 1  # 6 is paused
        p.resume(6, time.monotonic())
        assert _drive(p, 0.4) == [(6, errno.ETIMEDOUT)]
    finally:
        p.close()
        for s in fillers + [silent]:
            s.close()


def test_periodic_lateness_is_recorded_on_request(tp):
    family, addr = _packed("127.0.0.1")
    with _listener(backlog=128) as srv:
        p = tp.TcpProber()
        try:
            p.record_lateness(True)
            p.schedule(0, family, addr, srv.getsockname()[1], 1.0, 0.05, time.monotonic())
            _drive(p, 0.2)
            late = p.lateness_samples()
            assert len(late) >= 2 and all(0 <= x < 0.1 for x in late)
            assert p.lateness_samples() == []
        finally:
            p.close()


def _http_server(answer: bytes, *, close: bool = True, delay: float = 0.0, backlog: int = 64):
    """A thread answering every connection with ``answer`` (then closing, unless ``close`` is
    False: a keep-alive server that leaves the end of the answer to its length)."""
    import threading

    srv = _listener(backlog=backlog)
    conns: list[socket.socket] = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            conns.append(c)
            try:
                c.recv(4096)
                if delay:
                    time.sleep(delay)
                c.sendall(answer)
                if close:
                    c.close()
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return srv, conns


REQ = b"GET /healthz HTTP/1.0\r\nHost: x\r\nUser-Agent: lvsfast\r\n\r\n"


@pytest.mark.parametrize("answer,close", [
    (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n", True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", False),  # complete by its length
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n0\r\n\r\n", False),  # by its last chunk
    (b"HTTP/1.0 503 Busy\r\n\r\n" + b"x" * 200_000, True),  # read to the close, over several reads
])
def test_exchange_hands_over_every_answer(tp, answer, close):
    family, addr = _packed("127.0.0.1")
    srv, conns = _http_server(answer, close=close)
    p = tp.TcpProber()
    try:
        p.schedule(3, family, addr, srv.getsockname()[1], 1.0, 0.05, time.monotonic(), request=REQ)
        assert _drive(p, 0.5) == [(3, 0)]  # handed over although it succeeded: the caller judges
        assert p.response(3) == answer and p.response(3) == b""
        p.next(3, time.monotonic(), False)
        assert _drive(p, 0.5) == [(3, 0)] and p.runs(3) == 2
    finally:
        p.close()
        srv.close()
        for c in conns:
            c.close()


def test_exchange_failures_name_the_phase(tp):
    family, addr = _packed("127.0.0.1")
    with _listener() as closed_srv:
        closed = closed_srv.getsockname()[1]
    silent, conns = _http_server(b"", close=False, delay=5)  # accepts and never answers
    p = tp.TcpProber()
    try:
        now = time.monotonic()
        p.schedule(1, family, addr, closed, 0.3, 0.05, now, request=REQ)
        p.schedule(2, family, addr, silent.getsockname()[1], 0.3, 0.05, now, request=REQ)
        out = _drive(p, 1.0)
        # refused: no connection; connected but no answer in time: ETIME, not ETIMEDOUT
        assert sorted(out) == [(1, errno.ECONNREFUSED), (2, errno.ETIME)]
        assert p.response(1) == b"" and p.response(2) == b""
    finally:
        p.close()
        silent.close()
        for c in conns:
            c.close()


def test_checked_connections_leave_no_time_wait(tp):
    """Closed with a reset: at thousands of checks a second, TIME_WAIT entries would fill the table."""
    import subprocess

    from support.requires import need_binary

    need_binary("ss")
    family, addr = _packed("127.0.0.1")
    srv, conns = _http_server(b"")  # accepts and closes, as a real server does
    port = srv.getsockname()[1]
    p = tp.TcpProber()
    try:
        for token in range(5):
            p.schedule(token, family, addr, port, 1.0, 0.05, time.monotonic())
        _drive(p, 0.3)
        assert all(p.runs(t) >= 3 for t in range(5))
        time.sleep(0.1)
        out = subprocess.run(["ss", "-Htan", "state", "time-wait", f"( dport = :{port} )"],
                             capture_output=True, text=True).stdout
        assert out.strip() == ""
    finally:
        p.close()
        srv.close()
        for c in conns:
            c.close()


def test_periodic_check_keeps_its_phase_when_started_late(tp):
    """A quiet success is re-armed on its own slot (due + period), not a period after it ran:
    checks delayed together by a busy moment must not stay together."""
    family, addr = _packed("127.0.0.1")
    with _listener(backlog=128) as srv:
        port = srv.getsockname()[1]
        p = tp.TcpProber()
        ep = select.epoll()
        ep.register(p.fileno(), select.EPOLLIN)

        def run_at(now: float) -> None:
            out: list = []
            assert p.tick(now, out) == 1
            ep.poll(1.0)
            p.harvest(out, now + 0.005)
            assert out == []

        try:
            t0 = time.monotonic() + 10  # the prober takes the caller's clock as it is
            p.schedule(0, family, addr, port, 1.0, 0.1, t0)
            out: list = []
            assert p.tick(t0 - 0.002, out, 256, 0.001) == 0  # not yet due within the resolution
            run_at(t0 + 0.03)  # 30 ms late
            assert p.next_wake() == pytest.approx(t0 + 0.1)
            run_at(t0 + 0.35)  # more than a period late: the first slot after it
            assert p.next_wake() == pytest.approx(t0 + 0.4)
            assert p.tick(t0 + 0.3995, out, 256, 0.001) == 1  # due within the next millisecond
        finally:
            ep.close()
            p.close()


OK_2XX = bytes(1 if 200 <= code < 300 else 0 for code in range(600))


@pytest.mark.parametrize("answer,close,quiet", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", False, True),
    (b"HTTP/1.0 204 No Content\r\nContent-Length: 0\r\n\r\n", True, True),
    (b"HTTP/1.0 503 Busy\r\nContent-Length: 3\r\n\r\nno\n", True, False),  # wrong status: judged
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n0\r\n\r\n", False, False),
    (b"HTTP/1.0 200 OK\r\n\r\nok\n", True, False),  # framed by the close only
    (b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nok\n", True, False),  # cut short
])
def test_exchange_judged_by_status_alone_passes_quietly(tp, answer, close, quiet):
    """With a status table, an answer that plainly passes is re-armed in the prober like a
    connect; anything else is still handed over for the full verdict."""
    family, addr = _packed("127.0.0.1")
    srv, conns = _http_server(answer, close=close)
    p = tp.TcpProber()
    try:
        p.schedule(3, family, addr, srv.getsockname()[1], 1.0, 0.05, time.monotonic(), request=REQ,
                   statuses=OK_2XX)
        out = _drive(p, 0.4)
        if quiet:
            assert out == [] and p.runs(3) >= 3 and p.response(3) == b""
        else:
            assert out == [(3, 0)] and p.response(3) == answer
        # In report mode (a verdict not yet steady) every answer is handed over.
        p.schedule(4, family, addr, srv.getsockname()[1], 1.0, 0.05, time.monotonic(), report=True, request=REQ,
                   statuses=OK_2XX)
        p.unschedule(3)
        assert _drive(p, 0.3) == [(4, 0)]
    finally:
        p.close()
        srv.close()
        for c in conns:
            c.close()
