"""checker_probers: TCP_CHECK's prober as several shards, each on a thread of its own.

serve() (the loop a shard's thread runs) with the compiled prober and its twin; the shards'
assignment, numbering and merged lateness; and the checker service with two probers against
real servers on loopback: checks spread over both, a server that goes down and comes back is
seen to, and the results of both shards reach the data plane as one transaction per flush."""
from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lvsfast.check import shards as shards_mod
from lvsfast.check.service import CheckerService
from lvsfast.config import loads
from lvsfast.dataplane.backend import Unsupported
from lvsfast.dataplane.model import Table
from support.impls import implementations, resolve_impl


class RecordingBackend(Unsupported):
    name = "recording"

    def __init__(self) -> None:
        self.tables: list[Table] = []

    async def apply(self, desired: Table, reread: bool = False):
        self.tables.append(desired)
        return []

    async def close(self, desired=None):
        pass

    def reals(self) -> dict[str, int]:
        t = self.tables[-1]
        return {f"{d.address}:{d.port}": dest.weight for ds in t.dests.values() for d, dest in ds.items()}


@pytest.fixture(params=implementations("tcp_probe"), scope="module")
def tp(request):
    return resolve_impl(request.param)


def _need_compiled_prober() -> None:
    """Shards are compiled probers; the twin runs one prober (those tests are marked compiled)."""
    from lvsfast.check.tcp_probe import COMPILED

    if not COMPILED:
        pytest.skip("the compiled prober was not built (or LVSFAST_NO_EXTENSIONS): one prober only")


def _listener() -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LO = socket.inet_aton("127.0.0.1")


# ---- serve() ---------------------------------------------------------------------------------

def test_serve_runs_the_schedule_and_returns_with_a_failure(tp):
    srv = _listener()
    closed = _closed_port()
    p = tp.TcpProber()
    try:
        now = time.monotonic()
        p.schedule(0, socket.AF_INET, LO, srv.getsockname()[1], 1.0, 0.05, now)
        p.schedule(1, socket.AF_INET, LO, closed, 1.0, 0.05, now + 0.2)
        out: list = []
        t0 = time.monotonic()
        woken = p.serve(out, 2.0, 256, 0.0)
        # The open port's quiet successes stayed inside; the refused connect came out at its slot.
        assert not woken and out == [(1, errno.ECONNREFUSED)]
        assert 0.15 <= time.monotonic() - t0 < 1.0
        assert p.runs(0) >= 3
        assert p.lateness_summary()["count"] >= 4
    finally:
        p.close()
        srv.close()


def test_serve_ends_when_its_watched_descriptor_is_written(tp):
    p = tp.TcpProber()
    fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    try:
        p.watch(fd)
        out: list = []
        t0 = time.monotonic()
        assert not p.serve(out, 0.1)  # nothing to do: max_wait
        assert 0.09 <= time.monotonic() - t0 < 0.5
        os.eventfd_write(fd, 1)
        t0 = time.monotonic()
        assert p.serve(out, 5.0)
        assert time.monotonic() - t0 < 0.5 and out == []
        assert not p.serve(out, 0.01)  # the eventfd was read: no spin on it
    finally:
        p.close()
        os.close(fd)


def test_hist_sums_to_the_same_summary(tp):
    p = tp.TcpProber()
    srv = _listener()
    try:
        now = time.monotonic()
        for token, late in enumerate((0.5, 0.0025, 0.0025, 0.0025)):
            p.schedule(token, socket.AF_INET, LO, srv.getsockname()[1], 1.0, 1.0, now - late)
        p.tick(now, [], 256)
        assert shards_mod.summary(p.lateness_hist()) == p.lateness_summary()
        assert shards_mod.summary(p.lateness_hist(clear=True))["count"] == 4
        assert p.lateness_summary()["count"] == 0
    finally:
        p.close()
        srv.close()


# ---- Shards: assignment, numbering, results --------------------------------------------------

