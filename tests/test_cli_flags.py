"""keepalived 2.2.7's command line, flag by flag, beside keepalived itself; two daemons on one host."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lvsfast.cli import Exit, main, parse_options
from lvsfast.cli_flags import FLAGS, NONE, REQUIRED
from lvsfast.daemon.control import request
from lvsfast.lab.netns import wait_for
from lvsfast.paths import DEFAULT_CONTROL_SOCKET, DaemonPaths
from support.netns import lab  # noqa: F401  (fixture)
from support.requires import need_binary

KEEPALIVED = "/usr/sbin/keepalived"
ROOT = Path(__file__).resolve().parents[1]

# Written from `keepalived --help` and keepalived.8 of 2.2.7 (the flags its build options leave
# out of Debian's --help are in the manual: -g, --flush-log-file, --perf, --debug, --no-mem-check).
# (short, long, argument): 0 none, 1 required, 2 optional.
KEEPALIVED_2_2_7 = [
    ("f", "use-file", 1), ("P", "vrrp", 0), ("C", "check", 0), ("B", "no_bfd", 0), (None, "all", 0),
    ("l", "log-console", 0), ("D", "log-detail", 0), ("S", "log-facility", 1), ("g", "log-file", 2),
    (None, "flush-log-file", 0), ("G", "no-syslog", 0), ("u", "umask", 1), ("X", "release-vips", 0),
    ("V", "dont-release-vrrp", 0), ("I", "dont-release-ipvs", 0), ("R", "dont-respawn", 0),
    ("n", "dont-fork", 0), ("d", "dump-conf", 0), ("p", "pid", 1), ("r", "vrrp_pid", 1), ("T", "genhash", 0),
    ("c", "checkers_pid", 1), ("a", "address-monitoring", 0), ("b", "bfd_pid", 1), ("x", "snmp", 0),
    ("A", "snmp-agent-socket", 1), ("s", "namespace", 1), ("m", "core-dump", 0), ("M", "core-dump-pattern", 2),
    (None, "no-mem-check", 0), ("e", "all-config", 0), ("i", "config-id", 1), (None, "signum", 1),
    ("t", "config-test", 2), (None, "perf", 2), (None, "debug", 2), ("v", "version", 0), ("h", "help", 0),
]
EXITING = {"signum", "version", "help", "genhash"}  # print something and stop, as keepalived does
VALUES = {"log-facility": "local3", "umask": "022", "signum": "RELOAD", "namespace": "lfdf-none"}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lvsfast.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd)


def run_keepalived(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    need_binary("keepalived")
    return subprocess.run([KEEPALIVED, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_every_keepalived_flag_is_in_the_table():
    table = {(f.short, f.long, f.arg) for f in FLAGS}
    for flag in KEEPALIVED_2_2_7:
        assert flag in table, flag
    assert {f.status for f in FLAGS} == {"works", "ignored", "lvsfast"}


def test_keepalived_help_lists_no_flag_we_lack():
    out = run_keepalived("--help")
    text = out.stdout + out.stderr
    longs = set(re.findall(r"--([a-z_-]+)", text))
    shorts = set(re.findall(r"^\s+-([A-Za-z]),", text, re.M))
    ours = {f.long for f in FLAGS}
    assert longs and longs <= ours, longs - ours
    assert shorts and shorts <= {f.short for f in FLAGS}, shorts - {f.short for f in FLAGS}


@pytest.mark.parametrize("short,long,arg", KEEPALIVED_2_2_7, ids=[f[1] for f in KEEPALIVED_2_2_7])
def test_each_flag_parses_long_and_short(short, long, arg):
    value = VALUES.get(long, "x")
    spellings = [[f"--{long}={value}"] if arg else [f"--{long}"]]
    if arg == REQUIRED:
        spellings.append([f"--{long}", value])
    if short:
        spellings.append([f"-{short}", value] if arg == REQUIRED else [f"-{short}"])
        if arg != NONE:
            spellings.append([f"-{short}{value}"])
    for argv in spellings:
        if long in EXITING:
            with pytest.raises(Exit) as stop:
                parse_options(argv)
            assert stop.value.status == (1 if long == "genhash" else 0), argv  # -T: main() runs genhash
            continue
        o = parse_options(argv)
        flag = next(f for f in FLAGS if f.long == long)
        if flag.status == "ignored":
            assert len(o.ignored) == 1 and o.ignored[0] in (f"-{short}", f"--{long}"), (argv, o.ignored)
        else:
            assert not o.ignored, argv


def test_parsed_effects():
    o = parse_options(["-u", "027", "-m", "-s", "blue", "-S", "local3", "--all", "-P"])
    assert (o.umask, o.core_dump, o.namespace, o.log_facility, o.vrrp_only, o.run_all) == \
        (0o027, True, "blue", "local3", True, True)
    assert o.pid == "/run/lvsfast/blue/lvsfast.pid" and o.control_socket == "/run/lvsfast/blue/lvsfast.sock"
    o = parse_options(["-M", "-g", "--perf=all", "--debug", "--no-mem-check", "-x", "-A", "/s", "-a", "-b", "/b"])
    assert o.core_dump and o.ignored == ("-M", "--perf", "--debug", "--no-mem-check", "-a", "-b")
    assert o.snmp and o.snmp_agent_socket == "/s"
    assert o.log_file == "/tmp/keepalived.log" and parse_options(["--log-file=/l/k.log"]).log_file == "/l/k.log"
    assert parse_options(["-B"]).ignored == () and parse_options(["-B"]).no_bfd and not parse_options([]).no_bfd
    # getopt_long: an exact name wins over a longer one, unambiguous prefixes stand for the option.
    assert parse_options(["--all"]).run_all and not parse_options(["--all"]).all_config
    assert parse_options(["--dump"]).dump_conf and parse_options(["--all-c"]).all_config
    # an optional argument only in the same word: -t=x names the file "=x", as keepalived does
    assert parse_options(["-t=x"]).config_test_log == "=x"
    assert parse_options(["-t", "x"]).config_test_log is None
    assert parse_options(["--config-test=x"]).config_test_log == "x"


@pytest.mark.parametrize("argv", [["--al"], ["--vr"], ["--dont-re"], ["--bogus"], ["-Z"], ["--signum"],
                                  ["--use-file="], ["-f"], ["--signum=FOO"], ["--all=1"]])
def test_bad_flags_exit_1_as_keepalived(argv, tmp_path):
    ka = run_keepalived(*argv, "-t", "-f", str(tmp_path / "none.conf")) if argv != ["-f"] else run_keepalived("-f")
    assert ka.returncode == 1, (argv, ka.stderr)
    assert main(list(argv)) == 1


@pytest.mark.parametrize("name", ["STOP", "RELOAD", "DATA", "STATS", "STATS_CLEAR", "JSON", "TDATA", "reload"])
def test_signum_beside_keepalived(name):
    ka = run_keepalived(f"--signum={name}")
    ours = run_cli(f"--signum={name}")
    assert (ours.returncode, ours.stdout) == (ka.returncode, ka.stdout), name


def test_version():
    p = run_cli("--version")
    assert p.returncode == 0 and p.stdout.startswith("lvsfast ")


CLEAN = "global_defs {\n    router_id df\n}\n"


def test_t_with_keepalived_flags_beside_keepalived(tmp_path):
    conf = tmp_path / "k.conf"
    conf.write_text(CLEAN)
    flags = ["-B", "-a", "-x", "-A", str(tmp_path / "agent"), "-m", "-M", "-u", "077", "-l", "-D", "-G",
             "-R", "-X", "-V", "-I", "-p", str(tmp_path / "p.pid"), "-r", str(tmp_path / "r.pid"),
             "-c", str(tmp_path / "c.pid"), "-b", str(tmp_path / "b.pid"), "--all", "-i", "df"]
    ka = run_keepalived(*flags, "-t", "-f", str(conf))
    ours = run_cli(*flags, "-t", "-f", str(conf))
    assert ka.returncode == ours.returncode == 0, (ka.stderr, ours.stderr)
    for spelled in ("-a", "-M", "-b"):
        assert f"warning: option {spelled} is not supported by lvsfast; ignored" in ours.stderr
    assert "-B " not in ours.stderr and "-m " not in ours.stderr and "-x " not in ours.stderr
    # -S with -t: keepalived 2.2.7 exits 5 for a clean file (a quirk lvsfast does not copy).
    assert run_keepalived("-S", "daemon", "-t", "-f", str(conf)).returncode == 5
    assert run_cli("-S", "daemon", "-t", "-f", str(conf)).returncode == 0
    more = ["--perf", "--debug=TpMEvcp", "--no-mem-check", "-g", "--flush-log-file"]
    ours = run_cli(*more, "-t", "-f", str(conf))
    assert ours.returncode == 0 and ours.stderr.count("warning: option ") == 3


def test_help_says_which_flags_are_ignored():
    out = run_cli("--help").stdout
    section = out[out.index("not supported by lvsfast"):out.index("lvsfast's own options")]
    for f in FLAGS:
        if f.status == "ignored":
            assert f"--{f.long}" in section, f.long
        else:
            assert not re.search(f"--{f.long}\\b(?!-)", section), f.long


def test_empty_include_glob_beside_keepalived(tmp_path):
    (tmp_path / "conf.d").mkdir()
    conf = tmp_path / "k.conf"
    for include, note in (("include conf.d/*.conf", False), ("include nosuch.conf", True),
                          ("include conf.d/{a,b}.conf", True), ("includem conf.d/*.conf", False)):
        conf.write_text(f"{include}\n{CLEAN}")
        ka = run_keepalived("-t", "-f", str(conf), cwd=tmp_path)
        ours = run_cli("-t", "-f", str(conf), cwd=tmp_path)
        assert ka.returncode == ours.returncode == 0, (include, ka.stderr, ours.stderr)
        assert ("missing" in ka.stderr) == note and (": notice: " in ours.stderr) == note, (include, ka.stderr,
                                                                                          ours.stderr)
    for include in ("include nosuch.conf", "include conf.d/*.conf", "include conf.d/{a,b}.conf"):
        conf.write_text(f"{include}\n{CLEAN}")  # -e makes every include an includet: exit 6 in both
        assert run_keepalived("-e", "-t", "-f", str(conf), cwd=tmp_path).returncode == 6, include
        assert run_cli("-e", "-t", "-f", str(conf), cwd=tmp_path).returncode == 6, include


def test_paths_rule():
    assert DaemonPaths.derive().control_socket == DEFAULT_CONTROL_SOCKET
    p = DaemonPaths.derive(pid="/run/ns1/keepalived.pid")
    assert (p.control_socket, p.state_file) == ("/run/ns1/keepalived.sock", "/run/ns1/keepalived.sock.state.json")
    p = DaemonPaths.derive(namespace="blue", instance="lb")
    assert (p.pid, p.vrrp_pid, p.checkers_pid, p.control_socket) == (
        "/run/lvsfast/blue/lvsfast_lb.pid", "/run/lvsfast/blue/lvsfast_vrrp_lb.pid",
        "/run/lvsfast/blue/lvsfast_checkers_lb.pid", "/run/lvsfast/blue/lvsfast_lb.sock")
    assert p.dump_file("data") == "/tmp/keepalived.data"
    # keepalived's data_use_instance (global_data.c open_dump_file): "stem.NS_NAME.ext".
    assert p.dump_file("check_data", use_instance=True) == "/tmp/keepalived_check.blue_lb.data"
    assert DaemonPaths.derive(instance="lb").dump_file("stats", use_instance=True) == "/tmp/keepalived.lb.stats"
    assert DaemonPaths.derive(pid="/x.pid", control_socket="/y.sock").control_socket == "/y.sock"


def test_docs_command_line_section_matches_the_table():
    text = (ROOT / "docs" / "keywords.md").read_text()
    section = text[text.index("## Command line"):]
    section = section[:section.index("\n## ", 1)]
    rows = dict(re.findall(r"^\| `--([a-z_-]+)`[^|]*\| ([a-z]+) ", section, re.M))
    assert rows == {f.long: f.status for f in FLAGS}


VRRP_ONLY = """global_defs {{
    router_id {name}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface lo
    virtual_router_id {vrid}
    priority 100
    advert_int 1
    virtual_ipaddress {{
        192.0.2.{vrid}/32
    }}
}}
"""


def test_namespace_flag_in_the_config_test_beside_keepalived(lab, tmp_path):
    ns = lab.ns("dfs")
    ns.ip("link", "add", "dfx0", "type", "veth", "peer", "name", "dfx1")
    conf = tmp_path / "k.conf"
    conf.write_text(VRRP_ONLY.format(name="s", vrid=7).replace("interface lo", "interface dfx0"))
    pids = ["-p", str(tmp_path / "k.pid"), "-r", str(tmp_path / "v.pid"), "-c", str(tmp_path / "c.pid")]
    assert run_keepalived("-t", "-s", ns.name, *pids, "-f", str(conf)).returncode == 0
    assert run_cli("-t", "-s", ns.name, "-f", str(conf)).returncode == 0
    assert run_keepalived("-t", *pids, "-f", str(conf)).returncode == 5
    assert run_cli("-t", "-f", str(conf)).returncode == 5
    bad = run_cli("-t", "-s", "lfdf-no-such-ns", "-f", str(conf))
    assert bad.returncode == 1 and "Unable to set network namespace lfdf-no-such-ns" in bad.stderr


def test_two_daemons_by_namespace_flag(lab, tmp_path):
    """Started from the host with -s NS only: each daemon joins its namespace, its files move to
    /run/lvsfast/NS/, and lvsfastctl -s NS reaches it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    procs = []
    names = [lab.ns("dfa").name, lab.ns("dfb").name]
    try:
        for n, ns in enumerate(names, start=1):
            conf = tmp_path / f"{n}.conf"
            conf.write_text(VRRP_ONLY.format(name=ns, vrid=20 + n))
            procs.append(subprocess.Popen([sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-P", "-s", ns,
                                           "-f", str(conf)], env=env, stdout=subprocess.DEVNULL,
                                          stderr=open(tmp_path / f"{n}.log", "w")))
        for n, ns in enumerate(names, start=1):
            where = DaemonPaths.derive(namespace=ns)
            assert where.control_socket == f"/run/lvsfast/{ns}/lvsfast.sock"
            wait_for(lambda: os.path.exists(where.control_socket) and os.path.exists(where.pid)
                     and Path(where.pid).read_text().strip() != "", timeout=30, what=f"daemon in {ns}")
            out = subprocess.run([sys.executable, "-m", "lvsfast.daemon.ctl", "-s", ns, "status", "--json"],
                                 capture_output=True, text=True, timeout=30, env=env)
            assert out.returncode == 0, out.stderr
            assert f"192.0.2.{20 + n}/32" in out.stdout and int(Path(where.pid).read_text()) == procs[n - 1].pid
            # the VIP's instance runs inside the namespace: its lo got nothing on the host
        assert all(p.poll() is None for p in procs)
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        for ns in names:
            shutil.rmtree(f"/run/lvsfast/{ns}", ignore_errors=True)


