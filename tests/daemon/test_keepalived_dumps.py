"""The dump files a keepalived exporter reads, from keepalived 2.2.7 and from lvsfast, for the same
two routers: the JSON signal's keepalived.json, USR1's keepalived.data, USR2's keepalived.stats.

Each daemon runs in its namespace with a /tmp of its own (a private mount namespace), so the
files are the daemon's own and no other test's keepalived can overwrite them; the signals go to
the parent's pid from its pid file, as keepalived's users send them.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import lvsfast
from lvsfast.lab.netns import Lab, wait_for
from support.requires import need_binary, need_root
from support.vrrp_lab import VrrpLab, instance_conf

KEEPALIVED = "/usr/sbin/keepalived"
VIPS = ("10.0.0.100/24", "10.0.0.101 dev eth0 label eth0:1")
EXTRA = ("    virtual_ipaddress_excluded {\n        10.0.0.102/32\n    }\n"
         "    notify_master /bin/true\n    notify \"/bin/true x\"\n"
         "    authentication {\n        auth_type PASS\n        auth_pass kdjpass\n    }\n")
ROUTERS = {"r1": ("MASTER", 150), "r2": ("BACKUP", 100)}
RUN_FOR = 4.0  # seconds of adverts after the election before the signal


def _under_tmp(paths: list[str]) -> list[str]:
    """The top-level /tmp folders the daemon's interpreter and sources live in (the shared venv,
    a CI clone): they stay visible under the private /tmp."""
    tops = set()
    for p in paths:
        parts = Path(os.path.realpath(p)).parts
        if len(parts) > 2 and parts[1] == "tmp":
            tops.add(f"/tmp/{parts[2]}")
    return sorted(tops)


def _private_tmp(private: Path, cmd: list[str]) -> list[str]:
    keep = _under_tmp([sys.prefix, sys.executable, str(Path(lvsfast.__file__).parents[1]), *sys.path])
    script = []
    for top in keep:
        inner = private / top.removeprefix("/tmp/")
        inner.mkdir(parents=True, exist_ok=True)
        script.append(f"mount --bind {shlex.quote(top)} {shlex.quote(str(inner))}")
    script.append(f"mount --rbind {shlex.quote(str(private))} /tmp")
    script.append('exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", " && ".join(script), "sh", *cmd]


@pytest.fixture
def workdir():
    # Outside /tmp: the daemons see a private /tmp.
    d = Path(tempfile.mkdtemp(prefix="kdj-", dir="/var/tmp"))
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def _signum(name: str) -> int:
    return int(subprocess.run([KEEPALIVED, f"--signum={name}"], capture_output=True, text=True, check=True).stdout)


def _run(kind: str, workdir: Path) -> dict[str, dict[str, str]]:
    """Both routers under ``kind``; returns each router's three dump files' text."""
    out: dict[str, dict[str, str]] = {}
    with Lab(prefix="kdj" + uuid.uuid4().hex[:4]) as lab:
        v = VrrpLab.build(lab, workdir)
        procs = {}
        for name, (state, prio) in ROUTERS.items():
            body = instance_conf(priority=prio, version=2, state=state, vips=VIPS, extra=EXTRA)
            conf = workdir / f"{kind}-{name}.conf"
            conf.write_text(f"global_defs {{\n    router_id {name}\n}}\n" + body)
            pid = workdir / f"{kind}-{name}.pid"
            private = workdir / f"{kind}-{name}-tmp"
            private.mkdir()
            exe = [KEEPALIVED] if kind == "keepalived" else [sys.executable, "-m", "lvsfast.cli",
                                                              "--control-socket", str(workdir / f"{name}.sock")]
            cmd = [*exe, "-n", "-l", "-P", "-f", str(conf), "-p", str(pid),
                   "-r", str(workdir / f"{kind}-{name}-v.pid"), "-c", str(workdir / f"{kind}-{name}-c.pid")]
            log = open(workdir / f"{kind}-{name}.log", "w")
            procs[name] = (lab.spawn(v.routers[name].ns, *_private_tmp(private, cmd), stdout=log,
                                     stderr=subprocess.STDOUT), pid, private)
        for name in ROUTERS:
            wait_for(lambda: (workdir / f"{kind}-{name}.log").exists() and re.search(
                rf"\(VI_1\) Entering {ROUTERS[name][0]} STATE", (workdir / f"{kind}-{name}.log").read_text()),
                timeout=20, what=f"{kind} {name} in {ROUTERS[name][0]}")
        time.sleep(RUN_FOR)
        for name, (proc, pid, private) in procs.items():
            parent = int(pid.read_text())
            for sig in (_signum("JSON"), signal.SIGUSR1, signal.SIGUSR2):
                os.kill(parent, sig)
            files = ("keepalived.json", "keepalived.data", "keepalived.stats")
            wait_for(lambda: all((private / f).exists() for f in files), timeout=10, what=f"{kind} {name}'s dumps")
            time.sleep(0.3)  # keepalived writes in place: let it finish
            out[name] = {f.split(".")[1]: (private / f).read_text() for f in files}
    return out


def _keys(value):
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(v) for v in value]
    return type(value).__name__


def _normal(line: str) -> str:
    # Wall-clock times differ between the two runs.
    return re.sub(r"Last transition = .*", "Last transition = T", line)


def test_dumps_match_keepalived(workdir):
    need_root()
    need_binary("keepalived", "unshare")
    ka = _run("keepalived", workdir)
    lf = _run("lvsfast", workdir)
    for name, (state, prio) in ROUTERS.items():
        kj, lj = json.loads(ka[name]["json"]), json.loads(lf[name]["json"])
        # The same keys, nesting and value types (bool stays bool, int stays int).
        assert _keys(lj) == _keys(kj), name
        kd, ld = kj[0]["data"], lj[0]["data"]
        for key in ("iname", "state", "wantstate", "base_priority", "effective_priority", "master_priority",
                    "vrid", "version", "vips", "evips", "adver_int", "master_adver_int", "vipset", "accept",
                    "nopreempt", "garp_delay", "garp_rep", "ifp_ifname", "auth_type", "auth_data", "script_master",
                    "script"):
            assert ld.get(key) == kd.get(key), (name, key, ld.get(key), kd.get(key))
        ks, ls = kj[0]["stats"], lj[0]["stats"]
        for key in ks:
            if key in ("advert_rcvd", "advert_sent"):
                assert abs(ls[key] - ks[key]) <= 3, (name, key, ls[key], ks[key])
            else:
                assert ls[key] == ks[key], (name, key)
        assert (ls["advert_sent"] > 0) == (state == "MASTER") and (ls["advert_rcvd"] > 0) == (state == "BACKUP")
        assert ka[name]["json"].endswith("}]\n") and lf[name]["json"].endswith("}]\n")
        # keepalived.stats: the same lines once the counts are set aside.
        assert re.sub(r"\d+", "N", lf[name]["stats"]) == re.sub(r"\d+", "N", ka[name]["stats"])
        # keepalived.data: every line lvsfast writes is keepalived's, in keepalived's order.
        klines = [_normal(x) for x in ka[name]["data"].splitlines()]
        llines = [_normal(x) for x in lf[name]["data"].splitlines()]
        assert "------< VRRP Topology >------" in llines and f"   State = {state}" in llines
        at = 0
        for line in llines:
            assert line in klines[at:], (name, line)
            at = klines.index(line, at) + 1


def test_stats_clear_signal_writes_then_zeroes(workdir):
    """keepalived's STATS_CLEAR signal: keepalived.stats as the counts were, then they start again."""
    need_root()
    need_binary("keepalived", "unshare")
    with Lab(prefix="kdj" + uuid.uuid4().hex[:4]) as lab:
        v = VrrpLab.build(lab, workdir, n=1)
        conf = workdir / "clear.conf"
        conf.write_text(instance_conf(priority=150, version=3, state="MASTER", advert_int=0.2))
        pid, private = workdir / "clear.pid", workdir / "clear-tmp"
        private.mkdir()
        cmd = [sys.executable, "-m", "lvsfast.cli", "--control-socket", str(workdir / "clear.sock"), "-n", "-l",
               "-P", "-f", str(conf), "-p", str(pid), "-r", str(workdir / "clear-v.pid"),
               "-c", str(workdir / "clear-c.pid")]
        lab.spawn(v.routers["r1"].ns, *_private_tmp(private, cmd), stdout=open(workdir / "clear.log", "w"),
                  stderr=subprocess.STDOUT)
        stats = private / "keepalived.stats"

        def sent_after(sig: int) -> int:
            stats.unlink(missing_ok=True)
            os.kill(int(pid.read_text()), sig)
            wait_for(lambda: stats.exists(), timeout=10, what="keepalived.stats")
            return int(re.search(r"^    Sent: (\d+)$", stats.read_text(), re.M).group(1))

        wait_for(lambda: pid.exists() and "Entering MASTER" in (workdir / "clear.log").read_text(), timeout=20,
                 what="lvsfast master")
        time.sleep(2)
        before = sent_after(_signum("STATS_CLEAR"))
        assert before >= 8  # 2 s of adverts every 0.2 s
        after = sent_after(signal.SIGUSR2)
        assert after < before, (before, after)
