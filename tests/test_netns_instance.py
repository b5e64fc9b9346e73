"""keepalived's top-level net_namespace and instance: two daemons side by side with the same flags.

Each daemon is started from the host with keepalived's flags alone; only its configuration names
the namespace it joins and the instance it is, and its files (pid files, control socket) follow
from them as they do from -s (lvsfast.paths).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lvsfast.lab.netns import Lab, wait_for
from lvsfast.paths import DaemonPaths
from support.requires import need_binary, need_root

ROOT = Path(__file__).resolve().parents[1]
KEEPALIVED = "/usr/sbin/keepalived"
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))

CONF = """{identity}
global_defs {{
    router_id nsi
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface {dev}
    virtual_router_id {vrid}
    priority 100
    advert_int 1
    virtual_ipaddress {{
        192.0.2.{vrid}/32
    }}
}}
"""


def test_identity_paths_and_what_wins():
    """instance/net_namespace derive the paths; -s wins over net_namespace, -p over the derived pid."""
    from lvsfast.cli import parse_options
    from lvsfast.config import loads
    from lvsfast.daemon.main import adopt_identity

    config = loads("net_namespace nsi-other\ninstance A\n")
    o = adopt_identity(parse_options(["-s", "nsi-cmd", "-f", "x.conf"]), config)  # -s: nothing joined here
    assert (o.namespace, o.instance, o.pid, o.control_socket) == (
        "nsi-cmd", "A", "/run/lvsfast/nsi-cmd/lvsfast_A.pid", "/run/lvsfast/nsi-cmd/lvsfast_A.sock")
    o = adopt_identity(parse_options(["-p", "/tmp/nsi.pid"]), loads("instance B\n"))
    assert (o.pid, o.vrrp_pid, o.control_socket) == (
        "/tmp/nsi.pid", "/run/lvsfast/lvsfast_vrrp_B.pid", "/tmp/nsi.sock")
    o = adopt_identity(parse_options(["--control-socket", "/tmp/c.sock"]), loads("use_pid_dir\n"))
    assert (o.pid, o.control_socket) == ("/run/lvsfast/lvsfast.pid", "/tmp/c.sock")
    plain = parse_options([])
    assert adopt_identity(plain, loads("global_defs {\n router_id x\n}\n")) is plain


@pytest.fixture
def lab():
    need_root()
    need_binary("ip")
    with Lab(prefix="nsi" + uuid.uuid4().hex[:5]) as lab:
        yield lab


def _link(ns, dev: str) -> None:
    ns.ip("link", "add", dev, "type", "veth", "peer", "name", dev + "p")
    ns.ip("link", "set", dev, "up")
    ns.ip("link", "set", dev + "p", "up")
    ns.ip("addr", "add", f"10.77.{int(dev[-1]) + 1}.1/24", "dev", dev)  # VRRP needs a primary address


def _start(conf: Path, log: Path) -> subprocess.Popen:
    # The same flags for every daemon: keepalived's, no -p/-s/--control-socket.
    return subprocess.Popen([sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-f", str(conf)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"), start_new_session=True)


def _ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lvsfast.daemon.ctl", *args], capture_output=True, text=True,
                          timeout=30, env=ENV)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def _run_pair(tmp_path: Path, daemons: list[tuple[str, str, object, str, int, DaemonPaths, list[str]]]) -> None:
    """daemons: (name, identity lines, namespace, dev, vrid, expected paths, lvsfastctl selector)."""
    procs = []
    try:
        for name, identity, ns, dev, vrid, where, _ in daemons:
            conf = tmp_path / f"{name}.conf"
            conf.write_text(CONF.format(identity=identity, dev=dev, vrid=vrid))
            procs.append(_start(conf, tmp_path / f"{name}.log"))
        for (name, identity, ns, dev, vrid, where, select), proc in zip(daemons, procs):
            wait_for(lambda: proc.poll() is None and os.path.exists(where.control_socket)
                     and os.path.exists(where.pid) and Path(where.pid).read_text().strip() != ""
                     and os.path.exists(where.vrrp_pid),
                     timeout=30, what=f"daemon {name} ({(tmp_path / f'{name}.log').read_text()[-2000:]})")
            assert int(Path(where.pid).read_text()) == proc.pid
            def vrrp_status() -> str:
                out = _ctl(*select, "status", "--json")
                assert out.returncode == 0, out.stderr
                status = json.loads(out.stdout)
                assert status["pid"] == proc.pid
                return json.dumps(status["children"]["vrrp"])
            # lvsfastctl with the selector finds this daemon; its VRRP child reports its instance.
            wait_for(lambda: f"192.0.2.{vrid}/32" in vrrp_status(), timeout=30, what=f"{name}'s VRRP status")
            vrrp = vrrp_status()
            assert all(f"192.0.2.{other[4]}/32" not in vrrp for other in daemons if other[0] != name)
            # The VRRP instance runs inside the namespace: a BACKUP alone becomes MASTER there
            # and its VIP appears on the namespace's interface, never on the host.
            wait_for(lambda: f"192.0.2.{vrid}/32" in " ".join(ns.addresses(dev)), timeout=30,
                     what=f"{name}'s VIP in {ns.name}")
            host = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
            assert f"192.0.2.{vrid}/" not in host
        assert len({d[5].pid for d in daemons} | {d[5].vrrp_pid for d in daemons}) == 2 * len(daemons)
        assert all(p.poll() is None for p in procs)
    finally:
        _stop(procs)
    for _, _, _, _, _, where, _ in daemons:
        assert not os.path.exists(where.pid)  # removed at stop


def test_two_daemons_by_net_namespace(lab, tmp_path):
    ns1, ns2 = lab.ns("a"), lab.ns("b")
    _link(ns1, "nsi0")
    _link(ns2, "nsi0")
    daemons = [(f"d{n}", f"net_namespace {ns.name}", ns, "nsi0", 40, DaemonPaths.derive(namespace=ns.name), ["-s", ns.name])
               for n, ns in enumerate((ns1, ns2), start=1)]
    assert daemons[0][5].pid == f"/run/lvsfast/{ns1.name}/lvsfast.pid"
    try:
        _run_pair(tmp_path, [(n, i, ns, d, vrid + k, w, s) for k, (n, i, ns, d, vrid, w, s) in enumerate(daemons)])
    finally:
        for ns in (ns1, ns2):
            shutil.rmtree(f"/run/lvsfast/{ns.name}", ignore_errors=True)


def test_two_daemons_by_instance(lab, tmp_path):
    """keepalived's 'several instances in one namespace': both join the same namespace (so the host
    stays untouched) and are told apart by their instance name alone."""
    ns = lab.ns("i")
    _link(ns, "nsi0")
    _link(ns, "nsi1")
    daemons = []
    for k, inst in enumerate(("A", "B")):
        where = DaemonPaths.derive(namespace=ns.name, instance=inst)
        daemons.append((inst, f"net_namespace {ns.name}\ninstance {inst}", ns, f"nsi{k}", 50 + k, where,
                        ["-s", ns.name, "-i", inst]))
    assert daemons[1][5].control_socket == f"/run/lvsfast/{ns.name}/lvsfast_B.sock"
    try:
        _run_pair(tmp_path, daemons)
    finally:
        shutil.rmtree(f"/run/lvsfast/{ns.name}", ignore_errors=True)


def test_reload_that_changes_the_instance_is_refused(lab, tmp_path):
    ns = lab.ns("r")
    _link(ns, "nsi0")
    conf = tmp_path / "r.conf"
    conf.write_text(CONF.format(identity=f"net_namespace {ns.name}\ninstance R", dev="nsi0", vrid=60))
    where = DaemonPaths.derive(namespace=ns.name, instance="R")
    proc = _start(conf, tmp_path / "r.log")
    try:
        wait_for(lambda: os.path.exists(where.control_socket) and os.path.exists(where.pid), timeout=30,
                 what="the daemon")
        conf.write_text(CONF.format(identity=f"net_namespace {ns.name}\ninstance S", dev="nsi0", vrid=60))
        out = _ctl("-s", ns.name, "-i", "R", "reload")
        assert out.returncode == 1 and "Cannot change instance name at a reload" in out.stderr
        conf.write_text(CONF.format(identity="instance R", dev="nsi0", vrid=60))
        out = _ctl("-s", ns.name, "-i", "R", "reload")
        assert out.returncode == 1 and "Cannot change network namespace at a reload" in out.stderr
        assert _ctl("-s", ns.name, "-i", "R", "status").returncode == 0 and proc.poll() is None
    finally:
        _stop([proc])
        shutil.rmtree(f"/run/lvsfast/{ns.name}", ignore_errors=True)


def test_config_test_checks_interfaces_in_net_namespace_beside_keepalived(lab, tmp_path):
    need_binary("keepalived")
    ns = lab.ns("t")
    _link(ns, "nsi0")
    conf = tmp_path / "t.conf"
    cases = {
        "in the namespace": (f"net_namespace {ns.name}", "nsi0", 0),
        "only on the host": (f"net_namespace {ns.name}", "lo-nsi-none", 5),
        "inside global_defs (unknown to keepalived)": ("", "nsi0", 5),
        "duplicate": (f"net_namespace {ns.name}\nnet_namespace {ns.name}x", "nsi0", 5),
        "name missing": ("net_namespace", "nsi0", 5),
        "instance": (f"net_namespace {ns.name}\ninstance X", "nsi0", 0),
    }
    for what, (identity, dev, status) in cases.items():
        text = CONF.format(identity=identity, dev=dev, vrid=70)
        if what.startswith("inside"):
            text = text.replace("router_id nsi", f"router_id nsi\n    net_namespace {ns.name}")
        conf.write_text(text)
        ka = subprocess.run([KEEPALIVED, "-t", "-f", str(conf)], capture_output=True, text=True, timeout=60)
        ours = subprocess.run([sys.executable, "-m", "lvsfast.cli", "-t", "-f", str(conf)], capture_output=True,
                              text=True, timeout=60, env=ENV)
        assert (ka.returncode, ours.returncode) == (status, status), (what, ka.stderr, ours.stderr)
    # A namespace that does not exist: keepalived -t exits 0 without checking anything; lvsfast
    # says so and exits 1, as for -s NAME.
    conf.write_text(CONF.format(identity=f"net_namespace {ns.name}-none", dev="nsi0", vrid=70))
    ours = subprocess.run([sys.executable, "-m", "lvsfast.cli", "-t", "-f", str(conf)], capture_output=True,
                          text=True, timeout=60, env=ENV)
    assert ours.returncode == 1 and f"Unable to set network namespace {ns.name}-none" in ours.stderr
