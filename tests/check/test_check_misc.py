"""MISC_CHECK: exit codes (misc_dynamic weights), no shell, timeout kills the whole process group."""
from __future__ import annotations

import asyncio
import os
import time

from lvsfast.check import probes
from lvsfast.check.service import CheckerService
from lvsfast.config import loads
from lvsfast.config.model import MiscCheck, Script
from support.servers import MiniHTTP
from test_check_service import RecordingBackend, wait_until


def misc(command: str, dynamic: bool = False, timeout: float = 2.0):
    chk = MiscCheck(misc_path=Script(command), misc_dynamic=dynamic, misc_timeout=timeout)
    return asyncio.run(probes.misc(chk, False, None))


def test_exit_codes_and_dynamic_weight():
    assert misc("/bin/true")[:2] == (True, "MISC_CHECK /bin/true: exit 0")
    assert misc("/bin/false")[:2] == (False, "MISC_CHECK /bin/false: exit 1")
    assert misc("/bin/sh -c 'exit 12'", dynamic=True) == (True, "MISC_CHECK /bin/sh -c 'exit 12': exit 12, weight 10", 10)
    assert misc("/bin/sh -c 'exit 1'", dynamic=True)[0] is False
    assert misc("/bin/sh -c 'exit 12'")[0] is False  # without misc_dynamic only 0 is up


def test_no_shell_injection(tmp_path):
    mark = tmp_path / "pwned"
    ok, why, _ = misc(f"/bin/echo hi; /usr/bin/touch {mark}")
    assert ok and not mark.exists()  # ';' and the rest were echo's arguments


def test_timeout_kills_the_process_group(tmp_path):
    pidfile = tmp_path / "child"
    t0 = time.monotonic()
    ok, why, _ = misc(f"/bin/sh -c 'sleep 60 & echo $! > {pidfile}; wait'", timeout=0.5)
    assert not ok and why.endswith("timed out")
    assert time.monotonic() - t0 < 10
    child = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"grandchild {child} survived the timeout")


def test_service_applies_misc_dynamic_weight(tmp_path):
    srv = MiniHTTP()
    code = tmp_path / "code"
    code.write_text("7")
    cfg = loads(f"""virtual_server 192.0.2.100 80 {{
    delay_loop 0.2
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server {srv.host} {srv.port} {{
        weight 1
        MISC_CHECK {{
            misc_path "/bin/sh -c 'exit $(cat {code})'"
            misc_timeout 2
            misc_dynamic
            warmup 0
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
            assert await wait_until(lambda: be.tables and be.reals().get(key) == 5)
            code.write_text("1")
            assert await wait_until(lambda: key not in be.reals())
            code.write_text("0")
            assert await wait_until(lambda: be.reals().get(key) == 5)  # exit 0: weight unchanged
        finally:
            await svc.stop()
    try:
        asyncio.run(body())
    finally:
        srv.close()
