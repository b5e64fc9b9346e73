"""The ``lvsfast`` command line: keepalived's flags, -t exit statuses, -v, -h, -d."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lvsfast.cli import DEFAULT_CONFIG, EXIT_CONFIG_TEST, EXIT_CONFIG_TEST_SECURITY, Options, main, parse_options
from lvsfast.lab.netns import Lab
from support.config import interfaces_namespace, lvsfast_test
from support.requires import need_binary, need_root

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keepalived.conf"

CLEAN = """\
vrrp_instance VI_1 {
    state BACKUP
    interface lo
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1/24
    }
}
virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.1 80 {
        TCP_CHECK {
            connect_timeout 2
        }
    }
}
"""


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lvsfast.cli", *args], capture_output=True, text=True, timeout=60)


def test_config_cli_options_defaults_and_flags():
    o = parse_options([])
    assert o == Options() and o.use_file == DEFAULT_CONFIG and not o.config_test
    o = parse_options(["-f", "x.conf", "-n", "-l", "-D", "-P", "-p", "a.pid", "-r", "v.pid", "-c", "c.pid", "-d",
                       "-i", "lb1", "--lvs-backend", "nftables", "--control-socket", "/tmp/s.sock", "-t"])
    assert (o.use_file, o.dont_fork, o.log_console, o.log_detail, o.vrrp_only, o.pid, o.vrrp_pid, o.checkers_pid,
            o.dump_conf, o.config_id, o.lvs_backend, o.control_socket, o.config_test) == \
        ("x.conf", True, True, True, True, "a.pid", "v.pid", "c.pid", True, "lb1", "nftables", "/tmp/s.sock", True)
    o = parse_options(["--use-file=y.conf", "--check", "--config-test=/tmp/log", "--dont-fork", "--log-console",
                       "--log-detail", "--pid=p", "--vrrp_pid=v", "--checkers_pid=c", "--dump-conf", "--config-id=x"])
    assert (o.use_file, o.check_only, o.config_test, o.config_test_log, o.pid, o.vrrp_pid, o.checkers_pid) == \
        ("y.conf", True, True, "/tmp/log", "p", "v", "c")


def test_config_cli_version_and_help():
    p = run_cli("-v")
    assert p.returncode == 0 and p.stdout.startswith("lvsfast 0.")
    p = run_cli("--version")
    assert p.returncode == 0 and "lvsfast" in p.stdout
    p = run_cli("-h")
    assert p.returncode == 0
    for flag in ("--use-file", "--config-test", "--dont-fork", "--log-console", "--log-detail", "--vrrp", "--check",
                 "--pid", "--vrrp_pid", "--checkers_pid", "--dump-conf", "--version", "--help", "--config-id",
                 "--lvs-backend", "--control-socket"):
        assert flag in p.stdout, flag
    assert main(["--no-such-flag"]) == 1  # keepalived: "Unknown option --no-such-flag", exit 1


def test_config_cli_t_clean_is_0(tmp_path: Path, capsys):
    conf = tmp_path / "k.conf"
    conf.write_text(CLEAN)
    assert main(["-t", "-f", str(conf)]) == 0
    err = capsys.readouterr().err
    assert "configuration is valid" in err


def test_config_cli_t_errors_and_warnings_are_5(tmp_path: Path, capsys):
    conf = tmp_path / "k.conf"
    conf.write_text(CLEAN.replace("priority 100", "priority 300"))
    assert main(["-t", "-f", str(conf)]) == EXIT_CONFIG_TEST
    assert f"{conf}:5: error: number '300' outside range [1, 255]" in capsys.readouterr().err
    conf.write_text(CLEAN.replace("priority 100", "priority 100\n    colour blue"))
    assert main(["-t", "-f", str(conf)]) == EXIT_CONFIG_TEST
    assert f"{conf}:6: warning: unknown keyword 'colour'" in capsys.readouterr().err
    assert main(["-t", "-f", str(tmp_path / "missing.conf")]) == EXIT_CONFIG_TEST


def test_config_cli_t_missing_interface_is_5(tmp_path: Path, capsys):
    conf = tmp_path / "k.conf"
    conf.write_text(CLEAN.replace("interface lo", "interface nosuch0"))
    assert main(["-t", "-f", str(conf)]) == EXIT_CONFIG_TEST
    assert f"{conf}:3: error: interface nosuch0 for vrrp_instance VI_1 doesn't exist" in capsys.readouterr().err


def test_config_cli_t_script_security_is_6(tmp_path: Path, capsys):
    if os.geteuid() != 0:
        pytest.skip("script security applies to scripts run as root")
    conf = tmp_path / "k.conf"
    conf.write_text(CLEAN.replace("priority 100", 'priority 100\n    notify_master "/bin/true master"'))
    assert main(["-t", "-f", str(conf)]) == EXIT_CONFIG_TEST_SECURITY
    assert f"{conf}:6: error: SECURITY VIOLATION" in capsys.readouterr().err
    conf.write_text("global_defs {\n    enable_script_security\n    script_user root\n}\n" +
                    CLEAN.replace("priority 100", 'priority 100\n    notify_master "/bin/true master"'))
    assert main(["-t", "-f", str(conf)]) == 0


def test_config_cli_t_log_file_and_config_id(tmp_path: Path):
    conf = tmp_path / "k.conf"
    conf.write_text(CLEAN.replace("priority 100", "@bad priority 0\n@^bad priority 10"))
    log = tmp_path / "t.log"
    assert main(["-t", "-f", str(conf), "-i", "good"]) == 0
    assert main([f"--config-test={log}", "-f", str(conf), "-i", "bad"]) == EXIT_CONFIG_TEST
    assert f"{conf}:5: error:" in log.read_text()


def test_config_cli_backend_flag(tmp_path: Path, capsys):
    conf = tmp_path / "k.conf"
    conf.write_text(CLEAN.replace("lb_algo rr", "lb_algo lc"))
    assert main(["-t", "-f", str(conf)]) == 0
    assert main(["-t", "-f", str(conf), "--lvs-backend", "nftables"]) == EXIT_CONFIG_TEST
    assert "scheduler lc needs the IPVS backend (lvs_backend ipvs)" in capsys.readouterr().err


def test_config_cli_dump(tmp_path: Path, capsys):
    conf = tmp_path / "k.conf"
    conf.write_text(CLEAN)
    assert main(["-t", "-d", "-f", str(conf)]) == 0
    model = json.loads(capsys.readouterr().out)
    (vi,) = model["vrrp_instances"]
    assert (vi["name"], vi["virtual_router_id"], vi["priority"]) == ("VI_1", 51, 100)
    assert model["virtual_servers"][0]["real_servers"][0]["checkers"][0]["kind"] == "TCP_CHECK"


@pytest.fixture(scope="module")
def lab_ns():
    need_root()
    need_binary("ip")
    with Lab() as lab:
        yield interfaces_namespace(lab, "cli", ("eth0", "eth1"))


def test_config_cli_example_passes_in_lab_interfaces(lab_ns):
    r = lvsfast_test(lab_ns, EXAMPLE)
    assert r.returncode == 0, r.output
    r = lvsfast_test(lab_ns, EXAMPLE, "-i", "lvs2", "-d")
    assert r.returncode == 0, r.output
    model = json.loads(r.output[r.output.index("{"):r.output.rindex("}") + 1])
    assert model["vrrp_instances"][0]["priority"] == 100
    assert [rs["address"] for rs in model["virtual_servers"][0]["real_servers"]] == \
        ["10.10.0.11", "10.10.0.12", "10.10.0.13"]
