"""Reload through the whole daemon on nftables: one changed real server reaches the kernel and
nothing else is touched; a broken config keeps everything as it was (keepalived #187, #1354)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

from lvsfast.daemon.control import request
from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.requires import need_binary

READ = ("import asyncio,json;from lvsfast.nft.backend import NftBackend;t=asyncio.run(NftBackend().read());"
        "print(json.dumps({str(k):{str(d):v.weight for d,v in ds.items()} for k,ds in t.dests.items()}))")


def conf(weight_b: int) -> str:
    def vs(vip: str, weights: tuple[int, int]) -> str:
        reals = "".join(f"""    real_server 127.0.0.1 {port} {{
        weight {w}
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
""" for port, w in zip((18081, 18082), weights))
        return f"virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n{reals}}}\n"
    return "global_defs {\n    lvs_backend nftables\n}\n" + vs("192.0.2.1", (1, 1)) + vs("192.0.2.2", (1, weight_b))


def test_reload_changes_one_entry_and_broken_reload_keeps_state(lab, tmp_path):
    need_binary("nft")
    ns = lab.ns("lb")
    lab.spawn(ns, sys.executable, "-c", "import socket,time\nss=[]\nfor p in (18081,18082):\n s=socket.socket();"
              "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',p));s.listen(16);ss.append(s)\n"
              "time.sleep(600)")
    cfg = tmp_path / "k.conf"
    cfg.write_text(conf(1))
    sock = str(tmp_path / "ctl.sock")
    proc = lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(cfg), "--control-socket", sock,
                     "-p", str(tmp_path / "p"), "-r", str(tmp_path / "r"), "-c", str(tmp_path / "c"),
                     stdout=open(tmp_path / "log", "w"), stderr=subprocess.STDOUT)

    def kernel():
        out = ns.run(sys.executable, "-c", READ, check=False)
        return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else {}

    want1 = {"TCP 192.0.2.1:80": {"127.0.0.1:18081": 1, "127.0.0.1:18082": 1},
             "TCP 192.0.2.2:80": {"127.0.0.1:18081": 1, "127.0.0.1:18082": 1}}
    wait_for(lambda: kernel() == want1, timeout=20, what=f"the initial table (log: {tmp_path / 'log'})")
    before = json.loads(ns.run("nft", "-j", "list", "table", "ip", "lvsfast").stdout)["nftables"]
    cfg.write_text(conf(5))
    proc.send_signal(signal.SIGHUP)
    want2 = {**want1, "TCP 192.0.2.2:80": {"127.0.0.1:18081": 1, "127.0.0.1:18082": 5}}
    wait_for(lambda: kernel() == want2, timeout=10, what="the weight change in the kernel")
    after = json.loads(ns.run("nft", "-j", "list", "table", "ip", "lvsfast").stdout)["nftables"]
    # Objects of the untouched service keep their handles: the reload did not rebuild them.
    def handles(items, needle):
        return sorted(json.dumps(i, sort_keys=True) for i in items if needle in json.dumps(i))
    assert handles(before, "192.0.2.1") == handles(after, "192.0.2.1")
    # The checker read the new files itself, beside the parent, rather than take its copy.
    assert request(sock, "status")["own_readings"] == 1
    # A broken config is refused and the running table stays as it is.
    cfg.write_text(conf(5).replace("lb_algo wrr", "lb_algo nosuch", 1))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: request(sock, "status")["failed_reloads"] == 1, timeout=10, what="the failed reload")
    assert kernel() == want2
    assert request(sock, "status")["own_readings"] == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert ns.run("nft", "list", "table", "ip", "lvsfast", check=False).returncode != 0  # removed on stop
