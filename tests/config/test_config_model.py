"""The model: keepalived's defaults, resolved checker timings, immutability, equality for reloads."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lvsfast.config import load, loads
from lvsfast.config import model as m

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keepalived.conf"

MINIMAL = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.1/24 dev eth0 label eth0:vip scope global
    }
}
virtual_server 192.0.2.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.1 80 {
        HTTP_GET {
            url {
                path /
            }
        }
        DNS_CHECK {
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/check.sh arg"
        }
        TCP_CHECK {
            delay_loop 7
        }
    }
}
"""


def test_config_defaults_are_keepalived_defaults():
    cfg = loads(MINIMAL, config_id="x")
    g = cfg.global_defs
    assert (g.vrrp_version, g.vrrp_garp_master_delay, g.vrrp_garp_master_repeat, g.vrrp_garp_master_refresh,
            g.vrrp_garp_master_refresh_repeat, g.garp_lower_prio_delay, g.garp_lower_prio_repeat,
            g.vrrp_mcast_group4, g.vrrp_mcast_group6, g.vrrp_strict, g.enable_script_security,
            g.lvs_backend, g.drift_repair, g.smtp_connect_timeout) == \
        (2, 5.0, 5, 0.0, 1, 5.0, 5, "224.0.0.18", "ff02::12", False, False, "auto", True, 30.0)
    (vi,) = cfg.vrrp_instances
    assert (vi.priority, vi.advert_int, vi.state, vi.nopreempt, vi.preempt_delay, vi.version, vi.accept,
            vi.family) == (100, 1.0, None, False, 0.0, None, None, 4)
    a = vi.virtual_ipaddress[0]
    assert (a.cidr, a.dev, a.label, a.scope, a.family) == ("192.0.2.1/24", "eth0", "eth0:vip", "global", 4)
    (vs,) = cfg.virtual_servers
    assert (vs.delay_loop, vs.quorum, vs.hysteresis, vs.persistence_timeout, vs.drain_timeout,
            vs.forwarding.kind, vs.name) == (60.0, 1, 0, None, 60.0, "NAT", "192.0.2.1:TCP:80")
    (rs,) = vs.real_servers
    assert (rs.weight, rs.uthreshold, rs.lthreshold, rs.inhibit_on_failure, rs.drain_timeout) == (1, 0, 0, False, 60.0)
    http, dns, misc, tcp = rs.checkers
    assert isinstance(http, m.HttpCheck) and http.kind == "HTTP_GET" and not http.tls
    assert (http.connect_timeout, http.retry, http.delay_before_retry, http.delay_loop, http.warmup) == \
        (5.0, 1, 3.0, 60.0, 60.0)
    assert http.urls[0].status_code == (m.StatusRange(200, 299),) and http.urls[0].status_ok(204)
    assert not http.urls[0].status_ok(301) and http.http_protocol == "1.0"
    assert (dns.type, dns.name, dns.retry, dns.delay_before_retry) == ("SOA", ".", 3, 60.0)
    assert (misc.retry, misc.misc_path.command, misc.misc_timeout) == (0, "/usr/local/bin/check.sh arg", None)
    assert (tcp.delay_loop, tcp.warmup, tcp.delay_before_retry) == (7.0, 7.0, 1.0)


def test_config_checker_inherits_from_real_and_virtual_server():
    cfg = loads(MINIMAL.replace("    protocol TCP\n", "    protocol TCP\n    connect_timeout 9\n    retry 4\n"
                                "    delay_loop 11\n    virtualhost vs.example\n")
                .replace("    real_server 10.0.0.1 80 {\n", "    real_server 10.0.0.1 80 {\n        retry 2\n"
                         "        drain_timeout 0\n        weight 5\n"), config_id="x")
    rs = cfg.virtual_servers[0].real_servers[0]
    http = rs.checkers[0]
    assert (http.connect_timeout, http.retry, http.delay_loop, http.virtualhost) == (9.0, 2, 11.0, "vs.example")
    assert (rs.drain_timeout, rs.weight) == (0.0, 5)


