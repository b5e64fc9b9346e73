"""bfd_instance, track_bfd, BFD_CHECK and bfd_master_down in the model: keepalived 2.2.7's
defaults and units, what is dropped, and lvsfast's own checks."""
from __future__ import annotations

from lvsfast.config import analyse

VI = ("vrrp_instance VI {{\n interface eth0\n virtual_router_id 5\n{extra} virtual_ipaddress {{\n"
      "  {vip}\n }}\n}}\n")


def _cfg(text: str):
    a = analyse("t.conf", text=text)
    return a.config, [str(d) for d in a.diagnostics]


def test_defaults_are_keepalived_s():
    cfg, diags = _cfg("bfd_instance B {\n neighbor_ip 10.0.0.2\n}\n")
    assert diags == []
    (b,) = cfg.bfd_instances
    assert (b.name, b.neighbor_ip, b.family, b.source_ip) == ("B", "10.0.0.2", 4, None)
    assert (b.min_rx_us, b.min_tx_us, b.idle_tx_us, b.multiplier) == (10_000, 10_000, 1_000_000, 5)
    assert (b.passive, b.out_ttl, b.max_hops, b.min_rx_ttl, b.weight) == (False, 255, 0, 255, 0)
    assert (b.vrrp, b.checker, b.multihop) == (True, True, False)


def test_values_in_milliseconds_to_microseconds_and_ipv6_hop_limit():
    cfg, diags = _cfg("bfd_instance B {\n neighbour_ip fd00::2\n source_ip fd00::1\n min_rx 3.312\n min_tx 300\n"
                      " idle_tx 2000.5\n multiplier 3\n passive\n max_hops 2\n weight -20 reverse\n checker\n"
                      " multihop\n}\n")
    assert diags == []
    (b,) = cfg.bfd_instances
    assert (b.family, b.min_rx_us, b.min_tx_us, b.idle_tx_us, b.multiplier) == (6, 3312, 300_000, 2_000_500, 3)
    assert (b.out_ttl, b.min_rx_ttl, b.weight, b.weight_reverse) == (64, 62, -20, True)
    assert (b.vrrp, b.checker, b.passive, b.multihop) == (False, True, True, True)


def test_max_hops_255_disables_the_check_and_over_ttl_is_clamped():
    cfg, _ = _cfg("bfd_instance B {\n neighbor_ip 10.0.0.2\n max_hops 255\n}\n")
    assert cfg.bfd_instances[0].min_rx_ttl == 0
    cfg, diags = _cfg("bfd_instance B {\n neighbor_ip 10.0.0.2\n ttl 10\n max_hops 20\n}\n")
    assert cfg.bfd_instances[0].max_hops == 10
    assert diags == ["t.conf:5: error: BFD instance B: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit"]


def test_instances_keepalived_drops_are_dropped_at_their_line():
    cfg, diags = _cfg("bfd_instance A {\n source_ip 10.0.0.1\n}\n"
                      "bfd_instance B {\n neighbor_ip 10.0.0.2\n}\n"
                      "bfd_instance C {\n neighbor_ip 10.0.0.2\n}\n"
                      "bfd_instance D {\n neighbor_ip bogus\n}\n"
                      "bfd_instance B {\n neighbor_ip 10.0.0.9\n}\n")
    assert [b.name for b in cfg.bfd_instances] == ["B"]
    assert diags == ["t.conf:3: error: BFD instance A has no neighbor address set, disabling instance",
                     "t.conf:9: error: BFD instance C has duplicate neighbor address 10.0.0.2, ignoring instance",
                     "t.conf:11: error: BFD instance D has malformed neighbor address bogus, ignoring instance",
                     "t.conf:13: error: BFD instance B already configured - ignoring"]


def test_bad_interval_keeps_the_default():
    cfg, diags = _cfg("bfd_instance B {\n neighbor_ip 10.0.0.2\n min_tx 0.5\n}\n")
    assert cfg.bfd_instances[0].min_tx_us == 10_000
    assert diags[0].startswith("t.conf:3: error: number '0.5' outside range [1.000, 4294967.000]")


def test_track_bfd_and_bfd_master_down():
    bfd = "bfd_instance B {\n neighbor_ip 10.0.0.2\n}\n"
    cfg, diags = _cfg(bfd + VI.format(extra=" track_bfd {\n  B weight 10 reverse\n }\n bfd_master_down B\n",
                                      vip="10.0.0.9/32"))
    assert diags == []
    vi = cfg.vrrp_instances[0]
    assert (vi.track_bfd[0].name, vi.track_bfd[0].weight, vi.track_bfd[0].reverse) == ("B", 10, True)
    assert vi.bfd_master_down == "B"
    _, diags = _cfg(bfd + VI.format(extra=" bfd_master_down X\n", vip="10.0.0.9/32"))
    assert diags == ["t.conf:7: error: (VI) bfd_master_down: bfd_instance X not found"]
    _, diags = _cfg(bfd + VI.format(extra=" bfd_master_down B\n", vip="fd00::9/128"))
    assert diags == ["t.conf:7: error: (VI) bfd_master_down: bfd_instance B's neighbour 10.0.0.2 is not IPv6"]
