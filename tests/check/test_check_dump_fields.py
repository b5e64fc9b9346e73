"""keepalived_check.data as keepalived 2.2.7 writes it, against a layout derived from its source.

keepalived's checker cannot run on a host without IPVS (it exits at start: "IPVS: Can't
initialize ipvs"), so no side-by-side run is possible here; GOLDEN below was written from
keepalived 2.2.7's dump functions (check_data.c dump_vsg/dump_vs/dump_rs, check_api.c
dump_checker/dump_connection_opts, and each checker's dump function) for CONF, with the
checkers' states a run would leave: 10.0.0.2's HTTP_GET failing, the others passing.
"""
from __future__ import annotations

from test_check_core import Driver

from lvsfast.check.dump_fields import cmd_str, decimal, render_check_data

CONF = """\
virtual_server_group G1 {
    10.1.0.1 80
    10.1.0.5-10 8080
    fwmark 7
}
virtual_server 192.0.2.100 80 {
    delay_loop 10
    lb_algo sh
    sh-port
    lb_kind NAT
    protocol TCP
    persistence_timeout 300
    quorum 2
    hysteresis 1
    quorum_up "/bin/echo up"
    retry 3
    inhibit_on_failure
    sorry_server 10.0.0.9 80
    real_server 10.0.0.1 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.0.0.2 8080 {
        weight 3
        notify_down /bin/true
        HTTP_GET {
            url {
                path /health
                digest 9b3a0c85a887a256d6939da88aabd8cd
                status_code 200
                status_code 301-302
            }
            url {
                path /ready
                regex "ok|fine"
                regex_options caseless
                regex_max_offset 100
            }
            connect_timeout 2
            retry 0
        }
    }
}
virtual_server fwmark 5 {
    delay_loop 3
    lb_algo rr
    lb_kind DR
    real_server 10.0.0.3 {
        weight 4
        MISC_CHECK {
            misc_path "/bin/true x"
            misc_dynamic
        }
    }
}
virtual_server group G1 {
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.4 80 {
        TCP_CHECK {
            bindto 10.0.0.200
            fwmark 9
            warmup 2
        }
    }
}
"""

# keepalived 2.2.7's dump blocks that repeat, filled in per server (check_data.c dump_rs,
# dump_vs for a plain virtual server, check_api.c dump_checker and dump_connection_opts).
def _real_server(rip: str, rport: int, weight: int, method: str, delay: str, *, retry: bool = False,
                 inhibit: bool = False, notify_down: str = "", alive: bool = True) -> str:
    return (f"""\
   ------< Real server >------
   RIP = {rip}, RPORT = {rport}, WEIGHT = {weight} EFF WEIGHT = {weight}
   forwarding method = {method}
   Alpha is OFF
   connection timeout = 5.000000
   connection limit range = 0 -> 0
   Delay loop = {delay}
""" + ("   Retry count = 3\n" if retry else "") + f"""\
   Inhibit on failure is {'ON' if inhibit else 'OFF'}
""" + (f"     RS down notify script = '{notify_down}', uid:gid 0:0\n" if notify_down else "") + f"""\
   Using smtp notification = yes
   initial weight = {weight}
   effective weight = {weight}
   previous effective_weight = 0
   alive = {int(alive)}
   num failed checkers = {int(not alive)}
   RS set = 1
   reloaded = 0
""")


def _plain_vs(head: str, delay: str, sched: str, protocol: str, method: str) -> str:
    return f"""\
 ------< Virtual server >------
 VS {head}
   Address family = inet
   connection timeout = 5.000000
   delay_loop = {delay}
   lvs_sched = {sched}
   Hashed = disabled
   flag-1 = disabled
   flag-2 = disabled
   flag-3 = disabled
   One packet scheduling = disabled
   protocol = {protocol}
   alpha is OFF
   omega is OFF
   Inhibit on failure is OFF
   quorum = 1, hysteresis = 0
   Using smtp notification = no
   default forwarding method = {method}
   alive = 1
   quorum_state_up = 1
   reloaded = 0
"""


