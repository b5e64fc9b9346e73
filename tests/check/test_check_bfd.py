"""BFD_CHECK in the checker service: the relayed ``bfd_state`` event takes a real server out at
once and brings it back (no retry), alpha starts it down until the session is Up, and a
session's state known before a reload holds for the new checks."""
from __future__ import annotations

import asyncio

from lvsfast.check.service import CheckerService
from lvsfast.config import loads
from test_check_service import RecordingBackend, wait_until

CONF = """bfd_instance B1 {{
    neighbor_ip 192.0.2.11
}}
virtual_server 192.0.2.100 80 {{
    delay_loop 30
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.0.2.11 80 {{
        BFD_CHECK {{
            name B1
{alpha}        }}
    }}
    real_server 192.0.2.12 80 {{
    }}
}}
"""


def test_bfd_state_events_drive_the_real_server():
    cfg = loads(CONF.format(alpha=""))

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(cfg)
        try:
            both = {"192.0.2.11:80": 1, "192.0.2.12:80": 1}
            assert await wait_until(lambda: be.tables and be.reals() == both)
            svc.on_event({"event": "bfd_state", "instance": "B1", "state": "DOWN"})
            assert await wait_until(lambda: be.reals() == {"192.0.2.12:80": 1})
            svc.on_event({"event": "bfd_state", "instance": "B1", "state": "UP"})
            assert await wait_until(lambda: be.reals() == both)
            svc.on_event({"event": "bfd_state", "instance": "OTHER", "state": "DOWN"})
            await asyncio.sleep(0.3)
            assert be.reals() == both
        finally:
            await svc.stop()
    asyncio.run(body())


def test_alpha_starts_down_until_the_session_is_up():
    cfg = loads(CONF.format(alpha="            alpha\n"))

    async def body():
        be = RecordingBackend()
        svc = CheckerService(backend=be)
        await svc.start(cfg)
        try:
            assert await wait_until(lambda: be.tables and be.reals() == {"192.0.2.12:80": 1})
            svc.on_event({"event": "bfd_state", "instance": "B1", "state": "UP"})
            assert await wait_until(lambda: be.reals() == {"192.0.2.11:80": 1, "192.0.2.12:80": 1})
        finally:
            await svc.stop()
    asyncio.run(body())


def test_bfd_instances_start_the_vrrp_child_which_runs_them():
    from lvsfast.cli import parse_options
    from lvsfast.daemon.main import wanted_children

    cfg = loads(CONF.format(alpha=""))
    assert wanted_children(parse_options([]), cfg) == ["vrrp", "checker"]
    assert wanted_children(parse_options([]), loads("bfd_instance B1 {\n neighbor_ip 192.0.2.11\n}\n")) == ["vrrp"]