def test_config_model_is_frozen_and_hashable():
    cfg = loads(MINIMAL, config_id="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.vrrp_instances[0].priority = 1  # type: ignore[misc]
    assert len({cfg.virtual_servers[0], cfg.virtual_servers[0]}) == 1
    assert hash(cfg.vrrp_instances[0]) == hash(dataclasses.replace(cfg.vrrp_instances[0]))


def test_config_equality_ignores_positions():
    text = EXAMPLE.read_text()
    a = loads(text, config_id="x")
    b = loads("\n\n! moved down\n" + text, config_id="x")
    assert a.virtual_servers == b.virtual_servers and a.vrrp_instances == b.vrrp_instances
    assert a.virtual_servers[0].line + 3 == b.virtual_servers[0].line
    c = loads(text.replace("weight 1", "weight 2"), config_id="x")
    assert c.virtual_servers != a.virtual_servers and c.vrrp_instances == a.vrrp_instances


def test_config_positions_and_keyword_lines(tmp_path: Path):
    conf = tmp_path / "k.conf"
    conf.write_text(MINIMAL)
    cfg = load(str(conf), "x")
    vi = cfg.vrrp_instances[0]
    assert (vi.file, vi.line, vi.line_of("interface"), vi.line_of("virtual_router_id")) == (str(conf), 1, 2, 3)
    assert vi.virtual_ipaddress[0].line == 5
    rs = cfg.virtual_servers[0].real_servers[0]
    assert (rs.line, rs.checkers[0].line, rs.checkers[0].urls[0].line) == (12, 13, 14)


def test_config_example_model():
    cfg = load(str(EXAMPLE), "lvs1")
    (vi,) = cfg.vrrp_instances
    assert (vi.priority, vi.interface, vi.virtual_router_id) == (150, "eth0", 51)
    assert [a.cidr for a in vi.virtual_ipaddress] == ["192.0.2.100/24", "10.10.0.1/24"]
    (vs,) = cfg.virtual_servers
    assert (vs.address, vs.port, vs.protocol, vs.lb_algo, vs.forwarding.kind) == ("192.0.2.100", 80, "TCP", "rr", "NAT")
    assert [(r.address, r.port, r.checkers[0].urls[0].path) for r in vs.real_servers] == \
        [(f"10.10.0.{n}", 80, "/healthz") for n in (11, 12, 13)]
    assert cfg.global_defs.router_id == "lvs1" and cfg.global_defs.enable_script_security
    assert load(str(EXAMPLE), "lvs2").vrrp_instances[0].priority == 100


def test_config_lvs_kitchen_sink_model():
    cfg = load(str(Path(__file__).parent / "data" / "kitchen_lvs.conf"), "x")
    assert cfg.ssl == m.SslConfig("secret", "/etc/ssl/certs/ca-certificates.crt",
                                  "/nonexistent/lvsfast-test/cert.pem", "/nonexistent/lvsfast-test/key.pem")
    (g,) = cfg.virtual_server_groups
    assert [(e.address, e.last, e.port, e.fwmark) for e in g.entries] == [
        ("192.168.200.1", None, 80, None), ("192.168.200.2", "192.168.200.10", 80, None),
        ("192.168.202.8", "192.168.202.15", 80, None), (None, None, None, 7)]
    vs = cfg.virtual_servers[1]
    assert (vs.lb_algo, vs.sched_flags, vs.forwarding.kind, vs.persistence_timeout, vs.quorum, vs.hysteresis) == \
        ("sh", ("sh-port", "sh-fallback"), "DR", 600, 2, 1)
    assert vs.sorry_server == m.SorryServer("10.0.1.1".replace("1.1", "2.1"), 443, 4, m.ForwardingMethod("DR"), True)
    ssl = vs.real_servers[0].checkers[0]
    assert ssl.kind == "SSL_GET" and ssl.tls and ssl.enable_sni and ssl.http_protocol == "1.1"
    assert ssl.urls[0].status_code == (m.StatusRange(200, 299), m.StatusRange(301, 301), m.StatusRange(302, 302))
    assert ssl.urls[0].digest == "9b3a0c85a887a256d6939da88aabd8cd" and ssl.urls[1].regex == "^OK"
    udp = cfg.virtual_servers[2].real_servers[0].checkers[0]
    assert udp.payload == bytes.fromhex("ab120f034506546443120 3".replace(" ", ""))
    assert (udp.require_reply, udp.min_reply_length, udp.max_reply_length) == (b"\x01\x02", 2, 512)
    tun = cfg.virtual_servers[2].forwarding
    assert (tun.kind, tun.tun_type, tun.tun_port, tun.tun_csum) == ("TUN", "gue", 6080, "nocsum")


def test_config_model_pickles_for_the_daemon_channel():
    import pickle

    cfg = load(str(Path(__file__).parent / "data" / "kitchen_lvs.conf"), "x")
    back = pickle.loads(pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == cfg and back.virtual_servers[1].real_servers[0].checkers[0].line == cfg.virtual_servers[1].real_servers[0].checkers[0].line


def test_every_model_object_pickles_whole_including_where_it_was_written():
    # The reduce by fields must keep what equality ignores (file, line, keyword_lines) too,
    # and cover every class in the model: a class it missed would fall back to dataclasses'
    # slow state functions, or fail.
    import dataclasses
    import pickle

    from lvsfast.config import model

    data = Path(__file__).parent / "data"
    samples = sorted(data.glob("*.conf")) + sorted(Path("/usr/share/doc/keepalived/samples").glob("keepalived.conf.*"))
    seen: set[type] = set()
    for path in samples:
        cfg = loads_or_none(path)
        if cfg is None:
            continue
        back = pickle.loads(pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL))
        assert dataclasses.astuple(back) == dataclasses.astuple(cfg), path
        stack = [cfg]
        while stack:
            o = stack.pop()
            if dataclasses.is_dataclass(o):
                seen.add(type(o))
                stack.extend(getattr(o, f.name) for f in dataclasses.fields(o))
            elif isinstance(o, tuple):
                stack.extend(o)
    for cls in seen:
        if cls.__module__ == model.__name__:
            assert cls.__reduce__ is not object.__reduce__, cls
    assert {model.RealServer, model.VirtualServer, model.VrrpInstance, model.TcpCheck} <= seen


def loads_or_none(path: Path):
    from lvsfast.config import ConfigError

    try:
        return load(str(path), "x")
    except ConfigError:
        return None


def test_lvs_sync_daemon_role_both_needs_no_instance():
    from lvsfast.config import loads

    both = loads("global_defs {\n    lvs_sync_daemon eth1 role both id 27 ttl 2\n}\n").global_defs.lvs_sync_daemon
    assert (both.interface, both.vrrp_instance, both.role, both.sync_id, both.ttl) == ("eth1", None, "both", 27, 2)
    kept = loads("global_defs {\n    lvs_sync_daemon eth1 VI_1 id 5\n}\n").global_defs.lvs_sync_daemon
    assert (kept.vrrp_instance, kept.role) == ("VI_1", "vrrp")
