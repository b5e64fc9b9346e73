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
