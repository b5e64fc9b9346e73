"""Quorum, hysteresis, sorry_server (and its inhibit) and quorum_up/quorum_down scripts: in
memory, then with the checker service against real servers on loopback."""
from __future__ import annotations

import asyncio

from lvsfast.check.quorum import Quorum
from lvsfast.check.service import CheckerService
from lvsfast.config import loads
from support.servers import MiniHTTP
from test_check_service import HTTP, RecordingBackend, wait_until


def test_quorum_hysteresis():
    q = Quorum(quorum=4, hysteresis=1)
    assert q.update(4) is None and q.up  # the first verdict is a state, not a transition
    assert q.update(3) is None  # 3 is not below 4 - 1
    ch = q.update(2)
    assert ch is not None and not ch.up and ch.reason == "alive weight 2 < quorum 4 - hysteresis 1"
    assert q.update(4) is None  # needs 4 + 1 to come back
    ch = q.update(5)
    assert ch is not None and ch.up
    z = Quorum(quorum=0)
    z.update(3)
    assert not z.update(0).up  # no alive server is always a lost quorum


def test_sorry_server_takes_over_and_scripts_run(tmp_path):
    servers = [MiniHTTP() for _ in range(3)]
    up_mark, down_mark = tmp_path / "up", tmp_path / "down"
    reals = "\n".join(f"""    real_server {s.host} {s.port} {{
        weight 1
{HTTP}
    }}""" for s in servers)
    cfg = loads(f"""virtual_server 192.0.2.100 80 {{
    delay_loop 0.3
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 2
    quorum_up "/usr/bin/touch {up_mark}"
    quorum_down "/usr/bin/touch {down_mark}"
    sorry_server 127.0.0.9 8080
    sorry_server_inhibit
{reals}
}}
""")

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(cfg)
        keys = [f"{s.host}:{s.port}" for s in servers]
        try:
            assert await wait_until(lambda: be.tables and be.reals() == {**{k: 1 for k in keys}, "127.0.0.9:8080": 0})
            servers[0].behaviour.mode = "status:500"
            assert await wait_until(lambda: keys[0] not in be.reals())
            assert be.reals()["127.0.0.9:8080"] == 0 and not down_mark.exists()  # alive 2: quorum holds
            servers[1].behaviour.mode = "silent"
            assert await wait_until(lambda: be.reals() == {"127.0.0.9:8080": 1})
            assert await wait_until(lambda: down_mark.exists())
            servers[0].behaviour.mode = "ok"
            assert await wait_until(lambda: be.reals() == {keys[0]: 1, keys[2]: 1, "127.0.0.9:8080": 0})
            assert await wait_until(lambda: up_mark.exists())
        finally:
            await svc.stop()
    try:
        asyncio.run(body())
    finally:
        for s in servers:
            s.close()


def test_omega_runs_down_scripts_on_shutdown(tmp_path):
    srv = MiniHTTP()
    rs_down, q_down = tmp_path / "rs_down", tmp_path / "q_down"
    cfg = loads(f"""virtual_server 192.0.2.100 80 {{
    delay_loop 0.3
    lb_algo rr
    lb_kind NAT
    protocol TCP
    omega
    quorum_down "/usr/bin/touch {q_down}"
    real_server {srv.host} {srv.port} {{
        notify_down "/usr/bin/touch {rs_down}"
{HTTP}
    }}
}}
""")

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(cfg)
        assert await wait_until(lambda: be.tables and be.reals())
        assert not rs_down.exists() and not q_down.exists()
        await svc.stop()
        assert rs_down.exists() and q_down.exists()
    try:
        asyncio.run(body())
    finally:
        srv.close()
