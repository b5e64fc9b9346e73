"""The wire core against Debian's keepalived 2.2.7 on a real (namespaced) link.

keepalived's adverts arrive on our socket and decode with every field right; our adverts make
keepalived step down; our GARP and NA update a client's neighbour table; malformed packets on
the wire are counted and dropped while the receiver keeps working.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from support import keepalived as ka
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_segment import link_local, peer, segment  # noqa: F401  (fixture)

PY = sys.executable


@pytest.fixture
def net(segment):
    return segment


CASES = [
    pytest.param(2, 4, ["192.0.2.100/24", "192.0.2.101/24"], "", id="v2-ipv4"),
    pytest.param(2, 4, ["192.0.2.100/24"], "secret", id="v2-ipv4-pass"),
    pytest.param(2, 4, ["192.0.2.100/24"], "AH:secret", id="v2-ipv4-ah"),
    pytest.param(3, 4, ["192.0.2.100/24", "192.0.2.101/24"], "", id="v3-ipv4"),
    pytest.param(3, 6, ["2001:db8::100/64"], "", id="v3-ipv6"),
]


def auth_args(auth: str) -> tuple[str, str, list[str]]:
    """'' | 'secret' (PASS) | 'AH:secret' -> (keepalived auth_type, key, peer flags)."""
    if auth.startswith("AH:"):
        return "AH", auth[3:], ["--ah"]
    return "PASS", auth, []


@pytest.mark.parametrize("twins", [False, True], ids=["compiled", "python"])
@pytest.mark.parametrize("version,family,vips,auth", CASES)
def test_keepalived_adverts_decode(net, tmp_path, version, family, vips, auth, twins):
    lab, a, b, c = net
    kind, key, flags = auth_args(auth)
    k = ka.start(lab, a, ka.vrrp_config(version=version, family=family, vips=vips, state="MASTER",
                                         priority=120, auth=key, auth_type=kind), tmp_path)
    bare = [v.split("/")[0] for v in vips]
    out = peer(b, "listen", "--family", str(family), "--version", str(version), "--vrid", "51",
               "--vips", ",".join(bare), "--seconds", "4.5", "--auth", key, *flags, twins=twins)
    assert out[0]["compiled"] is not twins
    adverts = [o for o in out if "vrid" in o]
    assert adverts, f"no adverts decoded: {out}\n{k.text()[-2000:]}"
    adv = adverts[-1]
    src = "10.0.0.1" if family == 4 else link_local(a)
    assert (adv["version"], adv["vrid"], adv["priority"], adv["interval_cs"]) == (version, 51, 120, 100)
    assert (adv["src"], adv["ttl"], adv["addresses"], adv["match"]) == (src, 255, bare, True)
    assert adv["auth_type"] == {"": 0, "PASS": 1, "AH": 2}[kind if auth else ""]
    if version == 3 and family == 4:
        assert adv["pseudo_header"] == 1  # keepalived 2.2 sends the IPv4 pseudo-header form
    counters = out[-1]["counters"]
    assert counters["accepted"] == len(adverts) and counters["received"] == len(adverts)


@pytest.mark.parametrize("version,family,vips,auth", CASES)
def test_keepalived_accepts_our_adverts(net, tmp_path, version, family, vips, auth):
    lab, a, b, c = net
    kind, key, flags = auth_args(auth)
    k = ka.start(lab, a, ka.vrrp_config(version=version, family=family, vips=vips, state="MASTER",
                                         priority=100, auth=key, auth_type=kind), tmp_path)
    k.wait_for_log("Entering MASTER STATE", timeout=15)
    mark = len(k.text())
    src = "10.0.0.2" if family == 4 else link_local(b)
    bare = [v.split("/")[0] for v in vips]
    peer(b, "send", "--family", str(family), "--version", str(version), "--vrid", "51", "--prio", "200",
         "--src", src, "--vips", ",".join(bare), "--seconds", "3", "--auth", key, *flags)
    text = k.wait_for_log("Entering BACKUP STATE", timeout=5, after=mark)
    assert "higher priority 200" in text[mark:] or "Entering BACKUP STATE" in text[mark:]
    assert "bogus" not in text[mark:].lower() and "invalid" not in text[mark:].lower()


def test_version_mismatch_logged_plainly(net, tmp_path):
    lab, a, b, c = net
    ka.start(lab, a, ka.vrrp_config(version=3, family=4, vips=["192.0.2.100/24"], state="MASTER"), tmp_path)
    out = peer(b, "listen", "--family", "4", "--version", "2", "--vrid", "51", "--vips", "192.0.2.100",
               "--seconds", "5.5")
    drops = [o for o in out if o.get("drop") == "VERSION"]
    assert drops, out
    assert drops[0]["log"] == "received VRRPv3 advert for VRID 51 on eth0 from 10.0.0.1, instance VI_1 runs VRRPv2" \
        or drops[0]["log"] == "received VRRPv3 advert for VRID 51 on eth0, instance VI_1 runs VRRPv2"
    assert out[-1]["counters"]["version_mismatch"] == len(drops)


def _neigh_mac(ns, ip: str) -> str:
    fam = "-6" if ":" in ip else "-4"
    out = ns.ip(fam, "neigh", "show", ip, "dev", "eth0").stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else ""


@pytest.mark.parametrize("ip", ["192.0.2.100", "2001:db8::100"])
def test_announcement_updates_client_neighbour_table(net, ip):
    lab, a, b, c = net
    fam = "-6" if ":" in ip else "-4"
    c.ip(fam, "neigh", "replace", ip, "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "stale")
    args = ["garp", "--ip", ip] if fam == "-4" else ["na", "--ip", ip, "--src", link_local(b)]
    mac = peer(b, *args)[0]["mac"]
    deadline = time.monotonic() + 5
    while _neigh_mac(c, ip) != mac and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _neigh_mac(c, ip) == mac


def test_malformed_packets_counted_and_receiver_survives(net):
    lab, a, b, c = net
    listener = b.popen(PY, "-m", "support.vrrp_peer", "listen", "--family", "4", "--version", "3", "--vrid", "51",
                       "--vips", "192.0.2.100", "--seconds", "3", env=ka.peer_env(), stdout=subprocess.PIPE, text=True)
    assert json.loads(listener.stdout.readline())["ready"]
    peer(a, "inject", "--src", "10.0.0.1")
    out = [json.loads(line) for line in listener.stdout.read().splitlines() if line.startswith("{")]
    listener.wait(10)
    counters = out[-1]["counters"]
    drops = {k: v for k, v in counters.items() if k not in ("received", "accepted") and v}
    assert counters["accepted"] == 1, out  # the valid advert after the garbage still decodes
    assert drops == {"too_short": 2, "version_mismatch": 2, "bad_checksum": 1, "zero_address_count": 1,
                     "length_mismatch": 1}, drops
