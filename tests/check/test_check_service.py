"""Checkers against real servers on loopback: failures detected within keepalived's bound,
recovery brings a server back, misbehaving servers never stall or crash the checker."""
from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from lvsfast.check.service import CheckerService
from lvsfast.check.state import CheckState, Timing
from lvsfast.config import loads
from lvsfast.dataplane.backend import Unsupported
from lvsfast.dataplane.model import Table
from support.servers import MiniHTTP


class RecordingBackend(Unsupported):
    name = "recording"

    def __init__(self) -> None:
        self.tables: list[Table] = []

    async def apply(self, desired: Table):
        self.tables.append(desired)
        return []

    async def close(self, desired=None):
        pass

    def reals(self) -> dict[str, int]:
        t = self.tables[-1]
        return {f"{d.address}:{d.port}": dest.weight for ds in t.dests.values() for d, dest in ds.items()}


def conf(servers: list[MiniHTTP], check: str, extra_vs: str = "") -> str:
    reals = "\n".join(f"""    real_server {s.host} {s.port} {{
        weight 2
{check}
    }}""" for s in servers)
    return f"""virtual_server 192.0.2.100 80 {{
    delay_loop 0.3
    lb_algo rr
    lb_kind NAT
    protocol TCP
{extra_vs}{reals}
}}
"""


HTTP = """        HTTP_GET {
            url {
                path /healthz
                status_code 200-299
            }
            connect_timeout 0.5
            retry 1
            delay_before_retry 0.2
            warmup 0
        }"""


def test_state_detection_bound():
    t = Timing(delay_loop=10, connect_timeout=1, retry=2, delay_before_retry=0.5)
    s = CheckState(t)
    now, down_at = 0.0, None
    for _ in range(5):
        now += t.connect_timeout  # each failed attempt costs up to connect_timeout
        ch = s.result(now, False, "x")
        if ch is not None:
            down_at = now
            break
        now = s.next_at
    assert down_at is not None and down_at <= t.connect_timeout * (t.retry + 1) + t.delay_before_retry * t.retry
    assert s.result(now + 10, True) is not None and s.up


async def _run(servers, check, body, extra_vs=""):
    be = RecordingBackend()
    svc = CheckerService(backend=be)
    await svc.start(loads(conf(servers, check, extra_vs)))
    try:
        return await body(svc, be)
    finally:
        await svc.stop()


