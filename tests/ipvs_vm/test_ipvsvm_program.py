"""Inside the IPVS VM: what lvsfast programs is what ipvsadm shows, and only differences are sent.

Collected only in the VM (LVSFAST_IPVS_VM=1); the host runs them through
tests/test_ipvs_in_vm.py, one boot for all.
"""
from __future__ import annotations

import asyncio
import re
import subprocess

import pytest
from support.ipvs import IN_VM, ipvsadm_table, need_ipvs, sh, table_diff

from lvsfast.dataplane.backend import BackendError
from lvsfast.dataplane.model import SCHEDULERS, Dest, DestKey, Service, ServiceKey, Table
from lvsfast.ipvs.backend import IPVSBackend, canonical_table
from lvsfast.ipvs.wire import SyncDaemon, Timeouts


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def clean_ipvs():
    need_ipvs()
    sh("ipvsadm", "-C")
    yield
    sh("ipvsadm", "-C")


def every_kind_table() -> Table:
    """Every scheduler, protocol, forwarding method, tunnel type, flag and persistence form."""
    services = {}
    dests = {}
    for i, sched in enumerate(SCHEDULERS):
        key = ServiceKey(4, ("tcp", "udp", "sctp")[i % 3], "10.9.0.1", 1000 + i)
        flags = frozenset()
        if sched in ("sh", "mh"):
            flags = frozenset({f"{sched}-port", f"{sched}-fallback"})
        elif sched == "rr":
            flags = frozenset({"flag-3"})
        services[key] = Service(key, sched, flags)
        dests[key] = {DestKey("10.9.1.1", 80): Dest(DestKey("10.9.1.1", 80), weight=i + 1),
                      DestKey("10.9.1.2", 80): Dest(DestKey("10.9.1.2", 80), weight=2, forward="dr",
                                                     u_threshold=100, l_threshold=10)}
    pk = ServiceKey(4, "tcp", "10.9.0.2", 443)
    services[pk] = Service(pk, "wlc", persistence_timeout=300, persistence_granularity=24)
    dests[pk] = {DestKey("10.9.2.1", 443): Dest(DestKey("10.9.2.1", 443), 5, "tun", "ipip"),
                 DestKey("10.9.2.2", 443): Dest(DestKey("10.9.2.2", 443), 5, "tun", "gue", 6081, tun_nocsum=True),
                 DestKey("10.9.2.3", 443): Dest(DestKey("10.9.2.3", 443), 5, "tun", "gre", tun_csum=True)}
    ops = ServiceKey(4, "udp", "10.9.0.3", 53)
    services[ops] = Service(ops, "rr", frozenset({"ops"}))
    pe = ServiceKey(4, "udp", "10.9.0.4", 5060)
    services[pe] = Service(pe, "rr", persistence_timeout=60, persistence_engine="sip")
    fw = ServiceKey(4, "udp", None, 0, 42)  # the kernel keeps fwmark services as TCP
    services[fw] = Service(fw, "wrr")
    dests[fw] = {DestKey("10.9.3.1", 0): Dest(DestKey("10.9.3.1", 0), 3, "dr")}
    v6 = ServiceKey(6, "tcp", "2001:db8::1", 80)
    services[v6] = Service(v6, "mh", frozenset({"mh-port"}), persistence_timeout=60, persistence_granularity=64)
    dests[v6] = {DestKey("2001:db8:1::2", 8080): Dest(DestKey("2001:db8:1::2", 8080), 7)}
    return Table(services, dests)


