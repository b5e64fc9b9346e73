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
   ------< Real server >------
   RIP = 10.0.0.1, RPORT = 80, WEIGHT = 2 EFF WEIGHT = 2
   forwarding method = NAT
   Alpha is OFF
   connection timeout = 5.000000
   connection limit range = 0 -> 0
   Delay loop = 10.000000
   Retry count = 3
   Inhibit on failure is ON
   Using smtp notification = yes
   initial weight = 2
   effective weight = 2
   previous effective_weight = 0
   alive = 1
   num failed checkers = 0
   RS set = 1
   reloaded = 0
   ------< Real server >------
   RIP = 10.0.0.2, RPORT = 8080, WEIGHT = 3 EFF WEIGHT = 3
   forwarding method = NAT
   Alpha is OFF
   connection timeout = 5.000000
   connection limit range = 0 -> 0
   Delay loop = 10.000000
   Retry count = 3
   Inhibit on failure is ON
     RS down notify script = '/usr/bin/true', uid:gid 0:0
   Using smtp notification = yes
   initial weight = 3
   effective weight = 3
   previous effective_weight = 0
   alive = 0
   num failed checkers = 1
   RS set = 1
   reloaded = 0
 ------< Virtual server >------
 VS FWMARK = 5
   Address family = inet
   connection timeout = 5.000000
   delay_loop = 3.000000
   lvs_sched = rr
   Hashed = disabled
   flag-1 = disabled
   flag-2 = disabled
   flag-3 = disabled
   One packet scheduling = disabled
   protocol = none
   alpha is OFF
   omega is OFF
   Inhibit on failure is OFF
   quorum = 1, hysteresis = 0
   Using smtp notification = no
   default forwarding method = DR
   alive = 1
   quorum_state_up = 1
   reloaded = 0
   ------< Real server >------
   RIP = 10.0.0.3, RPORT = 0, WEIGHT = 4 EFF WEIGHT = 4
   forwarding method = DR
   Alpha is OFF
   connection timeout = 5.000000
   connection limit range = 0 -> 0
   Delay loop = 3.000000
   Inhibit on failure is OFF
   Using smtp notification = yes
   initial weight = 4
   effective weight = 4
   previous effective_weight = 0
   alive = 1
   num failed checkers = 0
   RS set = 1
   reloaded = 0
 ------< Virtual server >------
 VS GROUP = [G1]:0
   Address family = inet
   connection timeout = 5.000000
   delay_loop = 60.000000
   lvs_sched = wrr
   Hashed = disabled
   flag-1 = disabled
   flag-2 = disabled
   flag-3 = disabled
   One packet scheduling = disabled
   protocol = TCP
   alpha is OFF
   omega is OFF
   Inhibit on failure is OFF
   quorum = 1, hysteresis = 0
   Using smtp notification = no
   default forwarding method = NAT
   alive = 1
   quorum_state_up = 1
   reloaded = 0
   ------< Real server >------
   RIP = 10.0.0.4, RPORT = 80, WEIGHT = 1 EFF WEIGHT = 1
   forwarding method = NAT
   Alpha is OFF
   connection timeout = 5.000000
   connection limit range = 0 -> 0
   Delay loop = 60.000000
   Inhibit on failure is OFF
   Using smtp notification = yes
   initial weight = 1
   effective weight = 1
   previous effective_weight = 0
   alive = 1
   num failed checkers = 0
   RS set = 1
   reloaded = 0
