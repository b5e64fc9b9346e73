"""keepalived.conf virtual servers become the right kernel services and destinations."""
from __future__ import annotations

from lvsfast.config import loads
from lvsfast.dataplane.from_config import full_table
from lvsfast.dataplane.model import DestKey, ServiceKey

CONF = """
virtual_server_group VSG {
    192.0.2.10-12 80
    fwmark 7
}
virtual_server 192.0.2.100 80 {
    lb_algo sh
    sh-port
    lb_kind DR
    protocol TCP
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    real_server 10.0.0.1 8080 {
        weight 3
        uthreshold 100
    }
    real_server 10.0.0.2 8080 {
        lvs_method TUN type gue port 6080
    }
}
virtual_server fwmark 5 {
    lb_algo rr
    protocol UDP
    real_server 10.0.0.3 {
    }
}
virtual_server group VSG {
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.4 80 {
    }
}
"""


def test_full_table_from_config():
    t = full_table(loads(CONF))
    main = ServiceKey(4, "tcp", "192.0.2.100", 80)
    svc = t.services[main]
    assert (svc.scheduler, svc.flags, svc.persistence_timeout, svc.persistence_granularity) == ("sh", frozenset({"sh-port"}), 300, 24)
    d1 = t.dests[main][DestKey("10.0.0.1", 8080)]
    assert (d1.weight, d1.forward, d1.u_threshold) == (3, "dr", 100)
    d2 = t.dests[main][DestKey("10.0.0.2", 8080)]
    assert (d2.forward, d2.tun_type, d2.tun_port) == ("tun", "gue", 6080)
    fwm = ServiceKey(4, "udp", None, 0, 5)
    assert list(t.dests[fwm]) == [DestKey("10.0.0.3", 0)]
    group = {k for k in t.services if k.address in ("192.0.2.10", "192.0.2.11", "192.0.2.12") or k.fwmark == 7}
    assert len(group) == 4 and all(t.services[k].scheduler == "wrr" for k in group)


def test_configured_pairs_and_drains_say_what_full_tables_drains_says():
    """from_config.configured keeps only the timeouts that are not the default, and answers
    membership from the full table: the same answers as full_table's drains for every pair."""
    import random

    from lvsfast.config.model import DEFAULT_DRAIN_TIMEOUT
    from lvsfast.dataplane import from_config

    rnd = random.Random(11)
    for _ in range(150):
        parts = []
        for v in range(rnd.randint(1, 4)):
            reals = "".join(
                f"  real_server 10.0.{v}.{rnd.randint(1, 4)} {rnd.choice(['80', '81', ''])} {{\n"
                + (f"    drain_timeout {rnd.choice([0, 5, 60])}\n" if rnd.random() < .3 else "") + "  }\n"
                for _ in range(rnd.randint(0, 4)))
            sorry = f"  sorry_server 10.9.9.{v} 80\n" if rnd.random() < .3 else ""
            drain = f"  drain_timeout {rnd.choice([3, 60])}\n" if rnd.random() < .3 else ""
            head = rnd.choice([f"10.1.0.{v} 80", f"fwmark {v + 1}", "group G"])
            parts.append(f"virtual_server {head} {{\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n{drain}{sorry}{reals}}}\n")
        text = "virtual_server_group G {\n  10.2.0.1 80\n  10.2.0.2 81\n}\n" + "".join(parts)
        try:
            cfg = loads(text)
        except Exception:
            continue  # a duplicate virtual server, say: not what this test is about
        old: dict = {}
        full = full_table(cfg, None, old)
        pairs, drains = from_config.configured(cfg, full)
        assert set(pairs) == set(old)
        assert len(pairs) == len(old)
        for pair, timeout in old.items():
            assert pair in pairs
            assert drains.get(pair, DEFAULT_DRAIN_TIMEOUT) == timeout
        assert set(drains) <= set(old)
        assert all(t != DEFAULT_DRAIN_TIMEOUT for t in drains.values())
        stranger = (ServiceKey(4, "tcp", "10.7.7.7", 1), DestKey("10.8.8.8", 1))
        assert stranger not in pairs and "nonsense" not in pairs
