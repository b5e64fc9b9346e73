"""Scale-out (#27): the keywords, the announcer's choices, and its addresses in a real namespace;
lb_kind DR on nftables written to a real kernel and read back."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from lvsfast.config import loads
from lvsfast.dataplane import announce
from lvsfast.dataplane.from_config import full_table
from lvsfast.nft import render
from support.netns import lab  # noqa: F401  (fixture)

CONF = """
global_defs {
    lvs_backend nftables
    announce_interface lo
    announce_withdraw_delay 0.5
}
virtual_server 192.0.2.100 80 {
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
    announce_route
    real_server 10.1.0.21 80 { weight 1 }
    real_server 10.1.0.22 80 { weight 1 }
}
virtual_server 192.0.2.100 443 {
    lb_algo mh
    lb_kind DR
    protocol TCP
    announce_route
    real_server 10.1.0.21 443 { weight 1 }
}
virtual_server 192.0.2.200 80 {
    lb_algo mh
    lb_kind DR
    protocol TCP
    real_server 10.1.0.21 80 { weight 1 }
}
"""


class Q:
    def __init__(self, up: bool | None) -> None:
        self.up = up


def test_keywords_reach_the_model():
    cfg = loads(CONF)
    assert cfg.global_defs.announce_interface == "lo"
    assert cfg.global_defs.announce_withdraw_delay == 0.5
    assert [vs.announce_route for vs in cfg.virtual_servers] == [True, True, False]
    assert announce.configured(cfg)


def test_an_address_is_announced_while_any_of_its_virtual_servers_holds_quorum():
    cfg = loads(CONF)
    names = [vs.name for vs in cfg.virtual_servers]
    assert announce.wanted(cfg, {n: Q(True) for n in names}) == {"192.0.2.100"}  # 200 does not announce
    assert announce.wanted(cfg, {names[0]: Q(False), names[1]: Q(True)}) == {"192.0.2.100"}
    assert announce.wanted(cfg, {names[0]: Q(False), names[1]: Q(False)}) == set()
    assert announce.wanted(cfg, {names[0]: Q(None)}) == set()


def test_dr_renders_stateless_direct_routing():
    cfg = loads(CONF)
    table = full_table(cfg)
    text = render.transaction(type(table)({}, {}), table, exists=False)
    assert "add chain ip lvsfast dr { type filter hook prerouting priority raw ; policy accept ; }" in text
    assert "192.0.2.100 . tcp . 80 : jump" in text and "add element ip lvsfast dr_services" in text
    assert "notrack dup to jhash ip saddr . tcp sport mod 4093 seed 0x4c56 map @s_tcp_192_0_2_100_80_m" in text
    assert ": ip daddr ;" in text  # the slot map holds addresses only: the packet keeps its port


NS_SCRIPT = textwrap.dedent('''
    import json, subprocess
    from lvsfast.dataplane.announce import Announcer
    def on_lo():
        out = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
        return sorted(l.split()[3] for l in out.splitlines() if "192.0.2." in l)
    seen = []
    a = Announcer("lo", 0)
    a.sync({"192.0.2.100", "192.0.2.101"}); seen.append(on_lo())
    a.sync({"192.0.2.101"}); seen.append(on_lo())
    # A restarted lvsfast: the address left behind is claimed, rewritten when wanted, removed when not.
    b = Announcer("lo", 0)
    b.claim({"192.0.2.101", "192.0.2.102"})
    subprocess.run(["ip", "addr", "add", "192.0.2.102/32", "dev", "lo"], check=True)
    b.sync({"192.0.2.101"}); seen.append(on_lo())
    seen.append(sorted(b.withdraw({"192.0.2.101"}))); seen.append(on_lo())
    seen.append(b.errors)
    print(json.dumps(seen))
''')


def test_announcer_puts_and_takes_host_addresses_on_the_interface(lab):
    ns = lab.ns("ann")
    out = ns.run(sys.executable, "-c", NS_SCRIPT).stdout
    seen = json.loads(out)
    assert seen == [["192.0.2.100/32", "192.0.2.101/32"], ["192.0.2.101/32"], ["192.0.2.101/32"],
                    ["192.0.2.101"], [], 0]


BACKEND_SCRIPT = textwrap.dedent('''
    import asyncio, json, sys
    from lvsfast.config import loads
    from lvsfast.dataplane.from_config import full_table
    from lvsfast.nft.backend import NftBackend
    cfg = loads(sys.stdin.read())
    want = full_table(cfg)
    async def go():
        b = NftBackend()
        await b.apply(want)
        got = await NftBackend().read()
        fwd = {str(k): (got.services[k].forward, sorted({d.forward for d in got.dests[k].values()}))
               for k in got.services}
        same = {str(k): dict(got.dests[k]) == dict(want.dests[k]) for k in want.services}
        # Again from what the kernel holds: nothing to do.
        ops = await NftBackend().apply(want)
        return {"fwd": fwd, "same": same, "ops": len(ops)}
    print(json.dumps(asyncio.run(go())))
''')


def test_dr_table_reads_back_from_the_kernel(lab):
    ns = lab.ns("dr")
    out = json.loads(ns.run(sys.executable, "-c", BACKEND_SCRIPT, input=CONF).stdout)
    assert out["fwd"] == {"TCP 192.0.2.100:80": ["dr", ["dr"]], "TCP 192.0.2.100:443": ["dr", ["dr"]],
                          "TCP 192.0.2.200:80": ["dr", ["dr"]]}
    assert all(out["same"].values())
    assert out["ops"] == 0


HOLD_SCRIPT = textwrap.dedent('''
    import asyncio, json, subprocess, sys
    from lvsfast.config import loads
    from lvsfast.dataplane.announce import Announcer
    conf = sys.stdin.read()
    def on_lo():
        out = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
        return sorted(l.split()[3] for l in out.splitlines() if "192.0.2." in l)
    class Q:
        up = True
    async def go():
        seen = []
        old = loads(conf)
        new = loads(conf.replace("announce_route", ""))
        quorum = {vs.name: Q() for vs in old.virtual_servers}
        a = Announcer.starting(old)
        a.refresh(old, quorum); seen.append(on_lo())
        # A reload to a configuration without announce_route: withdrawn first, and a check
        # result flushed while the old configuration still runs does not bring it back.
        seen.append(sorted(a.withdraw_for(new)))
        a.refresh(old, quorum); seen.append(on_lo())
        a.refresh(new, quorum); seen.append(on_lo())
        a.refresh(old, quorum); seen.append(on_lo())  # announcing again once a config wants it
        # Tracked interface down: nothing announced; up again: announced within a poll.
        subprocess.run(["ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"], check=True)
        tracked = loads(conf.replace("announce_withdraw_delay 0.5", "announce_withdraw_delay 0.5\\n    announce_track_interface trk0"))
        a.refresh(tracked, quorum); seen.append(on_lo())
        subprocess.run(["ip", "link", "set", "trk1", "up"], check=True)
        subprocess.run(["ip", "link", "set", "trk0", "up"], check=True)
        await asyncio.sleep(1.2); seen.append(on_lo())
        # A stop: everything goes, and nothing comes back.
        seen.append(sorted(a.withdraw_for(None)))
        a.refresh(tracked, quorum); await asyncio.sleep(0.7); seen.append(on_lo())
        return seen
    print(json.dumps(asyncio.run(go())))
''')


def test_announcer_holds_withdrawn_vips_through_a_reload_and_tracks_interfaces(lab):
    ns = lab.ns("hold")
    seen = json.loads(ns.run(sys.executable, "-c", HOLD_SCRIPT, input=CONF).stdout)
    assert seen == [["192.0.2.100/32"], ["192.0.2.100"], [], [], ["192.0.2.100/32"], [], ["192.0.2.100/32"],
                    ["192.0.2.100"], []]


WAIT_SCRIPT = textwrap.dedent('''
    import asyncio, json, subprocess, sys
    from lvsfast.config import loads
    from lvsfast.dataplane.announce import Announcer
    def on_lo():
        out = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
        return sorted(l.split()[3] for l in out.splitlines() if "192.0.2." in l)
    class Q:
        up = True
    async def go():
        cfg = loads(sys.stdin.read())
        quorum = {vs.name: Q() for vs in cfg.virtual_servers}
        counts = {"runs": [(0, True), (0, True)]}
        runs = lambda name: counts["runs"]
        a = Announcer.starting(cfg)
        a.refresh(cfg, quorum, runs)
        seen = [on_lo(), a.status()["waiting_for_checks"]]
        counts["runs"] = [(1, True), (1, True)]  # the checks ran; no table change needed: the poll notices
        await asyncio.sleep(0.8)
        seen += [on_lo(), a.status()["waiting_for_checks"]]
        counts["runs"] = None  # a failure pending: once ready, a virtual server stays ready
        a.refresh(cfg, quorum, runs)
        seen.append(on_lo())
        # Quorum lost (a cable cut): withdrawn. Back at the first server: not announced until
        # every check has run again.
        for q in quorum.values():
            q.up = False
        counts["runs"] = [(3, False), (3, False)]
        a.refresh(cfg, quorum, runs); seen.append(on_lo())
        for q in quorum.values():
            q.up = True
        counts["runs"] = [(9, True), (9, False)]  # the checks ran (and failed) while it was cut
        a.refresh(cfg, quorum, runs); seen.append(on_lo())
        counts["runs"] = [(10, True), (9, False)]
        await asyncio.sleep(0.7); seen.append(on_lo())
        # The second server's check ran once since quorum came back and is still down: that run
        # may have started on the dead link, so it is no verdict yet.
        counts["runs"] = [(11, True), (10, False)]
        await asyncio.sleep(0.7); seen.append(on_lo())
        counts["runs"] = [(12, True), (11, False)]  # twice down: it is down; announce without it
        await asyncio.sleep(0.8); seen.append(on_lo())
        a.close()
        return seen
    print(json.dumps(asyncio.run(go())))
''')


def test_announcer_waits_for_every_checks_first_verdict(lab):
    ns = lab.ns("wait")
    seen = json.loads(ns.run(sys.executable, "-c", WAIT_SCRIPT, input=CONF).stdout)
    assert seen == [[], True, ["192.0.2.100/32"], False, ["192.0.2.100/32"], [], [], [], [], ["192.0.2.100/32"]]


@pytest.mark.parametrize("ipvs", [True, False])
def test_ipvs_director_turns_on_sloppy_tcp_before_announcing(tmp_path, monkeypatch, ipvs):
    # The sysctl's file stands in for /proc/sys/net/ipv4/vs/sloppy_tcp (IPVS is not on this host;
    # tests/ipvs_vm/test_ipvsvm_scaleout.py checks the real one).
    knob = tmp_path / "sloppy_tcp"
    knob.write_text("0\n")
    a = announce.Announcer("lo", 0, ipvs=ipvs)
    a.sloppy_path = str(knob)
    order = []
    monkeypatch.setattr(a, "_change", lambda add, addr: order.append((knob.read_text(), addr)) or True)
    a.sync(set())
    assert knob.read_text() == "0\n"  # nothing announced: nothing changed
    a.sync({"192.0.2.100"})
    assert order == [("1\n" if ipvs else "0\n", "192.0.2.100")]
    assert a.errors == 0


def test_sloppy_tcp_failure_is_counted_and_announcing_goes_on(tmp_path, monkeypatch):
    a = announce.Announcer("lo", 0, ipvs=True)
    a.sloppy_path = str(tmp_path / "missing" / "sloppy_tcp")
    monkeypatch.setattr(a, "_change", lambda add, addr: True)
    a.sync({"192.0.2.100"})
    assert a.announced == {"192.0.2.100"} and a.errors == 1


SCRIPT_CONF = """
global_defs {
    lvs_backend nftables
    announce_interface lo
    announce_withdraw_delay 0
    %(global)s
}
vrrp_script chk_global {
    script "/bin/sh -c 'test ! -e %(dir)s/global_down'"
    interval 0.2
}
vrrp_script chk_web {
    script "/bin/sh -c 'test ! -e %(dir)s/web_down'"
    interval 0.2
    fall 2
}
virtual_server 192.0.2.100 80 {
    lb_algo mh
    lb_kind DR
    protocol TCP
    announce_route
    announce_track_script chk_web
    real_server 10.1.0.21 80 { weight 1 }
}
virtual_server 192.0.2.101 80 {
    lb_algo mh
    lb_kind DR
    protocol TCP
    announce_route
    real_server 10.1.0.21 80 { weight 1 }
}
"""

SCRIPT_RUN = textwrap.dedent('''
    import asyncio, json, os, subprocess, sys
    from lvsfast.config import loads
    from lvsfast.dataplane.announce import Announcer
    def on_lo():
        out = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
        return sorted(l.split()[3] for l in out.splitlines() if "192.0.2." in l)
    class Q:
        up = True
    async def until(want, timeout=5.0):
        for _ in range(int(timeout / 0.05)):
            if on_lo() == want:
                return want
            await asyncio.sleep(0.05)
        return on_lo()
    async def go():
        d = sys.argv[1]
        cfg = loads(sys.stdin.read())
        quorum = {vs.name: Q() for vs in cfg.virtual_servers}
        a = Announcer.starting(cfg)
        a.refresh(cfg, quorum)
        seen = [on_lo()]  # before the scripts' first verdicts: nothing
        both = ["192.0.2.100/32", "192.0.2.101/32"]
        seen.append(await until(both))
        open(f"{d}/web_down", "w").close()  # chk_web fails (twice: fall 2): only its VIP goes
        seen.append(await until(["192.0.2.101/32"]))
        seen.append(a.status()["scripts_down"])
        os.unlink(f"{d}/web_down")
        seen.append(await until(both))
        open(f"{d}/global_down", "w").close()  # a global_defs script: everything goes
        seen.append(await until([]))
        os.unlink(f"{d}/global_down")
        seen.append(await until(both))
        a.close()
        return seen
    print(json.dumps(asyncio.run(go())))
''')


def test_announce_track_script_withdraws_and_announces_again(lab, tmp_path):
    ns = lab.ns("trs")
    conf = SCRIPT_CONF % {"dir": tmp_path, "global": "announce_track_script chk_global"}
    seen = json.loads(ns.run(sys.executable, "-c", SCRIPT_RUN, str(tmp_path), input=conf).stdout)
    both = ["192.0.2.100/32", "192.0.2.101/32"]
    assert seen == [[], both, ["192.0.2.101/32"], ["chk_web"], both, [], both]


def test_announce_track_script_names_must_exist(tmp_path):
    from lvsfast.config import analyse

    text = ((SCRIPT_CONF % {"dir": tmp_path, "global": "announce_track_script chk_global nosuch"})
            .replace("announce_track_script chk_web", "announce_track_script chk_web chk_other"))
    errors = sorted((d.file, d.line, d.message) for d in analyse("k.conf", text=text).errors)
    assert errors == [("k.conf", 6, "announce_track_script: no vrrp_script nosuch (global_defs)"),
                      ("k.conf", 22, "announce_track_script: no vrrp_script chk_other (virtual server 192.0.2.100:TCP:80)")]
    cfg = loads(SCRIPT_CONF % {"dir": tmp_path, "global": ""})
    assert cfg.global_defs.announce_track_script == ()
    assert [vs.announce_track_script for vs in cfg.virtual_servers] == [("chk_web",), ()]