def _checker(head: str, kind: str, delay_us: int, retries: int, default_retry_us: int, *,
             warmup_us: int | None = None, retry_us: int | None = None, dest: str = "",
             conn: tuple[str, ...] = (), timeout: str = "5.000000", up: bool = True, ran: bool = True) -> str:
    """One checker's common part, from its head line to its "Keepalive method" line; retry_us
    None leaves out the lines keepalived writes only when retries > 0 (or not given)."""
    text = f"""\
 {head}
   Enabled = {'yes' if ran else 'no'}
   Up = {'yes' if up else 'no'}
   Has run = {'yes' if ran else 'no'}
   Current weight = 0
   Alpha = no
   Delay loop = {delay_us} us
   Warmup = {delay_us if warmup_us is None else warmup_us} us
   Retries = {retries}
"""
    if retry_us is not None:
        text += f"   Delay before retry = {retry_us} us\n   Retries iterations = 0\n"
    text += f"   Default delay before retry = {default_retry_us} us\n   Log all failures = no\n"
    if dest:
        text += "   Connection\n" + f"     Dest = {dest}\n" + "".join(f"     {c}\n" for c in conn)
        text += f"     Timeout = {timeout}\n"
    return text + f"   Keepalive method = {kind}\n"


GOLDEN = """\
------< LVS Topology >------
 System is compiled with LVS v1.2.1
 ------< Virtual server group >------
 Virtual Server Group = G1, IPv4 = yes, IPv6 = no
   VIP = 10.1.0.1, VPORT = 80
     Alive: 1 tcp, 0 udp, 0 sctp
     reloaded = False
   VIP Range = 10.1.0.5-10.1.0.10, VPORT = 8080
     Alive: 1 tcp, 0 udp, 0 sctp
     reloaded = False
   FWMARK = 7
     Alive: 1 IPv4, 0 IPv6
     reloaded = False
 ------< Virtual server >------
 VS VIP = 192.0.2.100, VPORT = 80
   Address family = inet
   connection timeout = 5.000000
   delay_loop = 10.000000
   lvs_sched = sh
   Hashed = disabled
   sh-port = enabled
   sh-fallback = disabled
   One packet scheduling = disabled
   persistence timeout = 300
   protocol = TCP
   alpha is OFF
   omega is OFF
   Retry count = 3
   Inhibit on failure is ON
   quorum = 2, hysteresis = 1
   Quorum up notify script = '/usr/bin/echo' 'up', uid:gid 0:0
   Using smtp notification = no
   default forwarding method = NAT
   sorry server = [10.0.0.9]:tcp:80
     forwarding method = NAT
     Inhibit on failure is OFF
   alive = 1
   quorum_state_up = 1
   reloaded = 0
""" + _real_server("10.0.0.1", 80, 2, "NAT", "10.000000", retry=True, inhibit=True) \
    + _real_server("10.0.0.2", 8080, 3, "NAT", "10.000000", retry=True, inhibit=True, notify_down="/usr/bin/true",
                   alive=False) \
    + _plain_vs("FWMARK = 5", "3.000000", "rr", "none", "DR") + _real_server("10.0.0.3", 0, 4, "DR", "3.000000") \
    + _plain_vs("GROUP = [G1]:0", "60.000000", "wrr", "TCP", "NAT") \
    + _real_server("10.0.0.4", 80, 1, "NAT", "60.000000") \
    + "------< Health checkers >------\n" \
    + _checker("[192.0.2.100]:tcp:80 -> [10.0.0.1]:tcp:80", "TCP_CHECK", 10_000_000, 3, 1_000_000, retry_us=1_000_000,
               dest="[10.0.0.1]:80", timeout="1.000000") \
    + _checker("[192.0.2.100]:tcp:80 -> [10.0.0.2]:tcp:8080", "HTTP_GET, http protocol 1.0", 10_000_000, 0, 3_000_000,
               dest="[10.0.0.2]:8080", timeout="2.000000", up=False) + """\
   Enable SNI unset
   Fast recovery unset
   Checked url = /health
     digest = 9b3a0c85a887a256d6939da88aabd8cd
     HTTP Status Code(s)
       200
       301-302
   Checked url = /ready
     HTTP Status Code(s)
       200-299
     Regex = "ok|fine"
     Regex min offset = 0, max_offset = 100
     Regex options: allow_empty_class alt_bsux auto_callout caseless dollar_endonly dotall dupnames extended firstline match_unset_backref multiline never_ucp never_utf no_auto_capture no_auto_possess no_dotstar_anchor no_start_optimize ucp ungreedy utf never_backslash_c alt_circumflex alt_verbnames use_offset_limit
     Regex ref count = 1
""" + _checker("FWM 5 -> [10.0.0.3]:none:0", "MISC_CHECK", 3_000_000, 0, 1_000_000) + """\
   script = '/usr/bin/true' 'x'
   timeout = 3
   dynamic = YES
   uid:gid = 0:0
   Last ran = 0.000000 (Thu Jan  1 00:00:00 1970.000000)
   Last status = 0
""" + _checker("[G1]:0 -> [10.0.0.4]:tcp:80", "TCP_CHECK", 60_000_000, 1, 1_000_000, warmup_us=2_000_000,
               retry_us=1_000_000, dest="[10.0.0.4]:80", conn=("Bind to = [10.0.0.200]:0", "Mark = 9"))