async def wait_until(pred, timeout=8.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("mode,reason", [
    ("status:503", "status 503 not in 200-299"),
    ("silent", "no complete answer within 0.5s"),
    ("reset", "Error"),
    ("trickle", "no complete answer within 0.5s"),
    ("closed", "Error"),
])
def test_bad_server_leaves_and_returns(mode, reason):
    good, bad = MiniHTTP(), MiniHTTP()

    async def body(svc, be):
        key_bad = f"{bad.host}:{bad.port}"
        assert await wait_until(lambda: be.tables and be.reals() == {f"{good.host}:{good.port}": 2, key_bad: 2})
        bad.behaviour.mode = mode
        t0 = time.monotonic()
        assert await wait_until(lambda: key_bad not in be.reals(), timeout=5)
        # connect_timeout 0.5 x (retry 1 + 1) + delay_before_retry 0.2 x 1, plus one delay_loop of slack
        assert time.monotonic() - t0 <= 0.5 * 2 + 0.2 + 0.3 + 0.5
        st = svc.status()["virtual_servers"]
        rs = next(iter(st.values()))["real_servers"][f"127.0.0.1:{bad.port}"]
        assert not rs["up"] and (reason in rs["reason"] or mode in ("reset", "closed"))
        bad.behaviour.mode = "ok"
        assert await wait_until(lambda: key_bad in be.reals(), timeout=5)

    try:
        asyncio.run(_run([good, bad], HTTP, body))
    finally:
        good.close()
        bad.close()


def test_digest_and_inhibit_on_failure():
    s = MiniHTTP()
    digest = hashlib.md5(b"hello\n").hexdigest()
    check = HTTP.replace("status_code 200-299", f"digest {digest}")

    async def body(svc, be):
        key = f"{s.host}:{s.port}"
        assert await wait_until(lambda: be.tables and be.reals().get(key) == 2)
        s.behaviour.mode = "body:changed"
        assert await wait_until(lambda: be.reals().get(key) == 0)  # inhibited, not removed
        reason = next(iter(svc.status()["virtual_servers"].values()))["real_servers"][f"127.0.0.1:{s.port}"]["reason"]
        assert "digest" in reason

    try:
        asyncio.run(_run([s], check, body, extra_vs="    inhibit_on_failure\n"))
    finally:
        s.close()


def test_tcp_check_and_one_slow_server_does_not_delay_others():
    slow, fast = MiniHTTP(), MiniHTTP()
    slow.behaviour.mode = "silent"
    tcp = """        TCP_CHECK {
            connect_timeout 0.5
            retry 0
            delay_before_retry 0.1
        }"""

    async def body(svc, be):
        def runs() -> int:
            st = next(iter(svc.status()["virtual_servers"].values()))["real_servers"]
            return st[f"127.0.0.1:{fast.port}"]["checkers"][0]["runs"]
        assert await wait_until(lambda: runs() >= 4, timeout=1.5)  # every 0.3 s, undisturbed by the silent server
        fast.close()
        assert await wait_until(lambda: f"{fast.host}:{fast.port}" not in be.reals(), timeout=3)

    try:
        asyncio.run(_run([slow, fast], tcp, body))
    finally:
        slow.close()


def test_ha_suspend_tcp_checks_run_only_while_master_of_the_address():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    srv = MiniHTTP()
    tcp = "        TCP_CHECK {\n            connect_timeout 0.3\n            retry 0\n        }"
    cfg = (f"virtual_server 192.0.2.100 80 {{\n    delay_loop 0.1\n    ha_suspend\n    lb_algo rr\n    lb_kind NAT\n"
           f"    protocol TCP\n    real_server 127.0.0.1 {closed} {{\n{tcp}\n    }}\n"
           f"    real_server {srv.host} {srv.port} {{\n{tcp}\n    }}\n}}\n")

    async def main():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(cfg))
        try:
            await asyncio.sleep(0.5)
            runs = lambda: [c["runs"] for rs in svc.status()["virtual_servers"]["192.0.2.100:TCP:80"]["real_servers"].values()
                            for c in rs["checkers"]]
            assert runs() == [0, 0]  # suspended: this router does not hold 192.0.2.100
            svc.on_event({"event": "vrrp_state", "instance": "VI_1", "state": "MASTER", "vips": ["192.0.2.100"]})
            assert await wait_until(lambda: f"127.0.0.1:{closed}" not in be.reals(), timeout=3)
            assert all(n > 0 for n in runs())
            svc.on_event({"event": "vrrp_state", "instance": "VI_1", "state": "BACKUP", "vips": ["192.0.2.100"]})
            await asyncio.sleep(0.3)
            before = runs()
            await asyncio.sleep(0.5)
            assert runs() == before  # suspended again
        finally:
            await svc.stop()

    try:
        asyncio.run(main())
    finally:
        srv.close()


def test_a_lone_tcp_check_runs_every_delay_loop_not_every_connect_timeout():
    srv = MiniHTTP()
    cfg = (f"virtual_server 192.0.2.100 80 {{\n    delay_loop 0.2\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"
           f"    real_server {srv.host} {srv.port} {{\n        TCP_CHECK {{\n            connect_timeout 3\n"
           f"        }}\n    }}\n}}\n")

    async def main():
        svc = CheckerService(backend=RecordingBackend())
        await svc.start(loads(cfg))
        try:
            assert await wait_until(lambda: svc.stats()["checks"] >= 4, timeout=1.1)  # every 0.2 s, not every 3 s
        finally:
            await svc.stop()

    try:
        asyncio.run(main())
    finally:
        srv.close()


def test_a_flip_rebuilds_only_its_virtual_server_and_matches_a_full_rebuild():
    a1, a2, b1 = MiniHTTP(), MiniHTTP(), MiniHTTP()
    check = HTTP.replace("retry 1", "retry 0")
    text = conf([a1, a2], check) + conf([b1], check).replace("192.0.2.100", "192.0.2.101")

    async def body(svc, be):
        want = {f"{s.host}:{s.port}" for s in (a1, a2, b1)}
        assert await wait_until(lambda: be.tables and set(be.reals()) == want)
        before = be.tables[-1]
        a2.behaviour.mode = "status:503"
        assert await wait_until(lambda: f"{a2.host}:{a2.port}" not in be.reals(), timeout=5)
        after = be.tables[-1]
        (kb,) = [k for k in after.dests if k.address == "192.0.2.101"]
        (ka,) = [k for k in after.dests if k.address == "192.0.2.100"]
        assert after.dests[kb] is before.dests[kb]  # the other virtual server's objects, untouched
        assert after.dests[ka] is not before.dests[ka]
        # The table says it was made from the one the backend got last, and where it differs.
        assert after.changed_since(before) == {ka}
        svc.core.table.stale_vs = None  # what rebuilding everything gives
        assert svc.core.healthy_table() == after

    async def run():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(loads(text))
        try:
            await body(svc, be)
        finally:
            await svc.stop()

    try:
        asyncio.run(run())
    finally:
        for s in (a1, a2, b1):
            s.close()
