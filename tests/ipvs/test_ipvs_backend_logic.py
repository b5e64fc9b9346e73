"""The IPVS backend's kernel-free logic: the canonical (kernel) form of desired entries, and the
diff across fwmark and address services."""
from __future__ import annotations

import errno

from lvsfast.dataplane.diff import Op
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.ipvs import wire
from lvsfast.ipvs.backend import _diff, _explain, canonical_dest, canonical_service, canonical_table

FW = ServiceKey(4, "udp", None, 0, 42)
VS = ServiceKey(4, "tcp", "10.0.0.1", 80)


def test_ipvs_canonical_forms_match_what_the_kernel_reports() -> None:
    assert canonical_service(Service(FW, "rr")).key == ServiceKey(4, "tcp", None, 0, 42)
    assert canonical_service(Service(VS, "rr", persistence_granularity=24)).persistence_granularity == 32
    assert canonical_service(Service(VS, "rr", persistence_timeout=5, persistence_granularity=24)).persistence_granularity == 24
    nat = Dest(DestKey("10.1.0.1", 80), tun_type="gue", tun_port=6081, tun_csum=True)
    assert canonical_dest(nat) == Dest(DestKey("10.1.0.1", 80))
    gue = Dest(DestKey("10.1.0.1", 80), forward="tun", tun_type="gue", tun_port=6081)
    assert canonical_dest(gue).tun_nocsum is True
    gre = Dest(DestKey("10.1.0.1", 80), forward="tun", tun_type="gre", tun_port=9, tun_remcsum=True)
    assert canonical_dest(gre) == Dest(DestKey("10.1.0.1", 80), forward="tun", tun_type="gre", tun_remcsum=True)


def test_ipvs_canonical_dest_survives_encode_decode() -> None:
    for d in (Dest(DestKey("10.1.0.1", 80), forward="tun", tun_type="gue", tun_port=6081, tun_nocsum=True),
              Dest(DestKey("10.1.0.1", 80), forward="tun", tun_type="gre", tun_csum=True),
              Dest(DestKey("10.1.0.1", 80), forward="tun"),
              Dest(DestKey("10.1.0.1", 80), forward="dr", weight=0)):
        c = canonical_dest(d)
        body = wire._nest(wire.IPVS_CMD_ATTR_DEST, wire.dest_attrs(c))
        assert wire.decode_dest(memoryview(b"\0\0\0\0" + body), 4).dest == c


def test_ipvs_diff_mixes_fwmark_and_address_services() -> None:
    cur = canonical_table(Table({FW: Service(FW), VS: Service(VS)},
                                {FW: {DestKey("10.1.0.2", 0): Dest(DestKey("10.1.0.2", 0))},
                                 VS: {DestKey("10.1.0.3", 80): Dest(DestKey("10.1.0.3", 80))}}))
    fw = canonical_service(Service(FW)).key
    ops = _diff(cur, Table({fw: Service(fw)}, {fw: {}}), frozenset(cur.services))
    assert [str(op) for op in ops] == ["del_dest FWM 42 -> 10.1.0.2:0", "del_service TCP 10.0.0.1:80"]
    # Services we never owned are left alone.
    assert _diff(cur, Table(), frozenset()) == []


def test_ipvs_error_messages_name_service_and_real_server() -> None:
    op = Op("add_dest", VS, dest=Dest(DestKey("10.1.0.3", 8080)))
    assert _explain(op, -errno.EEXIST) == "IPVS: add dest TCP 10.0.0.1:80 real server 10.1.0.3:8080: File exists (EEXIST)"
    op = Op("add_service", VS, svc=Service(VS, "nosuch"))
    assert "scheduler 'nosuch' not available" in _explain(op, -errno.ENOENT)