def _dump(text: str, down: tuple[str, ...] = ()) -> str:
    d = Driver(text)
    for address in down:
        d.verdict[address] = False
    d.run_until(1100)
    return render_check_data(d.core, lambda c: c.state.runs)


def test_the_dump_matches_keepalived_layout_line_for_line():
    got = _dump(CONF, down=("10.0.0.2",)).splitlines()
    want = GOLDEN.splitlines()
    for n, (g, w) in enumerate(zip(got, want), 1):
        assert g == w, f"line {n}: {g!r} != {w!r}"
    assert len(got) == len(want)


def test_a_server_coming_back_is_up_and_set_again():
    d = Driver(CONF)
    d.verdict["10.0.0.2"] = False
    d.run_until(1100)
    d.verdict["10.0.0.2"] = True
    d.run_until(1200)
    text = render_check_data(d.core, lambda c: c.state.runs)
    rs = text.split("RIP = 10.0.0.2, RPORT = 8080")[1].split("------<")[0]
    assert "   alive = 1\n   num failed checkers = 0\n   RS set = 1\n" in rs
    chk = text.split("-> [10.0.0.2]:tcp:8080\n")[1]
    assert chk.startswith("   Enabled = yes\n   Up = yes\n   Has run = yes\n")


def test_without_inhibit_a_failed_server_is_not_set_and_the_quorum_falls():
    conf = CONF.replace("    inhibit_on_failure\n", "").replace("    hysteresis 1\n", "")
    text = _dump(conf, down=("10.0.0.1", "10.0.0.2"))
    vs = text.split(" VS VIP = 192.0.2.100, VPORT = 80\n")[1].split("------< Real server")[0]
    assert "   quorum_state_up = 0\n" in vs and "   Inhibit on failure is OFF\n" in vs
    for rs in ("RIP = 10.0.0.1, RPORT = 80", "RIP = 10.0.0.2, RPORT = 8080"):
        block = text.split(rs)[1].split("reloaded")[0]
        assert "   alive = 0\n   num failed checkers = 1\n   RS set = 0\n" in block, rs


def test_no_virtual_server_no_file_content():
    assert _dump("global_defs {\n    router_id x\n}\n") == ""


def test_formats():
    assert decimal(5) == "5.000000" and decimal(0.25) == "0.250000" and decimal(1.000001) == "1.000001"
    assert cmd_str("</dev/tcp/127.0.0.1/80") == "</dev/tcp/127.0.0.1/80"
    assert cmd_str("/no/such/x 'a b'") == "'/no/such/x' 'a b'"