def test_log_file_flag(lab, tmp_path):
    """-g FILE: the parent logs to FILE, the VRRP child to FILE_vrrp (keepalived's names); -u 077
    applies to the files made."""
    ns = lab.ns("dfg")
    conf = tmp_path / "k.conf"
    conf.write_text(VRRP_ONLY.format(name="g", vrid=9))
    log = tmp_path / "ka.log"
    lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-P", "-G", f"-g{log}", "--flush-log-file", "-u", "077",
              "-p", str(tmp_path / "g.pid"), "-r", str(tmp_path / "g_vrrp.pid"), "-f", str(conf),
              env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    child_log = tmp_path / "ka_vrrp.log"
    wait_for(lambda: child_log.exists() and "VI_1" in child_log.read_text(), timeout=30, what="the VRRP child's log")
    wait_for(lambda: log.exists() and log.read_text(), timeout=10, what="the parent's log")
    assert (log.stat().st_mode & 0o777) == 0o600 and ((tmp_path / "g.pid").stat().st_mode & 0o077) == 0


def test_two_daemons_on_one_host_with_keepalived_flags_alone(lab, tmp_path):
    """Two daemons, each in its own namespace, told apart by -p/-r/-c only; lvsfastctl -p finds each."""
    daemons = {}
    for n, name in enumerate(("one", "two"), start=1):
        ns = lab.ns(f"df{name}")
        d = tmp_path / name
        d.mkdir()
        conf = d / "keepalived.conf"
        conf.write_text(VRRP_ONLY.format(name=name, vrid=10 + n))
        pid = d / "keepalived.pid"
        log = open(d / "log", "w")
        lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-P", "-f", str(conf), "-p", str(pid),
                  "-r", str(d / "vrrp.pid"), "-c", str(d / "checkers.pid"), stdout=log, stderr=subprocess.STDOUT,
                  env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
        daemons[name] = (pid, d)
    for name, (pid, d) in daemons.items():
        sock = str(pid).removesuffix(".pid") + ".sock"
        # The socket and the pid file appear one after the other: wait for both.
        wait_for(lambda: os.path.exists(sock) and pid.exists() and pid.read_text().strip() != "", timeout=30,
                 what=f"{name}'s control socket and pid file ({(d / 'log')})")
        status = request(sock, "status")
        assert status["pid"] == int(pid.read_text())
    for name, (pid, d) in daemons.items():
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        out = subprocess.run([sys.executable, "-m", "lvsfast.daemon.ctl", "-p", str(pid), "status", "--json"],
                             capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        assert status["pid"] == int(pid.read_text()), name
        vrrp = json.dumps(status["children"]["vrrp"])
        mine, other = ("11", "12") if name == "one" else ("12", "11")
        assert f"192.0.2.{mine}" in vrrp and f"192.0.2.{other}" not in vrrp, vrrp


def test_genhash_mode_beside_keepalived():
    ours = run_cli("-T", "-h")  # (keepalived's genhash exits 1 for -h, lvsfast-genhash 0)
    assert "--server" in ours.stdout and "Usage" in run_keepalived("-T", "-h").stderr
    ka = run_keepalived("--genhash", "-s", "127.0.0.1")  # no port: usage, exit 1
    ours = run_cli("--genhash", "-s", "127.0.0.1")
    assert ours.returncode == ka.returncode == 1


def test_dont_respawn_stops_the_daemon_when_a_child_dies(lab, tmp_path):
    ns = lab.ns("dfr")
    conf = tmp_path / "k.conf"
    conf.write_text(VRRP_ONLY.format(name="r", vrid=8))
    pid = tmp_path / "r.pid"
    proc = lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-R", "-P", "-p", str(pid),
                     "-r", str(tmp_path / "r_vrrp.pid"), "-f", str(conf),
                     env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    sock = str(tmp_path / "r.sock")
    wait_for(lambda: os.path.exists(sock) and request(sock, "status")["children"]["vrrp"].get("status"),
             timeout=30, what="the daemon")
    os.kill(request(sock, "status")["children"]["vrrp"]["pid"], signal.SIGKILL)
    proc.wait(30)  # keepalived -R: the parent goes when a child dies
    assert not pid.exists()


def test_all_runs_every_child():
    from lvsfast.daemon.main import wanted_children

    vrrp_only_config = SimpleNamespace(vrrp_instances=("VI_1",), vrrp_sync_groups=(), virtual_servers=())
    assert wanted_children(parse_options([]), vrrp_only_config) == ["vrrp"]
    assert wanted_children(parse_options(["--all"]), vrrp_only_config) == ["vrrp", "checker"]
    assert wanted_children(parse_options(["--all", "-P"]), vrrp_only_config) == ["vrrp"]  # in order, as getopt
