"""nf_tables change notifications: another process's transaction on our table is reported, with
who made it; our own transactions and other tables' are not."""
from __future__ import annotations

import json
import struct
import sys

import pytest

from lvsfast.lab.netns import Lab
from lvsfast.nft.watch import ChangeFilter, OutsideChange
from support.requires import need_binary, need_root

NFT = 10 << 8
NEWTABLE, DELTABLE, NEWSETELEM, NEWGEN = 0, 2, 12, 15


def _attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def _msg(kind: int, family: int, *attrs: bytes) -> bytes:
    body = struct.pack("=BBH", family, 0, 0) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), NFT | kind, 0, 0, 0) + body


def obj(kind: int, table: str, family: int = 2) -> bytes:
    return _msg(kind, family, _attr(1, table.encode() + b"\0"))


def gen(pid: int, name: str) -> bytes:
    return _msg(NEWGEN, 0, _attr(1, struct.pack("!I", 7)), _attr(2, struct.pack("!I", pid)),
                _attr(3, name.encode() + b"\0"))


def test_foreign_batch_on_our_table_is_reported_with_its_process():
    f = ChangeFilter("lvsfast", lambda pid: pid == 100)
    assert f.feed(obj(NEWTABLE, "foreign") + obj(DELTABLE, "lvsfast") + gen(4242, "nft")) == [
        OutsideChange(4242, "nft")]
    assert str(OutsideChange(4242, "nft")) == "a transaction by nft[4242]"


def test_own_other_tables_and_other_families_are_not_reported():
    f = ChangeFilter("lvsfast", lambda pid: pid == 100)
    assert f.feed(obj(NEWSETELEM, "lvsfast") + gen(100, "lvsfast")) == []  # ours
    assert f.feed(obj(NEWTABLE, "firewalld") + gen(4242, "firewalld")) == []  # not our table
    assert f.feed(obj(DELTABLE, "lvsfast", family=10) + gen(4242, "nft")) == []  # ip6 lvsfast: not ours
    assert f.feed(obj(NEWTABLE, "lvsfastx") + gen(4242, "nft")) == []  # a prefix is another name


def test_batch_split_over_datagrams_and_truncated_input():
    f = ChangeFilter("lvsfast", lambda pid: False)
    assert f.feed(obj(DELTABLE, "lvsfast")) == []
    assert f.feed(gen(7, "sh")) == [OutsideChange(7, "sh")]
    assert f.feed(gen(8, "sh")) == []  # the next batch touched nothing of ours
    assert f.feed(obj(DELTABLE, "lvsfast")[:18]) == []  # cut short: ignored, never an exception
    assert str(f.lost()) == "nftables change notifications overflowed"


HELPER = r'''
import asyncio, json, subprocess
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.nft.backend import NftBackend

async def main():
    seen = []
    b = NftBackend()
    b.watch(lambda change: seen.append(str(change)))
    k = ServiceKey(4, "tcp", "10.0.0.100", 80)
    d = Dest(DestKey("10.1.0.1", 80), 1)
    await b.apply(Table({k: Service(k, "rr")}, {k: {d.key: d}}))  # ours, some in a thread
    await b.apply(Table({k: Service(k, "rr")}, {k: {d.key: Dest(d.key, 5)}}))  # ours, raw netlink
    await asyncio.sleep(0.2)
    own = list(seen)
    subprocess.run(["nft", "add", "table", "ip", "other"], check=True)
    await asyncio.sleep(0.2)
    other = list(seen)
    subprocess.run(["nft", "delete", "table", "ip", "lvsfast"], check=True)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if len(seen) > len(other):
            break
    await b.close()
    print(json.dumps({"own": own, "other": other, "after_delete": seen}))

asyncio.run(main())
'''


def test_watch_reports_an_outside_deletion_from_the_kernel():
    need_root()
    need_binary("ip", "nft")
    with Lab() as lab:
        out = json.loads(lab.ns("watch").run(sys.executable, "-c", HELPER).stdout)
    assert out["own"] == []  # our own transactions are not outside changes
    assert out["other"] == []  # a foreign table is not ours
    assert len(out["after_delete"]) == 1 and out["after_delete"][0].startswith("a transaction by nft[")


@pytest.mark.parametrize("n", [1, 50])
def test_filter_reads_many_messages_in_one_datagram(n):
    f = ChangeFilter("lvsfast", lambda pid: False)
    assert f.feed(b"".join(obj(NEWSETELEM, "lvsfast") for _ in range(n)) + gen(9, "x")) == [OutsideChange(9, "x")]