def test_shards_spread_checks_number_them_apart_and_bring_results_back(tp):
    srv = _listener()
    closed = _closed_port()

    async def body():
        got: list = []
        sh = shards_mod.Shards(2, got.extend, prober=tp.TcpProber)
        try:
            now = time.monotonic()
            # Tokens as the service gives them: 10 checks, 4 of them on a refused port.
            for t in range(10):
                port = closed if t % 5 in (1, 3) else srv.getsockname()[1]
                sh.schedule(t, socket.AF_INET, LO, port, 1.0, 0.1, now)
            assert [sh.shard_of(t) for t in range(10)] == [0, 1] * 5  # the one with fewest checks
            assert [s.count for s in sh.shards] == [5, 5]
            end = time.monotonic() + 3
            while len({t for t, _, _ in got}) < 4 and time.monotonic() < end:
                await asyncio.sleep(0.02)
            assert sorted({(t, e) for t, e, _ in got}) == [(1, errno.ECONNREFUSED), (3, errno.ECONNREFUSED),
                                                           (6, errno.ECONNREFUSED), (8, errno.ECONNREFUSED)]
            assert all(a == b"" for _, _, a in got)
            await asyncio.sleep(0.35)
            assert all(sh.runs(t) >= 2 for t in (0, 2, 4, 5, 7, 9))  # quiet successes, in both shards
            assert sh.lateness_summary()["count"] >= 20
            # A dropped check's number is reused only once its shard said it dropped it.
            shard = sh.shards[sh.shard_of(4)]
            sh.unschedule(4)
            assert sh.runs(4) == 0 and shard.tokens.count(None) == 1 and shard.free == []
            end = time.monotonic() + 2
            while not shard.free and time.monotonic() < end:
                await asyncio.sleep(0.01)
            assert shard.free == [shard.tokens.index(None)]
            sh.schedule(10, socket.AF_INET, LO, closed, 1.0, 0.1, time.monotonic())
            assert sh.shard_of(10) == shard.index and None not in shard.tokens
            got.clear()
            end = time.monotonic() + 2
            while (10, errno.ECONNREFUSED) not in {(t, e) for t, e, _ in got} and time.monotonic() < end:
                await asyncio.sleep(0.02)
            assert (10, errno.ECONNREFUSED) in {(t, e) for t, e, _ in got}
            assert 4 not in {t for t, _, _ in got}
        finally:
            sh.close()
        assert all(not s.thread.is_alive() for s in sh.shards) if sh.shards else True

    try:
        asyncio.run(body())
    finally:
        srv.close()


# ---- the service with two probers ------------------------------------------------------------

TCP = """        TCP_CHECK {
            connect_timeout 0.5
            retry 0
        }"""


def _conf(servers: list[tuple[str, int]], probers: str = "2", check: str = TCP) -> str:
    reals = "\n".join(f"    real_server {h} {p} {{\n        weight 2\n{check}\n    }}" for h, p in servers)
    return (f"global_defs {{\n    checker_probers {probers}\n}}\n"
            f"virtual_server 192.0.2.100 80 {{\n    delay_loop 0.2\n    lb_algo rr\n    lb_kind NAT\n"
            f"    protocol TCP\n{reals}\n}}\n")


async def _until(pred, timeout=5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.compiled
def test_two_probers_spread_the_checks_and_follow_a_server_down_and_up():
    _need_compiled_prober()
    servers = [_listener() for _ in range(8)]
    ports = [s.getsockname()[1] for s in servers]

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(_conf([("127.0.0.1", p) for p in ports])))
        try:
            keys = [f"127.0.0.1:{p}" for p in ports]
            assert await _until(lambda: be.tables and sorted(be.reals()) == sorted(keys))
            sh = svc._shards
            assert sh is not None and len(sh) == 2 and svc.probers == 2
            by_port = {c.real.rs.port: c for r in svc.reals.values() for c in r.checks}
            assert sorted(sh.shard_of(c.token) for c in by_port.values()) == [0] * 4 + [1] * 4
            await asyncio.sleep(0.5)
            assert all(svc._runs(c) >= 2 for c in by_port.values())  # both shards run theirs, counted in place
            # One server of each shard goes away, then comes back.
            gone = [next(i for i, p in enumerate(ports) if sh.shard_of(by_port[p].token) == k) for k in (0, 1)]
            for i in gone:
                servers[i].close()
            gone_keys = {keys[i] for i in gone}
            assert await _until(lambda: not gone_keys & set(be.reals()), timeout=3)
            assert sorted(be.reals()) == sorted(set(keys) - gone_keys)
            reasons = {f"{r.rs.address}:{r.rs.port}": r.reason() for r in svc.reals.values() if not r.up}
            assert set(reasons) == gone_keys and all("refused" in v for v in reasons.values()), reasons
            for i in gone:
                s = servers[i] = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", ports[i]))
                s.listen(64)
            assert await _until(lambda: sorted(be.reals()) == sorted(keys), timeout=3)
            assert svc.stats()["started"] > 0
        finally:
            await svc.stop()
        assert svc._shards is None

    try:
        asyncio.run(body())
    finally:
        for s in servers:
            s.close()


