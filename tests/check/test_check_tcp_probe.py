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
