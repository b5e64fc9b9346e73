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


class FakeSocket:
    """Stands in for the kernel: an empty IPVS table that accepts everything."""

    family_id = 0x23

    def __init__(self) -> None:
        self.messages_sent = 0
        self.batches: list[list[bytes]] = []

    def batch(self, msgs):
        from lvsfast.ipvs.kernel import BatchResult
        self.batches.append(list(msgs))
        self.messages_sent += len(msgs)
        return BatchResult([0] * len(msgs), 2)

    def dump(self, message, decode):
        self.messages_sent += 1
        return []

    def close(self) -> None:
        pass


def test_ipvs_apply_diffs_only_changed_services_and_removes_owned_on_close() -> None:
    import asyncio

    from lvsfast.ipvs.backend import IPVSBackend

    keys = [ServiceKey(4, "tcp", f"10.0.0.{i}", 80) for i in range(1, 4)]
    table = Table({k: Service(k, "wrr") for k in keys},
                  {k: {DestKey("10.1.0.1", 80): Dest(DestKey("10.1.0.1", 80))} for k in keys})
    b = IPVSBackend(family_id=0x23)
    fake = FakeSocket()
    b._sock = fake  # type: ignore[assignment]

    async def scenario() -> None:
        assert len(await b.apply(table)) == 6
        assert await b.apply(table) == []
        changed = table.with_dest(keys[1], Dest(DestKey("10.1.0.1", 80), weight=9))
        ops = await b.apply(changed)
        assert [str(op) for op in ops] == ["edit_dest TCP 10.0.0.2:80 -> 10.1.0.1:80"]
        # A service dropped from the desired table is deleted, as we own it.
        smaller = Table({k: changed.services[k] for k in keys[:2]}, {k: changed.dests[k] for k in keys[:2]})
        assert [str(op) for op in await b.apply(smaller)] == ["del_service TCP 10.0.0.3:80"]
        await b.close()

    asyncio.run(scenario())
    assert len(fake.batches[-1]) == 2  # close removed the two services still owned


def test_ipvs_apply_follows_a_delta_from_the_table_it_applied_and_ignores_a_stale_one() -> None:
    import asyncio

    from lvsfast.dataplane.model import Delta
    from lvsfast.ipvs.backend import IPVSBackend

    keys = [ServiceKey(4, "tcp", f"10.0.0.{i}", 80) for i in range(1, 5)]
    d = DestKey("10.1.0.1", 80)
    base = Table({k: Service(k, "wrr") for k in keys}, {k: {d: Dest(d)} for k in keys})
    b = IPVSBackend(family_id=0x23)
    b._sock = FakeSocket()  # type: ignore[assignment]

    async def scenario() -> None:
        await b.apply(base)
        # Made from base, naming keys[0] and keys[3] (removed): only those are looked at.
        services = {k: base.services[k] for k in keys[:3]}
        dests = {**{k: base.dests[k] for k in keys[:3]}, keys[0]: {d: Dest(d, weight=5)}}
        t1 = Table(services, dests, Delta(base, frozenset({keys[0], keys[3]})))
        assert [str(op) for op in await b.apply(t1)] == ["edit_dest TCP 10.0.0.1:80 -> 10.1.0.1:80",
                                                         "del_service TCP 10.0.0.4:80"]
        # A delta whose base is not what was applied last is only a table: everything is compared.
        t2 = Table(services, {**dests, keys[1]: {d: Dest(d, weight=7)}}, Delta(base, frozenset({keys[2]})))
        assert [str(op) for op in await b.apply(t2)] == ["edit_dest TCP 10.0.0.2:80 -> 10.1.0.1:80"]

    asyncio.run(scenario())
