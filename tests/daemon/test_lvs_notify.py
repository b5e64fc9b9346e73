"""keepalived 2.2.7's checker lines on notify_fifo / lvs_notify_fifo, and the parent's FIFO plan
(which FIFO gets which lines and which reader script, by keepalived's rules)."""
from __future__ import annotations

from lvsfast.daemon.lvs_notify import rs_line, split_real_name, vs_line
from lvsfast.config import loads
from lvsfast.config.model import VirtualServer
from lvsfast.daemon.fifos import plan_fifos


def test_real_and_virtual_server_lines_are_keepalived_s():
    vs = VirtualServer(address="10.0.0.100", port=80, protocol="TCP")
    assert rs_line(vs, "10.0.0.11", 80, False) == "RS [10.0.0.11]:tcp:80 [10.0.0.100]:tcp:80 DOWN\n"
    assert rs_line(vs, "10.0.0.11", 80, True) == "RS [10.0.0.11]:tcp:80 [10.0.0.100]:tcp:80 UP\n"
    assert vs_line(vs, True) == "VS [10.0.0.100]:tcp:80 UP\n"
    assert vs_line(vs, False) == "VS [10.0.0.100]:tcp:80 DOWN\n"


def test_other_families_protocols_fwmark_and_groups():
    v6 = VirtualServer(address="2001:db8::1", port=53, protocol="UDP", family=6)
    assert rs_line(v6, "2001:db8::11", 53, False) == "RS [2001:db8::11]:udp:53 [2001:db8::1]:udp:53 DOWN\n"
    sctp = VirtualServer(address="10.0.0.1", port=3868, protocol="SCTP")
    assert vs_line(sctp, True) == "VS [10.0.0.1]:sctp:3868 UP\n"
    fwm = VirtualServer(fwmark=7)
    assert vs_line(fwm, False) == "VS FWM 7 DOWN\n"
    assert rs_line(fwm, "10.0.0.11", None, True) == "RS [10.0.0.11]:tcp:0 FWM 7 UP\n"
    grp = VirtualServer(group="web", port=80)
    assert vs_line(grp, True) == "VS [web]:0 UP\n"


def test_the_checker_s_real_server_names_split_back():
    assert split_real_name("10.0.0.11:80") == ("10.0.0.11", 80)
    assert split_real_name("[2001:db8::11]:53") == ("2001:db8::11", 53)


def _g(body: str):
    return loads("global_defs {\n" + body + "\n}\n").global_defs


def test_fifo_plan_follows_keepalived_s_rules():
    g = _g("notify_fifo /run/a\nnotify_fifo_script /bin/cat\nlvs_notify_fifo /run/b\nvrrp_notify_fifo /run/c")
    plans = {p.path: p for p in plan_fifos(g)}
    assert set(plans) == {"/run/a", "/run/b", "/run/c"}
    assert plans["/run/a"].lvs and plans["/run/b"].lvs and not plans["/run/c"].lvs
    assert plans["/run/a"].script.command == "/bin/cat"
    # lvs_notify_fifo = notify_fifo: ignored (the lines would come twice).
    g = _g("notify_fifo /run/a\nlvs_notify_fifo /run/a\nlvs_notify_fifo_script /bin/true")
    [only] = plan_fifos(g)
    assert only.path == "/run/a" and only.lvs and only.script is None
    # One FIFO for LVS and VRRP with two scripts: the VRRP one runs.
    g = _g("vrrp_notify_fifo /run/x\nvrrp_notify_fifo_script /bin/cat\nlvs_notify_fifo /run/x\n"
           "lvs_notify_fifo_script /bin/true")
    [only] = plan_fifos(g)
    assert only.script.command == "/bin/cat" and only.lvs


def test_startup_and_shutdown_scripts_and_their_timeouts_parse():
    g = _g("startup_script /bin/true\nshutdown_script \"/bin/echo bye\"\nshutdown_script_timeout 3")
    assert g.startup_script.command == "/bin/true" and g.startup_script_timeout == 10.0
    assert g.shutdown_script.command == "/bin/echo bye" and g.shutdown_script_timeout == 3.0
    cfg = loads("global_defs {\nstartup_script_timeout 0\n}\n")
    assert cfg.global_defs.startup_script_timeout == 10.0
    assert any("must be in [1, 1000]" in str(w) for w in cfg.warnings)
