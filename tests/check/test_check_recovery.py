"""HTTP_GET with several urls: a down (or alpha) server recovers one url per delay_loop, as in
keepalived, unless fast_recovery checks them all in one run."""
from __future__ import annotations

import asyncio

import pytest

from lvsfast.check.service import CheckerService
from lvsfast.config import loads
from support.servers import MiniHTTP
from test_check_service import RecordingBackend, wait_until


@pytest.mark.parametrize("fast", [False, True])
def test_alpha_recovery_pace(fast):
    srv = MiniHTTP()
    urls = "".join(f"            url {{\n                path /u{i}\n            }}\n" for i in range(3))
    cfg = loads(f"""virtual_server 192.0.2.100 80 {{
    delay_loop 0.6
    lb_algo rr
    lb_kind NAT
    protocol TCP
    alpha
    real_server {srv.host} {srv.port} {{
        HTTP_GET {{
{urls}            connect_timeout 1
            warmup 0
            {"fast_recovery" if fast else ""}
        }}
    }}
}}
""")
    key = f"{srv.host}:{srv.port}"

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(cfg)
        try:
            assert await wait_until(lambda: be.tables and key in be.reals(), timeout=5)
            runs = svc.status()["virtual_servers"]
            checker = next(iter(runs.values()))["real_servers"][key]["checkers"][0]
            # Up after the first run with fast_recovery; after the third (one url each) without.
            assert checker["runs"] == (1 if fast else 3)
        finally:
            await svc.stop()
    try:
        asyncio.run(body())
    finally:
        srv.close()