@pytest.mark.compiled
def test_results_of_both_shards_reach_the_data_plane_as_one_transaction():
    """Every server refused at the first check: both shards report at once, one flush follows."""

    _need_compiled_prober()
    up = [_listener() for _ in range(10)]
    closed = [_closed_port() for _ in range(10)]
    servers = [("127.0.0.1", s.getsockname()[1]) for s in up] + [("127.0.0.1", p) for p in closed]
    check = TCP.replace("retry 0", "retry 0\n            warmup 0")

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(_conf(servers, check=check).replace("delay_loop 0.2", "delay_loop 5")))
        try:
            assert len(be.tables) == 1
            want = sorted(f"127.0.0.1:{s.getsockname()[1]}" for s in up)
            assert await _until(lambda: sorted(be.reals()) == want, timeout=3)
            await asyncio.sleep(0.3)
            refused = [c for r in svc.reals.values() for c in r.checks if not r.up]
            assert len(refused) == 10 and {svc._shards.shard_of(c.token) for c in refused} == {0, 1}
            assert len(be.tables) == 2  # the start, then one transaction for the ten from both shards
        finally:
            await svc.stop()

    try:
        asyncio.run(body())
    finally:
        for s in up:
            s.close()


@pytest.mark.compiled
@pytest.mark.parametrize("judged_by", ["status", "digest"])
def test_http_get_on_two_probers_follows_a_bad_answer_and_its_end(judged_by):
    """Plain HTTP_GET in the shards: quiet answers (status alone) stay in C, a digest's answer
    is read through an Answer with the GIL taken; both see a 503 and the server's return."""
    import hashlib

    from support.servers import MiniHTTP

    _need_compiled_prober()
    servers = [MiniHTTP() for _ in range(4)]
    judge = ("status_code 200-299" if judged_by == "status"
             else f"digest {hashlib.md5(b'hello' + bytes([10])).hexdigest()}")
    http = ("        HTTP_GET {\n            url {\n                path /healthz\n                " + judge +
            "\n            }\n            connect_timeout 0.5\n            retry 0\n        }")

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(_conf([(s.host, s.port) for s in servers], check=http)))
        try:
            keys = sorted(f"{s.host}:{s.port}" for s in servers)
            assert await _until(lambda: be.tables and sorted(be.reals()) == keys)
            assert {svc._shards.shard_of(c.token) for r in svc.reals.values() for c in r.checks} == {0, 1}
            servers[1].behaviour.mode = "status:503"
            bad = f"{servers[1].host}:{servers[1].port}"
            assert await _until(lambda: bad not in be.reals(), timeout=3)
            r = next(r for r in svc.reals.values() if r.rs.port == servers[1].port)
            assert "status 503" in r.reason()  # a digest url checks the status first too
            servers[1].behaviour.mode = "ok"
            assert await _until(lambda: sorted(be.reals()) == keys, timeout=3)
        finally:
            await svc.stop()

    try:
        asyncio.run(body())
    finally:
        for s in servers:
            s.close()


@pytest.mark.compiled
def test_a_late_shard_makes_the_log_say_the_checker_is_behind_and_then_back(caplog):
    """The loop has no prober tick of its own with shards: it asks them every LATENESS_EVERY."""

    _need_compiled_prober()
    srv = _listener()
    port = srv.getsockname()[1]

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(_conf([("127.0.0.1", port)])))
        try:
            assert await _until(lambda: be.tables and be.reals())
            # A check 600 ms past due when its shard first sees it (token 999: no real server's).
            svc._shards.schedule(999, socket.AF_INET, LO, port, 1.0, 1.0, time.monotonic() - 0.6)
            assert await _until(lambda: svc.stats()["behind"], timeout=2)
            assert await _until(lambda: not svc.stats()["behind"], timeout=2)  # one delay_loop (0.2 s) on time
        finally:
            await svc.stop()

    try:
        with caplog.at_level("INFO", logger="lvsfast.check"):
            asyncio.run(body())
    finally:
        srv.close()
    msgs = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("checker behind its schedule: checks start up to 6") for m in msgs), msgs
    assert "checker back on its schedule" in msgs
    assert "checker: 2 probers, each on a thread of its own" in msgs


