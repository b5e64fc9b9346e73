"""A reload that changes 100 VIPs of other VRRP instances causes no transition (keepalived #349).

Two lvsfast routers (the real daemon, VRRP only) share VI_1; VI_2 and VI_3 carry 50 VIPs each.
Both routers reload with all 100 of those VIPs replaced. VI_1 must not notice: neither router's
VI_1 changes state, and on the wire (captured from the client's side of the segment) no VI_1
advert comes from the backup and none from the master says priority 0 (giving up mastership)."""
from __future__ import annotations

import re
import signal
import subprocess

from lvsfast.daemon.control import request
from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.requires import need_binary
from support.vrrp_lab import VIP, VrrpLab, instance_conf

ADVERT = re.compile(r" IP (\S+) > 224\.0\.0\.18: VRRPv\d, Advertisement, vrid (\d+), prio (\d+)")


def body(priority: int, net: str) -> str:
    others = "".join(instance_conf(priority=priority, vrid=51 + i, name=f"VI_{1 + i}",
                                   vips=tuple(f"10.{net}.{i}.{h}/32" for h in range(1, 51))) for i in (1, 2))
    return instance_conf(priority=priority, vips=(f"{VIP}/24",)) + others


def test_reload_changing_100_vips_of_other_instances_causes_no_transition(lab, tmp_path):
    need_binary("tcpdump")
    vl = VrrpLab.build(lab, tmp_path)
    prio = {"r1": 150, "r2": 100}
    routers = {n: vl.start_lvsfast(n, body(p, "1")) for n, p in prio.items()}
    vl.wait_master("r1")
    for inst in ("VI_2", "VI_3"):
        wait_for(lambda: routers["r1"].state(inst) == "MASTER" and routers["r2"].state(inst) == "BACKUP",
                 timeout=20, what=f"{inst} settled")
    wait_for(lambda: routers["r1"].has("10.1.2.50"), timeout=10, what="the first 100 VIPs on r1")

    def vi1() -> dict[str, tuple[str, int]]:
        out = {}
        for n, r in routers.items():
            st = r.status()["instances"]["VI_1"]
            out[n] = (st["state"], st["transitions"])
        return out

    before = vi1()
    assert before["r1"][0] == "MASTER" and before["r2"][0] == "BACKUP", before
    wire = tmp_path / "adverts.txt"
    cap = lab.spawn(vl.client, "tcpdump", "-n", "-l", "-i", "eth0", "ip proto 112",
                    stdout=open(wire, "w"), stderr=subprocess.DEVNULL)
    wait_for(lambda: ADVERT.search(wire.read_text()), timeout=10, what="tcpdump to see adverts")
    for n, r in routers.items():
        (tmp_path / f"{n}.conf").write_text(f"global_defs {{\n    router_id {n}\n}}\n" + body(prio[n], "2"))
        r.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: request(r.sock, "status", timeout=2)["reloads"] == 1, timeout=20, what=f"{n} reloaded")
    # The reload really took the new VIPs, and the old ones left.
    wait_for(lambda: routers["r1"].has("10.2.2.50") and routers["r1"].has("10.2.1.1"), timeout=20,
             what="the 100 new VIPs on r1")
    assert not routers["r1"].has("10.1.1.1") and not routers["r2"].has("10.2.1.1")
    # Let VI_1's adverts run on for a while after the last reload before reading the wire.
    mark = len(ADVERT.findall(wire.read_text()))
    wait_for(lambda: sum(1 for a in ADVERT.findall(wire.read_text()) if a[1] == "51") >= 3 and
             len(ADVERT.findall(wire.read_text())) > mark + 3, timeout=20, what="more adverts after the reloads")
    cap.send_signal(signal.SIGTERM)
    cap.wait(10)
    assert vi1() == before  # same state, no transition on either router
    assert vl.master() == "r1"
    vi1_adverts = [(src, int(p)) for src, vrid, p in ADVERT.findall(wire.read_text()) if vrid == "51"]
    assert vi1_adverts and {src for src, _ in vi1_adverts} == {"10.0.0.1"}, vi1_adverts
    assert all(p == 150 for _, p in vi1_adverts), vi1_adverts
    # The state counter alone would not do: a restarted instance starts a new count (a reload that
    # also changed VI_1 passes it, and fails the priority-0 check above). The other instances ran on.
    assert {vrid for _, vrid, _ in ADVERT.findall(wire.read_text())} >= {"51", "52", "53"}
    for n in routers:
        vl.stop(n)
