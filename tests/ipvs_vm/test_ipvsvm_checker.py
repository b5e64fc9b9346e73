"""Inside the IPVS VM: the checker subsystem on the IPVS backend applies keepalived's global
lvs_timeouts and runs lvs_sync_daemon as backup, switching to master with its VRRP instance."""
from __future__ import annotations

import asyncio
import subprocess

from support.ipvs import IN_VM, need_ipvs, sh

from lvsfast.check.service import CheckerService
from lvsfast.config import loads
from lvsfast.ipvs.backend import IPVSBackend

CONF = """global_defs {
    lvs_timeouts tcp 905 tcpfin 125 udp 305
    lvs_sync_daemon lo VI_1 id 7
}
virtual_server 10.9.3.1 80 {
    delay_loop 5
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 18099 {
        weight 3
    }
}
"""


class TestCheckerOnIpvs:
    __test__ = IN_VM

    def test_timeouts_sync_daemon_and_table(self) -> None:
        need_ipvs()
        sh("ipvsadm", "-C")

        async def body() -> None:
            svc = CheckerService(backend=IPVSBackend())
            await svc.start(loads(CONF))
            try:
                assert "905 125 305" in sh("ipvsadm", "-L", "--timeout")
                assert "backup sync daemon (mcast=lo, syncid=7" in sh("ipvsadm", "-L", "--daemon")
                assert "127.0.0.1:18099" in sh("ipvsadm", "-Ln")  # no checker: the server is in
                svc.on_event({"event": "vrrp_state", "instance": "VI_1", "state": "MASTER", "vips": []})
                for _ in range(50):
                    if "master sync daemon" in sh("ipvsadm", "-L", "--daemon"):
                        break
                    await asyncio.sleep(0.1)
                out = sh("ipvsadm", "-L", "--daemon")
                assert "master sync daemon (mcast=lo, syncid=7" in out and "backup" not in out
            finally:
                await svc.stop()
            assert "10.9.3.1" not in sh("ipvsadm", "-Ln")  # owned entries removed on stop
            assert "sync daemon" not in sh("ipvsadm", "-L", "--daemon")  # and the sync daemon stopped

        try:
            asyncio.run(body())
        finally:
            for st in ("master", "backup"):
                subprocess.run(["ipvsadm", "--stop-daemon", st], capture_output=True)
            sh("ipvsadm", "--set", "900", "120", "300")


class TestDriftOnIpvs:
    __test__ = IN_VM

    def test_ipvsadm_clear_is_repaired_and_foreign_services_kept(self) -> None:
        need_ipvs()
        sh("ipvsadm", "-C")
        conf = CONF.replace("    lvs_timeouts tcp 905 tcpfin 125 udp 305\n    lvs_sync_daemon lo VI_1 id 7\n", "")

        async def body() -> None:
            svc = CheckerService(backend=IPVSBackend())
            await svc.start(loads(conf))
            try:
                assert "127.0.0.1:18099" in sh("ipvsadm", "-Ln")
                sh("ipvsadm", "-C")  # keepalived never restores this, even on reload (#1018, #1877)
                sh("ipvsadm", "-A", "-t", "10.9.9.9:81", "-s", "rr")  # someone else's service
                for _ in range(100):
                    if "127.0.0.1:18099" in sh("ipvsadm", "-Ln"):
                        break
                    await asyncio.sleep(0.1)
                out = sh("ipvsadm", "-Ln")
                assert "10.9.3.1:80" in out and "127.0.0.1:18099" in out
                assert "10.9.9.9:81" in out  # not ours: left alone
                assert svc.stats()["drift_repairs"] >= 1
            finally:
                await svc.stop()
            out = sh("ipvsadm", "-Ln")
            assert "10.9.3.1" not in out and "10.9.9.9:81" in out

        try:
            asyncio.run(body())
        finally:
            sh("ipvsadm", "-C")