------< Health checkers >------
 [192.0.2.100]:tcp:80 -> [10.0.0.1]:tcp:80
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 10000000 us
   Warmup = 10000000 us
   Retries = 3
   Delay before retry = 1000000 us
   Retries iterations = 0
   Default delay before retry = 1000000 us
   Log all failures = no
   Connection
     Dest = [10.0.0.1]:80
     Timeout = 1.000000
   Keepalive method = TCP_CHECK
 [192.0.2.100]:tcp:80 -> [10.0.0.2]:tcp:8080
   Enabled = yes
   Up = no
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 10000000 us
   Warmup = 10000000 us
   Retries = 0
   Default delay before retry = 3000000 us
   Log all failures = no
   Connection
     Dest = [10.0.0.2]:8080
     Timeout = 2.000000
   Keepalive method = HTTP_GET, http protocol 1.0
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
 FWM 5 -> [10.0.0.3]:none:0
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 3000000 us
   Warmup = 3000000 us
   Retries = 0
   Default delay before retry = 1000000 us
   Log all failures = no
   Keepalive method = MISC_CHECK
   script = '/usr/bin/true' 'x'
   timeout = 3
   dynamic = YES
   uid:gid = 0:0
   Last ran = 0.000000 (Thu Jan  1 00:00:00 1970.000000)
   Last status = 0
 [G1]:0 -> [10.0.0.4]:tcp:80
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 60000000 us
   Warmup = 2000000 us
   Retries = 1
   Delay before retry = 1000000 us
   Retries iterations = 0
   Default delay before retry = 1000000 us
   Log all failures = no
   Connection
     Dest = [10.0.0.4]:80
     Bind to = [10.0.0.200]:0
     Mark = 9
     Timeout = 5.000000
   Keepalive method = TCP_CHECK
"""


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
KINDS_CHECKERS = """\
------< Health checkers >------
 [2001:db8::1]:udp:53 -> [2001:db8::10]:udp:53
   Enabled = no
   Up = yes
   Has run = no
   Current weight = 0
   Alpha = no
   Delay loop = 5000000 us
   Warmup = 5000000 us
   Retries = 3
   Delay before retry = 5000000 us
   Retries iterations = 0
   Default delay before retry = 0 us
   Log all failures = no
   Connection
     Dest = [2001:db8::10]:53
     Timeout = 5.000000
   Keepalive method = DNS_CHECK
   Type = A
   Name = example.com
 [2001:db8::1]:udp:53 -> [2001:db8::11]:udp:53
   Enabled = no
   Up = yes
   Has run = no
   Current weight = 0
   Alpha = no
   Delay loop = 5000000 us
   Warmup = 5000000 us
   Retries = 1
   Delay before retry = 1000000 us
   Retries iterations = 0
   Default delay before retry = 1000000 us
   Log all failures = no
   Connection
     Dest = [2001:db8::11]:53
     Timeout = 5.000000
   Keepalive method = UDP_CHECK
   Payload len = 2
   Require reply = yes
     Min reply length = 0
     Max reply length = 255
     Reply data len = 2
     Reply data mask = no
 [2001:db8::1]:udp:53 -> [2001:db8::11]:udp:53
   Enabled = no
   Up = yes
   Has run = no
   Current weight = 0
   Alpha = no
   Delay loop = 5000000 us
   Warmup = 5000000 us
   Retries = 1
   Delay before retry = 1000000 us
   Retries iterations = 0
   Default delay before retry = 1000000 us
   Log all failures = no
   Connection
     Dest = [2001:db8::11]:53
     Timeout = 5.000000
   Keepalive method = PING_CHECK
 [192.0.2.1]:tcp:25 -> [10.0.0.5]:tcp:25
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 60000000 us
   Warmup = 60000000 us
   Retries = 1
   Delay before retry = 1000000 us
   Retries iterations = 0
   Default delay before retry = 1000000 us
   Log all failures = no
   Connection
     Dest = [10.0.0.5]:25
     Timeout = 5.000000
   Keepalive method = SMTP_CHECK
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
 [192.0.2.1]:tcp:25 -> [10.0.0.6]:tcp:443
   Enabled = yes
   Up = yes
   Has run = yes
   Current weight = 0
   Alpha = no
   Delay loop = 60000000 us
   Warmup = 60000000 us
   Retries = 1
   Delay before retry = 3000000 us
   Retries iterations = 0
   Default delay before retry = 3000000 us
   Log all failures = no
   Connection
     Dest = [10.0.0.6]:443
     Timeout = 5.000000
   Keepalive method = SSL_GET, http protocol 1.1
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
