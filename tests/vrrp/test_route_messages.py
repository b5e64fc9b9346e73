"""Route and rule requests as our encoder writes them, read back by pyroute2's own parsers (the
kernel-facing behaviour is in test_engine_static.py, against keepalived)."""
from __future__ import annotations

import socket

import pytest
from pyroute2.netlink.rtnl.fibmsg import fibmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from lvsfast.config.model import VirtualRoute, VirtualRule
from lvsfast.vrrp.route_spec import RULE_START_PRIORITY, default_preferences, route_request, rule_request
from lvsfast.vrrp.rtnl import RTM_DELROUTE, RTM_NEWROUTE, RTM_NEWRULE, route_message, rule_message


def _route(line: str):
    return route_request(VirtualRoute("x", 6 if ":" in line else 4, options=tuple(line.split())))[0]


def _rule(line: str):
    return rule_request(VirtualRule(options=tuple(line.split())))[0]


def _decoded(cls, data: bytes):
    m = cls(data)
    m.decode()
    return m


def test_multipath_route_with_metrics_reads_back():
    r = _route("192.168.63.0/24 table 300 src 10.0.0.1 mtu lock 1400 congctl cubic "
               "nexthop via 10.0.0.253 dev lo weight 2 nexthop via 10.0.0.254 dev lo onlink")
    m = _decoded(rtmsg, route_message(True, 5, r, lambda dev: 7))
    assert m["header"]["type"] == RTM_NEWROUTE and m["header"]["flags"] & 0x200  # exclusive: a repair never doubles
    assert (m["family"], m["dst_len"], m["proto"], m["table"], m.get_attr("RTA_TABLE")) == (socket.AF_INET, 24, 18, 0, 300)
    assert m.get_attr("RTA_DST") == "192.168.63.0" and m.get_attr("RTA_PREFSRC") == "10.0.0.1"
    metrics = dict(m.get_attr("RTA_METRICS")["attrs"])
    assert metrics == {"RTAX_LOCK": 1 << 2, "RTAX_MTU": 1400, "RTAX_CC_ALGO": "cubic"}
    hops = [(h.get_attr("RTA_GATEWAY"), h["oif"], h["hops"], h["flags"]) for h in m.get_attr("RTA_MULTIPATH")]
    assert hops == [("10.0.0.253", 7, 1, 0), ("10.0.0.254", 7, 0, 4)]


def test_typed_and_ipv6_routes_read_back():
    m = _decoded(rtmsg, route_message(False, 1, _route("unreachable 192.168.81.0/24 table 30 metric 4"), lambda d: 1))
    assert m["header"]["type"] == RTM_DELROUTE
    assert (m["type"], m["table"], m.get_attr("RTA_PRIORITY"), m["scope"]) == (7, 30, 4, 0)
    m = _decoded(rtmsg, route_message(True, 1, _route("2001:db8:1::/64 via 2001:db8::254 dev eth0 pref high"),
                                      lambda d: 3))
    assert (m["family"], m.get_attr("RTA_GATEWAY"), m.get_attr("RTA_OIF"), m.get_attr("RTA_PREF")) == \
        (socket.AF_INET6, "2001:db8::254", 3, 1)
    assert _route("192.168.62.0/24 dev eth0").scope == 253  # no gateway: link scope, as iproute2 and keepalived
    assert _route("default via 10.0.0.1").dst is None


def test_rule_reads_back():
    q = _rule("from 10.0.0.0/8 to 192.168.0.0/16 table 300 priority 7 fwmark 5/0xff iif lo oif eth0 "
              "sport 1-2 uidrange 5-6 suppress_prefixlength 0 not")
    m = _decoded(fibmsg, rule_message(True, 6, q))
    assert m["header"]["type"] == RTM_NEWRULE
    assert (m["src_len"], m["dst_len"], m["action"], m["flags"], m["table"]) == (8, 16, 1, 2, 0)
    got = dict(m["attrs"])
    assert got["FRA_TABLE"] == 300 and got["FRA_PRIORITY"] == 7 and got["FRA_PROTOCOL"] == 18
    assert (got["FRA_FWMARK"], got["FRA_FWMASK"], got["FRA_IIFNAME"], got["FRA_OIFNAME"]) == (5, 255, "lo", "eth0")
    assert got["FRA_SUPPRESS_PREFIXLEN"] == 0 and got["FRA_SRC"] == "10.0.0.0"
    assert (_rule("from all fwmark 7 blackhole").action, _rule("to 10.0.0.0/8 lookup main").table) == (6, 254)
    assert _rule("from 10.0.0.0/8 preference 5 type unreachable").action == 7


@pytest.mark.parametrize("line", [
    "to 10.0.0.0/8",  # keepalived 2.2.7: "No action specified for rule - ignoring"
    "to 10.0.0.0/8 table 5 blackhole", "to 10.0.0.0/8 table 5 l3mdev", "to 10.0.0.0/8 l3mdev table 5",
    "to 10.0.0.0/8 goto 9", "to 10.0.0.0/8 preference 10 goto 9", "to 10.0.0.0/8 table 0",
    "to 10.0.0.0/8 table 5 pref 3",  # pref is iproute2's, not keepalived's
])
def test_bad_rule_lines_are_refused(line):
    with pytest.raises(ValueError):
        _rule(line)


def test_append_and_vrf_are_keepalived_s():
    r = _route("192.168.1.0/24 dev eth0 append vrf blue")
    assert (r.append, r.vrf) == (True, "blue")


@pytest.mark.parametrize("line", ["192.168.1.0/24 via 2001:db8::1", "192.168.1.0/24 frobnicate 3",
                                  "192.168.1.0/24 dev eth0 proto 4",  # keepalived 2.2.7 knows "protocol" only
                                  "192.168.1.0/24 nexthop via 10.0.0.1 weight 0", "192.168.1.0/24 table nosuchtable"])
def test_bad_route_lines_are_refused(line):
    with pytest.raises(ValueError):
        _route(line)


def test_rules_without_preference_count_down_from_keepalived_start():
    from lvsfast.config import loads
    cfg = loads("static_rules {\n from 10.1.0.0/16 table 5\n to 2001:db8::/64 table 5\n from 10.2.0.0/16 table 5 preference 9\n"
                " from 10.3.0.0/16 table 5\n}\n")
    prefs = default_preferences(cfg)
    assert sorted(prefs.values()) == [RULE_START_PRIORITY - 1, RULE_START_PRIORITY, RULE_START_PRIORITY]