class TestProgram:
    __test__ = IN_VM

    def test_every_scheduler_and_method_shows_in_ipvsadm(self, clean_ipvs) -> None:
        want = every_kind_table()
        b = IPVSBackend()
        ops = run(b.apply(want))
        assert len(ops) == len(want.services) + sum(len(d) for d in want.dests.values())
        assert table_diff(ipvsadm_table(), canonical_table(want)) == []
        # And lvsfast's own reading agrees; a second apply has nothing to do.
        assert table_diff(run(b.read()), canonical_table(want)) == []
        assert run(b.apply(want)) == []
        run(b.close())
        assert ipvsadm_table() == Table()

    def test_weight_change_is_one_set_dest(self, clean_ipvs) -> None:
        want = every_kind_table()
        b = IPVSBackend()
        run(b.apply(want))
        before = b.messages_sent
        key = next(iter(want.services))
        old = want.dests[key][DestKey("10.9.1.1", 80)]
        changed = want.with_dest(key, Dest(old.key, weight=77))
        ops = run(b.apply(changed))
        assert [op.kind for op in ops] == ["edit_dest"]
        assert b.messages_sent - before == 1
        assert ipvsadm_table().dests[key][old.key].weight == 77
        assert table_diff(ipvsadm_table(), canonical_table(changed)) == []
        run(b.close())

    def test_startup_adopts_existing_and_leaves_foreign_services(self, clean_ipvs) -> None:
        sh("ipvsadm", "-A", "-t", "10.9.0.1:80", "-s", "rr")
        sh("ipvsadm", "-a", "-t", "10.9.0.1:80", "-r", "10.9.1.1:80", "-m", "-w", "1")
        sh("ipvsadm", "-a", "-t", "10.9.0.1:80", "-r", "10.9.1.9:80", "-m", "-w", "1")
        sh("ipvsadm", "-A", "-t", "10.9.9.9:80", "-s", "wlc")  # not ours
        key = ServiceKey(4, "tcp", "10.9.0.1", 80)
        want = Table({key: Service(key, "rr")}, {key: {
            DestKey("10.9.1.1", 80): Dest(DestKey("10.9.1.1", 80), 1),
            DestKey("10.9.1.2", 80): Dest(DestKey("10.9.1.2", 80), 1)}})
        b = IPVSBackend()
        ops = run(b.apply(want))
        assert sorted(str(op) for op in ops) == ["add_dest TCP 10.9.0.1:80 -> 10.9.1.2:80",
                                                 "del_dest TCP 10.9.0.1:80 -> 10.9.1.9:80"]
        foreign = ServiceKey(4, "tcp", "10.9.9.9", 80)
        assert foreign in ipvsadm_table().services
        run(b.close())
        assert list(ipvsadm_table().services) == [foreign]

    def test_kernel_errors_name_service_and_real_server(self, clean_ipvs) -> None:
        key = ServiceKey(4, "tcp", "10.9.0.1", 80)
        good = Table({key: Service(key, "rr")}, {key: {DestKey("10.9.1.1", 80): Dest(DestKey("10.9.1.1", 80))}})
        b = IPVSBackend()
        run(b.apply(good))
        bad = good.with_dest(key, Dest(DestKey("10.9.1.2", 80), forward="tun", tun_type="gue", tun_port=0))
        with pytest.raises(BackendError, match=r"add dest TCP 10\.9\.0\.1:80 real server 10\.9\.1\.2:80: .*EINVAL"):
            run(b.apply(bad))
        nosched = ServiceKey(4, "tcp", "10.9.0.5", 80)
        with pytest.raises(BackendError, match=r"TCP 10\.9\.0\.5:80: scheduler 'nosuch' not available"):
            run(b.apply(Table({**good.services, nosched: Service(nosched, "nosuch")}, good.dests)))
        # The good part stayed, and the backend recovers by re-reading.
        assert run(b.apply(good)) == []
        run(b.close())

    def test_large_load_streams_and_names_a_failure_in_the_middle(self, clean_ipvs) -> None:
        # Above STREAM_FROM operations the batch goes to the kernel from a helper thread while
        # it is encoded: every entry arrives, and a refused one in the middle is still named.
        from lvsfast.ipvs.backend import STREAM_FROM

        services, dests = {}, {}
        for i in range(STREAM_FROM // 10 + 50):
            key = ServiceKey(4, "tcp", f"10.9.{i // 250}.{i % 250 + 1}", 80)
            services[key] = Service(key, "wrr")
            dests[key] = {DestKey(f"10.10.0.{j + 1}", 80): Dest(DestKey(f"10.10.0.{j + 1}", 80), j + 1)
                          for j in range(10)}
        table = Table(services, dests)
        keys = list(services)
        middle = keys[len(keys) // 2]
        bad = table.with_dest(middle, Dest(DestKey("10.10.1.1", 80), forward="tun", tun_type="gue", tun_port=0))
        b = IPVSBackend()
        try:
            with pytest.raises(BackendError, match=rf"add dest {re.escape(str(middle))} real server 10\.10\.1\.1:80: .*EINVAL"):
                run(b.apply(bad))
            assert not table_diff(canonical_table(table), ipvsadm_table())
            assert run(b.apply(table)) == []  # re-read after the failure: nothing left to do
        finally:
            run(b.close())
        assert not ipvsadm_table().services

    def test_timeouts_and_sync_daemon(self, clean_ipvs) -> None:
        b = IPVSBackend()
        run(b.set_timeouts(Timeouts(tcp=901, tcpfin=121, udp=301)))
        assert "901 121 301" in sh("ipvsadm", "-L", "--timeout")
        d = SyncDaemon("master", "lo", sync_id=9, maxlen=1400, mcast_group="224.0.0.82", mcast_port=8849, mcast_ttl=2)
        run(b.start_sync_daemon(d))
        try:
            out = sh("ipvsadm", "-L", "--daemon")
            assert "master sync daemon (mcast=lo, syncid=9, maxlen=1400, group=224.0.0.82, port=8849, ttl=2)" in out
        finally:
            run(b.stop_sync_daemon(d))
        assert "master" not in sh("ipvsadm", "-L", "--daemon")
        run(b.set_timeouts(Timeouts(900, 120, 300)))
        run(b.close())
        subprocess.run(["ipvsadm", "--stop-daemon", "master"], capture_output=True)