@pytest.mark.compiled
def test_one_prober_behind_says_once_how_to_use_more_cpus(caplog, monkeypatch):
    _need_compiled_prober()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    srv = _listener()
    port = srv.getsockname()[1]

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(_conf([("127.0.0.1", port)], probers="1")))
        try:
            assert svc._shards is None
            for token in (998, 999):  # behind twice (back on schedule between): one hint
                svc._prober.schedule(token, socket.AF_INET, LO, port, 1.0, 1.0, time.monotonic() - 0.6)
                svc._rearm()
                assert await _until(lambda: svc.stats()["behind"], timeout=2)
                assert await _until(lambda: not svc.stats()["behind"], timeout=2)
        finally:
            await svc.stop()

    try:
        with caplog.at_level("INFO", logger="lvsfast.check"):
            asyncio.run(body())
    finally:
        srv.close()
    hints = [r.getMessage() for r in caplog.records if "checker_probers" in r.getMessage()]
    assert hints == ["checker: one prober runs TCP_CHECK and HTTP_GET on one CPU of 4; global_defs "
                     "checker_probers 4 (or auto) spreads them over more"]


@pytest.mark.compiled
def test_a_reload_moves_checks_in_and_out_of_the_shards():
    _need_compiled_prober()
    servers = [_listener() for _ in range(6)]
    ports = [s.getsockname()[1] for s in servers]
    closed = _closed_port()

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(_conf([("127.0.0.1", p) for p in ports[:4]])))
        try:
            assert await _until(lambda: be.tables and sorted(be.reals()) == sorted(f"127.0.0.1:{p}" for p in ports[:4]))
            # Two leave, two come, one of them refused.
            new = ports[2:] + [closed]
            await svc.reload(loads(_conf([("127.0.0.1", p) for p in new])))
            sh = svc._shards
            assert sum(s.count for s in sh.shards) == 5
            assert await _until(lambda: sum(len(s.free) for s in sh.shards) == 2, timeout=2)  # the leavers' numbers
            checks = {c.real.rs.port: c for r in svc.reals.values() for c in r.checks}
            assert sorted(checks) == sorted(new)
            assert await _until(lambda: svc._runs(checks[ports[5]]) >= 2, timeout=2)  # a newcomer runs in its shard
            r = next(r for r in svc.reals.values() if r.rs.port == closed)
            assert not r.up and "refused" in r.reason()
        finally:
            await svc.stop()

    try:
        asyncio.run(body())
    finally:
        for s in servers:
            s.close()


def test_the_pure_twin_runs_one_prober_and_says_so(caplog, monkeypatch):
    from lvsfast.check import service as service_mod

    monkeypatch.setattr(service_mod, "COMPILED", False)
    srv = _listener()

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(_conf([("127.0.0.1", srv.getsockname()[1])], probers="3")))
        try:
            assert svc.probers == 1 and svc._shards is None
            assert await _until(lambda: be.tables and be.reals())
        finally:
            await svc.stop()

    try:
        with caplog.at_level("WARNING", logger="lvsfast.check"):
            asyncio.run(body())
    finally:
        srv.close()
    assert any("checker_probers 3: the pure-Python prober" in r.getMessage() for r in caplog.records)


def test_auto_is_one_prober_per_cpu_and_a_reload_keeps_the_count(caplog, monkeypatch):
    from lvsfast.check import service as service_mod

    monkeypatch.setattr(service_mod, "COMPILED", True)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(12)))

    async def body():
        svc = CheckerService(backend=RecordingBackend())
        svc._probers_for(loads("global_defs {\n    checker_probers auto\n}\n"))
        assert svc.probers == service_mod.AUTO_PROBERS == 8
        svc._probers_for(loads("global_defs {\n    checker_probers 3\n}\n"))  # a reload
        assert svc.probers == 8

    with caplog.at_level("WARNING", logger="lvsfast.check"):
        asyncio.run(body())
    assert [r.getMessage() for r in caplog.records] == [
        "checker_probers changed: it takes effect at the next start; 8 run until then"]


# ---- the keyword -----------------------------------------------------------------------------

@pytest.mark.parametrize("value,ok,words", [("2", True, ""), ("auto", True, ""), ("0", False, "outside range"),
                                            ("65", False, "outside range"), ("many", False, "'many'")])
def test_config_test_reads_checker_probers(tmp_path: Path, value, ok, words):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(f"global_defs {{\n    router_id t\n    checker_probers {value}\n}}\n")
    r = subprocess.run([sys.executable, "-m", "lvsfast.cli", "-t", "-f", str(conf)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    if ok:
        assert r.returncode == 0, r.stderr
        assert loads(conf.read_text()).global_defs.checker_probers == (0 if value == "auto" else int(value))
    else:
        assert r.returncode != 0
        assert f"{conf}:3: error:" in r.stderr and words in r.stderr
