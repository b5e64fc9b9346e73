"""Inside the IPVS VM: the real daemon (``lvsfast -C``, its checker child on uvloop) programs
IPVS from a keepalived.conf, follows a failing check, and removes its entries on SIGTERM."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from support.ipvs import IN_VM, need_ipvs, sh

from lvsfast.lab.netns import wait_for

CONF = """global_defs {
    router_id vmdaemon
    lvs_backend ipvs
}
virtual_server 10.9.4.1 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 %(up)d {
        weight 3
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server 127.0.0.1 %(down)d {
        weight 2
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
"""


class TestDaemonOnIpvs:
    __test__ = IN_VM

    def test_daemon_programs_follows_checks_and_cleans_up(self) -> None:
        need_ipvs()
        sh("ipvsadm", "-C")
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        up = listener.getsockname()[1]
        with tempfile.TemporaryDirectory() as wd:
            work = Path(wd)
            conf = work / "k.conf"
            conf.write_text(CONF % {"up": up, "down": closed})
            proc = subprocess.Popen([sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(conf),
                                     "--control-socket", str(work / "ctl.sock"), "-p", str(work / "p.pid"),
                                     "-c", str(work / "c.pid")], stdout=open(work / "log", "w"),
                                    stderr=subprocess.STDOUT)
            try:
                table = lambda: sh("ipvsadm", "-Ln")
                # The failing server leaves at its first failed check; the other stays at weight 3.
                wait_for(lambda: f"127.0.0.1:{up}" in table() and f"127.0.0.1:{closed}" not in table(),
                         timeout=90, what=f"the daemon's IPVS entries: {table()} {(work / 'log').read_text()[-2000:]}")
                line = next(ln for ln in table().splitlines() if f"127.0.0.1:{up}" in ln)
                assert line.split()[2] == "Masq" and line.split()[3] == "3", line
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
                listener.close()
            assert "10.9.4.1:80" not in sh("ipvsadm", "-Ln")  # removed on stop, keepalived's default
