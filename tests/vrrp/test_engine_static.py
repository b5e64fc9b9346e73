"""static_ipaddress/routes/rules and the fields of virtual_routes/rules, against the kernel and
against keepalived 2.2.7 given the same configuration in a namespace of its own.

What `ip addr`, `ip route show table all` and `ip rule` show after start must be what keepalived
leaves on the same configuration (proto included: both mark their routes and rules
``proto keepalived``, 18); a static address deleted by hand comes back; a reload removing lines
removes only those; a stop leaves the namespace as it found it.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from lvsfast.lab.netns import Lab, Namespace, wait_for
from lvsfast.vrrp.route_spec import route_request, rule_request
from lvsfast.config.model import VirtualRoute, VirtualRule
from support.requires import need_binary, need_root

STATIC = """\
static_ipaddress {
    192.168.50.1/24 dev eth0 scope global
    192.168.51.1/32 dev lo
    2001:db8:5::1/64 dev eth0
    192.168.54.1/24 dev eth0 brd + label eth0:st
    192.168.55.1 dev eth0 peer 192.168.55.2
    192.168.56.1/24 dev eth0 scope link noprefixroute
    2001:db8:8::1/128 dev eth0
    2001:db8:9::1/64 dev eth0 home preferred_lft forever
}
static_routes {
    192.168.60.0/24 via 10.0.0.254 dev eth0 table 100 metric 5
    blackhole 192.168.61.0/24
    192.168.62.0/24 dev eth0 src 10.0.0.1 scope link
    192.168.63.0/24 table 200 nexthop via 10.0.0.253 dev eth0 weight 1 nexthop via 10.0.0.254 dev eth0 weight 2
    2001:db8:6::/64 via 2001:db8::254 dev eth0 table 100 metric 20
}
static_rules {
    from 192.168.50.0/24 table 100 priority 100
    to 192.168.70.0/24 table 200 priority 101 fwmark 5/0xff
    to 2001:db8:7::/64 table 100 priority 102
    from 192.168.52.0/24 table 100
}
"""

INSTANCE = """\
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 200
    advert_int 1
    virtual_ipaddress {
        10.0.0.100/24
    }
    virtual_routes {
        192.168.80.0/24 via 10.0.0.254 dev eth0 table 300 metric 7 src 10.0.0.100
        unreachable 192.168.81.0/24 table 300
        prohibit 192.168.84.0/24 table 300 metric 3
        192.168.82.0/24 dev eth0 scope link mtu 1400 advmss 1300 initcwnd 10 tos 0x10
        192.168.83.0/24 nexthop via 10.0.0.253 dev eth0 weight 3 nexthop via 10.0.0.254 dev eth0 onlink
        192.168.85.0/24 via 10.0.0.254 dev eth0 table 300 protocol bird
        192.168.86.0/24 via 10.0.0.254 dev eth0 table 300 protocol bird no_track
        2001:db8:1::/64 via 2001:db8::254 dev eth0 metric 10
        2001:db8:3::/64 nexthop via 2001:db8::253 dev eth0 nexthop via 2001:db8::254 dev eth0
        0.0.0.0/0 gw 10.0.0.254 table 400
        default via 10.0.0.253 table 401 dev eth0
        192.168.87.0/24 via 10.0.0.254 or 10.0.0.253 dev eth0 table 300
    }
    virtual_rules {
        from 10.0.0.100 table 300 priority 200
        to 192.168.90.0/24 table 300 priority 201 iif eth0 tos 0x10
        from 192.168.91.0/24 priority 198 goto 200
        from all fwmark 7 priority 203 blackhole
        from 192.168.92.0/24 oif eth0 table 300 priority 205 suppress_prefixlength 0
        to 2001:db8:2::/64 table 300 priority 204
        to 192.168.93.0/24 table 300
    }
}
"""


def _lab() -> Lab:
    need_root()
    need_binary("ip")
    return Lab(prefix="vst" + uuid.uuid4().hex[:5])


def _router(lab: Lab, name: str) -> Namespace:
    ns = lab.ns(name)
    ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    ns.link_set("eth0", True)
    ns.link_set("eth1", True)
    ns.ip("addr", "add", "10.0.0.1/24", "dev", "eth0")
    ns.ip("-6", "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad")
    return ns


def _lines(text: str) -> list[str]:
    """One line per route (a multipath route's nexthops joined to it), without what depends on
    the namespace's MACs (link-local addresses) or on timers (lifetimes)."""
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith(("\t", " ")) and out and "nexthop" in line:
            out[-1] += " " + line.strip()
        elif line.strip() and "fe80" not in line and "lft" not in line:
            out.append(" ".join(line.split()))
    return out


def snapshot(ns: Namespace) -> dict[str, list[str]]:
    addrs = [" ".join(line.split("\\")[0].split()[1:]) for line in ns.ip("-o", "addr", "show").stdout.splitlines()
             if "fe80" not in line]
    return {"addr": sorted(addrs),
            "route": sorted(_lines(ns.ip("route", "show", "table", "all").stdout)),
            "route6": sorted(_lines(ns.ip("-6", "route", "show", "table", "all").stdout)),
            "rule": _lines(ns.ip("rule").stdout),
            "rule6": _lines(ns.ip("-6", "rule").stdout)}


def _spawn_lvsfast(lab: Lab, ns: Namespace, conf: Path, work: Path, name: str, *flags: str) -> subprocess.Popen:
    return lab.spawn(ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", *(flags or ("-P",)), "-f", str(conf),
                     "--control-socket", str(work / f"{name}.sock"), "-p", str(work / f"{name}.pid"),
                     "-r", str(work / f"{name}_vrrp.pid"), "-c", str(work / f"{name}_chk.pid"),
                     stdout=open(work / f"{name}.log", "a"), stderr=subprocess.STDOUT)


def _spawn_keepalived(lab: Lab, ns: Namespace, conf: Path, work: Path, name: str) -> subprocess.Popen:
    need_binary("keepalived")
    return lab.spawn(ns, "/usr/sbin/keepalived", "-n", "-l", "-D", "-P", "-f", str(conf),
                     "-p", str(work / f"{name}.pid"), "-r", str(work / f"{name}_v.pid"),
                     "-c", str(work / f"{name}_c.pid"), stdout=open(work / f"{name}.log", "a"),
                     stderr=subprocess.STDOUT)


def _installed(ns: Namespace) -> bool:
    s = snapshot(ns)
    return (any("10.0.0.100/24" in a for a in s["addr"]) and any(r.startswith("205:") for r in s["rule"])
            and any("192.168.83.0/24" in r for r in s["route"]) and any("2001:db8:2::/64" in r for r in s["rule6"])
            and any("192.168.50.1/24" in a for a in s["addr"]))


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def test_requests_read_every_documented_field():
    """The line's fields reach the request (the pure half, no kernel)."""
    r, ignored = route_request(VirtualRoute("192.168.200.0/24", 4, options=tuple(
        "192.168.200.0/24 dev eth0 table 6909 tos 0x04 protocol bird scope link priority 12 mtu 1000 "
        "hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh lock 107 "
        "realms 3/20 rto_min 108 initcwnd 109 initrwnd 110 features ecn quickack 1 congctl cubic "
        "fastopen_no_cookie 1 vrf blue".split())))
    assert (r.table, r.tos, r.protocol, r.scope, r.priority, r.flow) == (6909, 4, 12, 253, 12, (3 << 16) | 20)
    assert dict(r.metrics) == {2: 1000, 10: 100, 8: 101, 4: 102, 5: 103, 9: 104, 3: 105, 7: 106, 6: 107,
                               1: 1 << 6, 13: 108, 11: 109, 14: 110, 12: 1, 15: 1, 16: "cubic", 17: 1}
    assert ignored == [] and r.vrf == "blue"  # the VRF's table, looked up when the route is sent
    r, _ = route_request(VirtualRoute("192.168.113.0/24", 4, options=tuple(
        "192.168.113.0/24 via 192.168.200.254 or 192.168.100.254 dev eth1".split())))
    assert [(n.gateway, n.dev) for n in r.multipath] == [("192.168.200.254", "eth1"), ("192.168.100.254", "eth1")]
    r, _ = route_request(VirtualRoute("2001:470:69e9:1:2::4/128", 6, options=tuple(
        "2001:470:69e9:1:2::4 dev p33p1.2 table 6909 pref high expires 30 append".split())))
    assert (r.dst_len, r.pref, r.expires, r.append, r.scope) == (128, 1, 30, True, 0)
    q, _ = rule_request(VirtualRule(options=tuple(
        "to 1:2:3:4:6:6:7:0/112 from 8:6:5:4:3:2::/96 l3mdev protocol 12 ipproto UDP sport 10-20 dport 20-30 "
        "uidrange 10000-19999 not".split())))
    assert (q.l3mdev, q.protocol, q.ip_proto, q.sport, q.dport, q.uid_range, q.flags, q.src_len) == \
        (True, 12, 17, (10, 20), (20, 30), (10000, 19999), 2, 96)
    q, _ = rule_request(VirtualRule(options=tuple(
        # The manual's example has "table small" too, which keepalived 2.2.7 refuses beside goto.
        "from 192.168.28.0/24 to 192.168.29.0/26 iif p33p1 oif wlan0 tos 22 fwmark 24/12 "
        "preference 39 realms 30/20 goto 40".split())))
    assert (q.table, q.tos, q.fwmark, q.fwmask, q.priority, q.flow, q.goto, q.action) == \
        (0, 0x22, 24, 12, 39, (30 << 16) | 20, 40, 2)


def test_same_routes_rules_and_addresses_as_keepalived(tmp_path):
    conf = tmp_path / "r.conf"
    conf.write_text("global_defs {\n    router_id vst\n}\n" + STATIC + INSTANCE)
    with _lab() as lab:
        ka_ns, lf_ns = _router(lab, "ka"), _router(lab, "lf")
        before = snapshot(lf_ns)
        assert snapshot(ka_ns) == before
        ka = _spawn_keepalived(lab, ka_ns, conf, tmp_path, "ka")
        lf = _spawn_lvsfast(lab, lf_ns, conf, tmp_path, "lf")
        wait_for(lambda: _installed(ka_ns), timeout=20, what="keepalived's routes and rules")
        wait_for(lambda: _installed(lf_ns), timeout=20, what="lvsfast's routes and rules")
        time.sleep(0.5)
        theirs, ours = snapshot(ka_ns), snapshot(lf_ns)
        # keepalived 2.2.7 sends "via A or B" as a request the kernel refuses (EINVAL) and installs
        # nothing; lvsfast installs what the manual describes, a route over both gateways.
        either = ("192.168.87.0/24 table 300 proto keepalived nexthop via 10.0.0.254 dev eth0 weight 1 "
                  "nexthop via 10.0.0.253 dev eth0 weight 1")
        assert either in ours["route"] and not any("192.168.87.0" in r for r in theirs["route"])
        ours["route"].remove(either)
        for key in theirs:
            assert ours[key] == theirs[key], f"{key} differs:\nkeepalived {theirs[key]}\nlvsfast    {ours[key]}"
        # A tracked route keeps keepalived's protocol whatever the line says (keepalived resets it).
        assert "192.168.85.0/24 via 10.0.0.254 dev eth0 table 300 proto keepalived" in ours["route"]
        assert "192.168.86.0/24 via 10.0.0.254 dev eth0 table 300 proto bird" in ours["route"]
        assert "100: from 192.168.50.0/24 lookup 100 proto keepalived" in ours["rule"]
        # Rules without a preference get keepalived's own, 16384 down, in the order they appear.
        assert "16384: from 192.168.52.0/24 lookup 100 proto keepalived" in ours["rule"]
        assert "16383: from all to 192.168.93.0/24 lookup 300 proto keepalived" in ours["rule"]
        _stop(ka)
        _stop(lf)
        assert snapshot(lf_ns) == before, (tmp_path / "lf.log").read_text()[-3000:]
        # keepalived 2.2.7 leaves a static address with a peer behind (its delete names the
        # wrong address); everything else it removes, as lvsfast does.
        left = snapshot(ka_ns)
        assert {k: sorted(set(v) - set(before[k])) for k, v in left.items()} == {
            "addr": ["eth0 inet 192.168.55.1 peer 192.168.55.2/32 scope global eth0"],
            "route": ["192.168.55.2 dev eth0 proto kernel scope link src 192.168.55.1",
                      "local 192.168.55.1 dev eth0 table local proto kernel scope host src 192.168.55.1"],
            "route6": [], "rule": [], "rule6": []}


def test_static_set_is_kept_and_reloaded_by_difference(tmp_path):
    conf = tmp_path / "r.conf"
    conf.write_text("global_defs {\n    router_id vst\n}\n" + STATIC + INSTANCE)
    with _lab() as lab:
        ns = _router(lab, "lf")
        before = snapshot(ns)
        lf = _spawn_lvsfast(lab, ns, conf, tmp_path, "lf")
        wait_for(lambda: _installed(ns), timeout=20, what="lvsfast's routes and rules")
        full = snapshot(ns)
        assert "192.168.51.1/32" in " ".join(full["addr"])

        # Deleted by hand: back at once (the deletion's notification), not at the next full pass.
        ns.ip("addr", "del", "192.168.51.1/32", "dev", "lo")
        wait_for(lambda: "192.168.51.1/32" in " ".join(snapshot(ns)["addr"]), timeout=3,
                 what="the static address put back")
        # A static rule deleted by hand comes back at once. A no_track virtual route stays deleted
        # (keepalived reinstates it at the next mastership only); a tracked one sends the instance
        # to BACKUP and back (keepalived 2.2.7, as for a VIP), which puts every route back.
        ns.ip("rule", "del", "pref", "101")
        ns.ip("route", "del", "192.168.86.0/24", "table", "300")
        wait_for(lambda: any(r.startswith("101:") for r in snapshot(ns)["rule"]), timeout=3,
                 what="the static rule put back")
        time.sleep(1)
        assert not any("192.168.86.0/24" in r for r in snapshot(ns)["route"])
        ns.ip("route", "del", "192.168.80.0/24", "table", "300")
        wait_for(lambda: all(any(p in r for r in snapshot(ns)["route"])
                             for p in ("192.168.80.0/24", "192.168.86.0/24")), timeout=12, what="the virtual routes put back by the instance's return to MASTER")
        time.sleep(0.5)
        assert snapshot(ns) == full

        # Reload without one static address, one static route and one static rule.
        trimmed = (STATIC.replace("    192.168.51.1/32 dev lo\n", "")
                   .replace("    blackhole 192.168.61.0/24\n", "")
                   .replace("    to 192.168.70.0/24 table 200 priority 101 fwmark 5/0xff\n", ""))
        conf.write_text("global_defs {\n    router_id vst\n}\n" + trimmed + INSTANCE)
        lf.send_signal(signal.SIGHUP)
        wait_for(lambda: not any("192.168.61.0/24" in r for r in snapshot(ns)["route"]), timeout=15,
                 what="the dropped static route removed")
        time.sleep(0.5)
        after = snapshot(ns)
        gone = {k: sorted(set(full[k]) - set(after[k])) for k in full}
        new = {k: sorted(set(after[k]) - set(full[k])) for k in full}
        assert gone == {"addr": ["lo inet 192.168.51.1/32 scope global lo"], "route": [
            "blackhole 192.168.61.0/24 proto keepalived",
            "local 192.168.51.1 dev lo table local proto kernel scope host src 192.168.51.1"],
            "route6": [], "rule": ["101: from all to 192.168.70.0/24 fwmark 0x5/0xff lookup 200 proto keepalived"],
            "rule6": []}, gone
        assert new == {k: [] for k in full}, new

        # Stop: everything it added goes, nothing else.
        _stop(lf)
        assert snapshot(ns) == before, (tmp_path / "lf.log").read_text()[-3000:]


def test_static_blocks_alone_run_the_vrrp_process(tmp_path):
    """No vrrp_instance, no -P: as keepalived, the static set alone starts the VRRP process;
    --dont-release-vrrp does not keep it at stop (keepalived removes it all the same)."""
    conf = tmp_path / "r.conf"
    conf.write_text("global_defs {\n    router_id vst\n}\n" + STATIC)
    with _lab() as lab:
        ns = _router(lab, "lf")
        before = snapshot(ns)
        lf = _spawn_lvsfast(lab, ns, conf, tmp_path, "lf", "-X")
        wait_for(lambda: any(r.startswith("16384:") for r in snapshot(ns)["rule"]), timeout=20,
                 what="the static set")
        s = snapshot(ns)
        assert "eth0 inet 192.168.50.1/24 scope global eth0" in s["addr"] and "blackhole 192.168.61.0/24 proto keepalived" in s["route"]
        _stop(lf)
        assert snapshot(ns) == before, (tmp_path / "lf.log").read_text()[-3000:]


STALE = r'''
import asyncio, json, subprocess
from lvsfast.config.model import VirtualRoute, VirtualRule
from lvsfast.vrrp.addresses import AddressManager

lines = ["192.168.80.0/24 via 10.0.0.254 dev eth0 table 300 metric 7", "blackhole 192.168.81.0/24 table 300"]
routes = tuple(VirtualRoute("x", 4, options=tuple(l.split())) for l in lines)
rules = (VirtualRule(options=tuple("from 10.0.0.100 table 300 priority 200".split())),)
m = AddressManager("eth0", (), routes, rules)
removed = asyncio.run(m.remove_stale())
ip = lambda *a: subprocess.run(["ip", *a], capture_output=True, text=True).stdout
print(json.dumps({"removed": removed, "routes": ip("route", "show", "table", "all"), "rules": ip("rule")}))
'''


def test_a_backup_removes_routes_and_rules_left_by_an_earlier_run(tmp_path):
    """A crash leaves an instance's routes and rules behind; at start a non-master deletes them, as
    keepalived does, but only exact matches (its protocol included): a route of the
    administrator's to the same prefix stays."""
    import json
    with _lab() as lab:
        ns = _router(lab, "st")
        ns.ip("route", "add", "192.168.80.0/24", "via", "10.0.0.254", "dev", "eth0", "table", "300", "metric", "7",
              "proto", "keepalived")
        ns.ip("route", "add", "blackhole", "192.168.81.0/24", "table", "301", "proto", "keepalived")
        ns.ip("route", "add", "192.168.80.0/24", "via", "10.0.0.254", "dev", "eth0", "table", "300", "metric", "8",
              "proto", "static")
        ns.ip("rule", "add", "from", "10.0.0.100", "table", "300", "priority", "200", "proto", "keepalived")
        out = json.loads(ns.run(sys.executable, "-c", STALE).stdout)
    assert out["removed"] == ["rule pref 200 (IPv4)", "route 192.168.80.0/24 (IPv4, table 300)"]
    assert "192.168.80.0/24 via 10.0.0.254 dev eth0 table 300 proto static metric 8" in out["routes"]
    assert "blackhole 192.168.81.0/24 table 301 proto keepalived" in out["routes"]  # another table: not ours
    assert "metric 7" not in out["routes"] and "200:" not in out["rules"]