KINDS = """\
vrrp_track_file tf1 {
    file /nonexistent/cdu-tf1
}
virtual_server 2001:db8::1 53 {
    delay_loop 5
    lb_algo mh
    mh-fallback
    protocol UDP
    ops
    persistence_timeout
    persistence_granularity 64
    ha_suspend
    real_server 2001:db8::10 53 {
        DNS_CHECK {
            type A
            name example.com
        }
    }
    real_server 2001:db8::11 53 {
        UDP_CHECK {
            payload 0102
            require_reply 0a0b
        }
        PING_CHECK {
        }
    }
}
virtual_server 192.0.2.1 25 {
    protocol TCP
    lb_kind TUN
    real_server 10.0.0.5 25 {
        SMTP_CHECK {
            helo_name mx.example
        }
        FILE_CHECK {
            track_file tf1
            weight 2
        }
    }
    real_server 10.0.0.6 443 {
        SSL_GET {
            url {
                path /
            }
            enable_sni
            http_protocol 1.1
            virtualhost www.example
        }
    }
}
"""

# The health checkers section keepalived 2.2.7 writes for KINDS (check_dns.c, check_udp.c,
# check_ping.c, check_smtp.c, check_file.c, check_http.c dump functions): the ha_suspend
# virtual server's address is not held here, so its checkers are disabled and have not run.
_V6 = "[2001:db8::1]:udp:53 -> "
KINDS_CHECKERS = "------< Health checkers >------\n" \
    + _checker(_V6 + "[2001:db8::10]:udp:53", "DNS_CHECK", 5_000_000, 3, 0, retry_us=5_000_000,
               dest="[2001:db8::10]:53", ran=False) + "   Type = A\n   Name = example.com\n" \
    + _checker(_V6 + "[2001:db8::11]:udp:53", "UDP_CHECK", 5_000_000, 1, 1_000_000, retry_us=1_000_000,
               dest="[2001:db8::11]:53", ran=False) + """\
   Payload len = 2
   Require reply = yes
     Min reply length = 0
     Max reply length = 255
     Reply data len = 2
     Reply data mask = no
""" + _checker(_V6 + "[2001:db8::11]:udp:53", "PING_CHECK", 5_000_000, 1, 1_000_000, retry_us=1_000_000,
               dest="[2001:db8::11]:53", ran=False) \
    + _checker("[192.0.2.1]:tcp:25 -> [10.0.0.5]:tcp:25", "SMTP_CHECK", 60_000_000, 1, 1_000_000, retry_us=1_000_000,
               dest="[10.0.0.5]:25") + """\
   helo = mx.example
 [192.0.2.1]:tcp:25 -> [10.0.0.5]:tcp:25
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 0
   Log all failures = no
   Keepalive method = FILE_CHECK
     Tracked file = tf1
     Reloaded = No
""" + _checker("[192.0.2.1]:tcp:25 -> [10.0.0.6]:tcp:443", "SSL_GET, http protocol 1.1", 60_000_000, 1, 3_000_000,
               retry_us=3_000_000, dest="[10.0.0.6]:443") + """\
   Virtualhost = www.example
   Enable SNI set
   Fast recovery unset
   Checked url = /
     HTTP Status Code(s)
       200-299
"""


def test_every_checker_kind_as_keepalived_writes_it():
    text = _dump(KINDS)
    assert text[text.index("------< Health checkers >------"):] == KINDS_CHECKERS
    vs = text.split(" VS VIP = 2001:db8::1, VPORT = 53\n")[1].split("------< Real server")[0]
    for line in ("   Address family = inet6", "   mh-port = disabled", "   mh-fallback = enabled",
                 "   One packet scheduling = enabled", "   persistence timeout = 360",
                 "   persistence granularity = 64", "   protocol = UDP", "   Using HA suspend"):
        assert line + "\n" in vs, line
