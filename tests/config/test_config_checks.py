"""One broken configuration per check, each asserting the exact file, line and severity."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lvsfast.config import ConfigError, analyse, load

VI = """\
vrrp_instance {name} {{
    interface {iface}
    virtual_router_id {vrid}
    priority {prio}
    virtual_ipaddress {{
        {vip}
    }}
}}
"""


def vi(name="VI_1", iface="eth0", vrid="51", prio="100", vip="10.0.0.1/24") -> str:
    return VI.format(name=name, iface=iface, vrid=vrid, prio=prio, vip=vip)


def vs(body: str, head: str = "10.0.0.1 80", rs: str = "10.0.1.1 80", rs_body: str = "weight 1") -> str:
    return textwrap.dedent(f"""\
        virtual_server {head} {{
            lb_algo rr
            lb_kind NAT
            protocol TCP
        {textwrap.indent(body, '    ')}
            real_server {rs} {{
                {rs_body}
            }}
        }}
        """)


# (id, config text, line, severity, words that must appear in the message)
CASES = [
    ("sched-slice-short", "global_defs {\n    router_id a\n    vrrp_sched_slice 50\n}\n", 3, "error",
     "vrrp_sched_slice 50 is below the kernel's 100 us"),
    ("checker-priority", "global_defs {\n    checker_priority 40\n}\n", 2, "error", "checker_priority 40 is outside -20..19"),
    ("rt-priority-max", "global_defs {\n    router_id a\n    vrrp_rt_priority 200\n}\n", 3, "error",
     "setting to maximum"),
    ("vrid-0", vi(vrid="0"), 3, "error", "outside range [1, 255]"),
    ("vrid-256", vi(vrid="256"), 3, "error", "outside range [1, 255]"),
    ("vrid-missing", vi().replace("    virtual_router_id 51\n", ""), 1, "error", "virtual router id must be set"),
    ("priority-0", vi(prio="0"), 4, "error", "'0' outside range [1, 255]"),
    ("priority-256", vi(prio="256"), 4, "error", "outside range [1, 255]"),
    ("priority-text", vi(prio="high"), 4, "error", "'high' is not a number"),
    ("vip-bad-address", vi(vip="10.0.0.300"), 6, "error", "10.0.0.300"),
    ("vip-bad-prefix", vi(vip="10.0.0.1/33"), 6, "error", "prefix len 33"),
    ("vip-bad-v6", vi(vip="2001:db8::g/64"), 6, "error", "2001:db8::g"),
    ("vip-bad-scope", vi(vip="10.0.0.1/24 scope galaxy"), 6, "error", "scope 'galaxy'"),
    ("duplicate-instance", vi() + vi(vrid="52", vip="10.0.0.2"), 9, "error", "VI_1 already defined at"),
    ("vrid-reused", vi() + vi(name="VI_2", vip="10.0.0.2"), 9, "error", "both use VRID 51"),
    ("track-interface-weight", vi().replace("    priority 100\n", "    priority 100\n    track_interface {\n"
                                            "        eth1 weight 300\n    }\n"), 6, "error", "between [-253..253]"),
    ("track-script-weight", vi().replace("    priority 100\n", "    priority 100\n    track_script {\n"
                                         "        chk weight -254\n    }\n"), 6, "error", "between [-253..253]"),
    ("script-weight", 'vrrp_script chk {\n    script "/bin/true"\n    weight 254\n}\n', 3, "error",
     "outside range [-253, 253]"),
    ("advert-int-0", vi().replace("    priority 100\n", "    priority 100\n    advert_int 0\n"), 5, "error",
     "outside range"),
    ("state", vi().replace("    priority 100\n", "    priority 100\n    state LEADER\n"), 5, "error", "LEADER"),
    ("auth-type", vi().replace("    priority 100\n", "    priority 100\n    authentication {\n"
                               "        auth_type MD5\n    }\n"), 6, "error", "MD5"),
    ("unicast-peer", vi().replace("    priority 100\n", "    priority 100\n    unicast_peer {\n"
                                  "        10.0.0.999\n    }\n"), 6, "error", "10.0.0.999"),
    ("vip-family-mix", vi().replace("        10.0.0.1/24\n", "        10.0.0.1/24\n        2001:db8::1/64\n"),
     7, "error", "IPv6 but the instance is IPv4"),
    ("unknown-keyword", vi().replace("    priority 100\n", "    priority 100\n    frobnicate 7\n"), 5, "warning",
     "unknown keyword 'frobnicate'"),
    ("unknown-top-level", "vrrp_instanse VI_1 {\n}\n", 1, "warning", "unknown keyword 'vrrp_instanse'"),
    ("no-vip", vi().replace("    virtual_ipaddress {\n        10.0.0.1/24\n    }\n", ""), 1, "warning", "no VIP"),
    ("track-script-missing", vi().replace("    priority 100\n", "    priority 100\n    track_script {\n"
                                          "        nosuch\n    }\n"), 6, "warning", "track script nosuch not found"),
    ("sync-group-weight",
     'vrrp_script chk {\n    script "/bin/true"\n    weight 10\n}\n'
     "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
     + vi().replace("    priority 100\n", "    priority 100\n    track_script {\n        chk\n    }\n")
     + vi(name="VI_2", vrid="52", vip="10.0.0.2"),
     16, "warning", "ignoring tracked script chk with weights due to SYNC group"),
    ("sync-group-unknown-member", "vrrp_sync_group G {\n    group {\n        VI_9\n    }\n}\n" + vi(), 1,
     "warning", "VI_9 specified in sync group G doesn't exist"),
    ("rs-weight-negative", vs("", rs_body="weight -1"), 7, "error", "weight -1"),
    ("rs-weight-text", vs("", rs_body="weight heavy"), 7, "error", "'heavy' is not a number"),
    ("thresholds", vs("", rs_body="uthreshold 10\n        lthreshold 20"), 8, "warning",
     "lthreshold 20 is above uthreshold 10"),
    ("threshold-negative", vs("", rs_body="uthreshold -5"), 7, "error", "outside range"),
    ("scheduler", vs("").replace("lb_algo rr", "lb_algo fastest"), 2, "error", "invalid lvs_scheduler 'fastest'"),
    ("lb-kind", vs("").replace("lb_kind NAT", "lb_kind BRIDGE"), 3, "error", "[BRIDGE] routing method"),
    ("protocol", vs("").replace("protocol TCP", "protocol ICMP"), 4, "error", "unknown protocol ICMP"),
    ("vs-port", vs("", head="10.0.0.1 70000"), 1, "error", "port '70000' outside range"),
    ("vs-address", vs("", head="10.0.0.256 80"), 1, "error", "10.0.0.256"),
    ("rs-port", vs("", rs="10.0.1.1 65536"), 6, "error", "port '65536' outside range"),
    ("rs-address", vs("", rs="10.0.1 80"), 6, "error", "10.0.1"),
    ("status-code-700", vs("", rs_body="HTTP_GET {\n            url {\n                path /\n"
                           "                status_code 200 700\n            }\n        }"), 10, "error",
     "invalid HTTP status code '700'"),
    ("status-code-99", vs("", rs_body="HTTP_GET {\n            url {\n                path /\n"
                          "                status_code 99\n            }\n        }"), 10, "error", "'99'"),
    ("status-code-range", vs("", rs_body="HTTP_GET {\n            url {\n                path /\n"
                             "                status_code 300-200\n            }\n        }"), 10, "error",
     "'300-200'"),
    ("digest", vs("", rs_body="HTTP_GET {\n            url {\n                path /\n"
                  "                digest xyz\n            }\n        }"), 10, "error", "digest 'xyz'"),
    ("http-no-url", vs("", rs_body="HTTP_GET {\n            connect_timeout 3\n        }"), 9, "error",
     "HTTP_GET (line 7) has no url with a path"),
    ("connect-port", vs("", rs_body="TCP_CHECK {\n            connect_port 99999\n        }"), 8, "error",
     "port '99999'"),
    ("connect-ip", vs("", rs_body="TCP_CHECK {\n            connect_ip 1.2.3\n        }"), 8, "error", "1.2.3"),
    ("duplicate-vs", vs("") + vs(""), 10, "error", "already defined"),
    ("unknown-group", vs("", head="group nosuch"), 1, "error", "group nosuch does not exist"),
    ("lvs-backend-value", "global_defs {\n    lvs_backend xdp\n}\n", 2, "error", "lvs_backend 'xdp'"),
    ("drift-repair-value", "global_defs {\n    drift_repair sometimes\n}\n", 2, "error", "'sometimes'"),
    ("sync-role-value", "global_defs {\n    lvs_sync_daemon eth0 VI_1 role leader\n}\n", 2, "error",
     "lvs_sync_daemon role 'leader'"),
    ("sync-no-instance", "global_defs {\n    lvs_sync_daemon eth0 id 5 role vrrp\n}\n", 2, "error",
     "only 'role both' runs without one"),
    ("drain-timeout", vs("drain_timeout -1"), 5, "error", "outside range"),
    ("nft-scheduler", "global_defs {\n    lvs_backend nftables\n}\n" + vs("").replace("lb_algo rr", "lb_algo lc"),
     4, "error", "scheduler lc needs the IPVS backend (lvs_backend ipvs)"),
    ("nft-lb-kind", "global_defs {\n    lvs_backend nftables\n}\n" + vs("").replace("lb_kind NAT", "lb_kind TUN"),
     4, "error", "lb_kind TUN needs the IPVS backend (lvs_backend ipvs)"),
    ("nft-dr-persistence", "global_defs {\n    lvs_backend nftables\n}\n"
     + vs("persistence_timeout 60").replace("lb_kind NAT", "lb_kind DR"), 8, "error", "persistence with lb_kind DR"),
    ("announce-delay", "global_defs {\n    announce_withdraw_delay 61\n}\n", 2, "error", "outside range"),
    ("checker-probers-0", "global_defs {\n    checker_probers 0\n}\n", 2, "error", "outside range"),
    ("checker-probers-word", "global_defs {\n    checker_probers many\n}\n", 2, "error", "'many' is not a number"),
    ("nft-rs-lb-kind", "global_defs {\n    lvs_backend nftables\n}\n" + vs("", rs_body="lvs_method TUN"),
     9, "error", "lb_kind TUN needs the IPVS backend"),
    ("extra-brace", vi() + "}\n", 9, "error", "extra '}'"),
    ("unclosed-brace-eof", vi()[:-2], 1, "error", "block 'vrrp_instance VI_1' is never closed"),
    ("unclosed-inner-brace", "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n"
                             "    virtual_ipaddress {\n        10.0.0.1\n\n}\n", 4, "error",
     "block 'virtual_ipaddress' is never closed"),
    ("no-interface", vi().replace("    interface eth0\n", ""), 1, "error", "no interface"),
    ("quorum", vs("quorum 5"), 5, "warning", "quorum 5 exceeds the total weight of its real servers (1)"),
    ("hysteresis", vs("hysteresis 3"), 5, "warning", "hysteresis 3 >= quorum 1"),
    ("ops-tcp", vs("ops"), 5, "warning", "requires UDP"),
    ("sh-port-rr", vs("sh-port"), 5, "warning", "sh-port only applies to the sh scheduler"),
    ("missing-open-brace", vs("").replace("real_server 10.0.1.1 80 {", "real_server 10.0.1.1 80"), 6, "error",
     "missing '{' at the beginning of the real_server block"),
    ("block-extra-parameters", "static_rules on {\n    from 10.1.0.0/16 table 1 preference 10\n}\n", 1,
     "warning", "block static_rules has extra parameters on"),
    ("missing-parameter", vi().replace("priority 100", "priority"), 4, "error", "'priority' is missing its parameter"),
    ("seq-step-0", "~SEQ(X, 1, 0, 5) foo\n", 1, "error", "step is 0"),
]


@pytest.mark.parametrize("text,line,severity,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_config_check_reports_exact_line(tmp_path: Path, text, line, severity, words):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    a = analyse(str(conf), "node")
    hits = [d for d in a.diagnostics if d.file == str(conf) and d.line == line and d.severity == severity
            and words in d.message]
    assert hits, "expected %s at line %d containing %r; got:\n%s" % (
        severity, line, words, "\n".join(map(str, a.diagnostics)))
    if severity == "error":
        with pytest.raises(ConfigError) as exc:
            load(str(conf), "node")
        assert any(d.line == line for d in exc.value.diagnostics)
        assert f"{conf}:{line}: error: " in str(exc.value)


def test_config_vrid_same_on_other_interface_or_family_is_fine(tmp_path: Path):
    conf = tmp_path / "k.conf"
    conf.write_text(vi() + vi(name="VI_2", iface="eth1", vip="10.0.0.2") + vi(name="VI_3", vip="2001:db8::1/64"))
    a = analyse(str(conf), "node")
    assert not [d for d in a.diagnostics if "VRID" in d.message], a.diagnostics


def test_config_error_in_included_file_names_that_file(tmp_path: Path):
    (tmp_path / "conf.d").mkdir()
    inc = tmp_path / "conf.d" / "vi.conf"
    inc.write_text("\n\n" + vi(prio="300"))
    main = tmp_path / "keepalived.conf"
    main.write_text("include conf.d/*.conf\n")
    a = analyse(str(main), "node")
    assert [(d.file, d.line, d.severity) for d in a.errors] == [(str(inc), 6, "error")], a.diagnostics


def test_config_diagnostic_format(tmp_path: Path):
    conf = tmp_path / "k.conf"
    conf.write_text(vi(prio="0"))
    (d,) = analyse(str(conf), "node").errors
    assert str(d) == f"{conf}:4: error: number '0' outside range [1, 255]"


def test_config_nftables_backend_accepts_its_schedulers(tmp_path: Path):
    conf = tmp_path / "k.conf"
    body = "global_defs {\n    lvs_backend nftables\n}\n"
    for algo in ("rr", "wrr", "sh", "dh", "mh", "random"):
        body += vs("").replace("lb_algo rr", f"lb_algo {algo}").replace("10.0.0.1 80", f"10.0.0.1 {8000 + len(body)}")
    conf.write_text(body)
    assert not analyse(str(conf), "node").diagnostics


def test_config_cli_backend_override_applies_limits(tmp_path: Path):
    conf = tmp_path / "k.conf"
    conf.write_text(vs("").replace("lb_algo rr", "lb_algo wlc"))
    assert not analyse(str(conf), "node").diagnostics
    a = analyse(str(conf), "node", lvs_backend="nftables")
    assert [d.line for d in a.errors] == [1]
    assert "lvs_backend ipvs" in a.errors[0].message
