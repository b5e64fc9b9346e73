"""Scale-out (#27): ``announce_track_script`` seen from the upstream router. One director of the
scale-out lab (lvsfast with the nftables backend, FRR bgpd redistributing lo's VIP) and the
upstream's bgpd: while the tracked vrrp_script fails, the upstream has no route to the VIP."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support.requires import need_binary, need_root

pytestmark = [pytest.mark.netns, pytest.mark.root]

CONF = """global_defs {
    router_id trk_d1
    lvs_backend nftables
    announce_interface lo
    announce_withdraw_delay 0
    announce_track_script chk_bgp_ok
}
vrrp_script chk_bgp_ok {
    script "/bin/sh -c 'test ! -e %(flag)s'"
    interval 0.3
}
virtual_server %(vip)s 80 {
    delay_loop 1
    lb_algo mh
    lb_kind DR
    protocol TCP
    announce_route
    real_server %(rs)s 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
"""


def test_failing_track_script_withdraws_the_route_upstream():
    need_root()
    need_binary("nft", "vtysh")
    if not os.path.exists("/usr/lib/frr/bgpd"):
        pytest.skip("needs FRR (/usr/lib/frr/bgpd)")
    from lvsfast.lab.netns import wait_for
    from lvsfast.lab.scaleout import DIRECTORS, LAN, REAL_SERVERS, VIP, ScaleOut

    work = Path(tempfile.mkdtemp(prefix="lvsfast-trk-"))
    os.chmod(work, 0o755)  # FRR runs as frr
    flag = work / "maintenance"
    d1 = f"{LAN}.{DIRECTORS['d1']}"
    proc = None
    try:
        with ScaleOut(work / "lab", prefix="trk") as so:
            so.start_http("rs1")
            so.start_frr("up")
            so.start_frr("d1")
            conf = work / "d1.conf"
            conf.write_text(CONF % {"flag": flag, "vip": VIP, "rs": f"{LAN}.{REAL_SERVERS['rs1']}"})
            log = open(work / "d1.log", "w")
            proc = so.lab.spawn(so.directors["d1"], sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(conf),
                                "--control-socket", str(work / "d1.sock"), "-p", str(work / "d1.pid"),
                                "-c", str(work / "d1_c.pid"), stdout=log, stderr=subprocess.STDOUT)

            def state() -> tuple[bool, list[str]]:
                assert proc.poll() is None, (work / "d1.log").read_text()[-2000:]
                return so.announced("d1"), so.ecmp()

            wait_for(lambda: state() == (True, [d1]), timeout=90, interval=0.2,
                     what=f"the upstream's route to {VIP} through d1: {(work / 'd1.log').read_text()[-1500:]}")
            flag.touch()  # the script fails: the /32 goes, and with it the upstream's route
            wait_for(lambda: state() == (False, []), timeout=15, interval=0.1, what="withdrawn upstream")
            flag.unlink()
            wait_for(lambda: state() == (True, [d1]), timeout=15, interval=0.1, what="announced again")
            proc.terminate()
            proc.wait(30)
            text = (work / "d1.log").read_text()
            assert "announce_track_script: chk_bgp_ok failed" in text and "not up; announcing nothing" in text
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
