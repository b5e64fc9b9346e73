"""Notice another process's change to our nftables table as it is committed.

nf_tables multicasts every committed transaction to the NFNLGRP_NFTABLES group: one message per
object it touched (table, chain, rule, set, element, object, flowtable), then NEWGEN, which names
the committing process. So a repair can start the moment `nft delete table` or a firewall's
`flush ruleset` lands, instead of at the next periodic comparison.

:class:`ChangeFilter` is the sans-IO part: bytes in, "a foreign batch touched our table" out.
:class:`ChangeWatch` reads the group's socket on the event loop and calls back.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Callable

from lvsfast.netlink import Subscription, attrs as _attrs
from lvsfast.nft.fastpath import AF_INET, NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWGEN

NFNLGRP_NFTABLES = 7
NFTA_GEN_PROC_PID, NFTA_GEN_PROC_NAME = 2, 3
# Every object message (NEWTABLE..DELSETELEM, NEWOBJ.., NEWFLOWTABLE..) carries its table's
# name as attribute 1: NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, ...
_TABLE_ATTR = 1
_NLMSG_MIN_TYPE = 0x10  # below: netlink's own control messages
_RCVBUF = 8 << 20  # our own big transactions are echoed here too; keep them from overflowing it


@dataclass(frozen=True)
class OutsideChange:
    """A committed transaction, not ours, that touched our table (or may have: ``pid`` 0 when
    notifications were lost and nothing is known)."""

    pid: int
    process: str

    def __str__(self) -> str:
        if not self.pid:
            return "nftables change notifications overflowed"
        return f"a transaction by {self.process or '?'}[{self.pid}]"


class ChangeFilter:
    """Reads nf_tables notifications; reports each foreign transaction that touched ``table``.

    ``ours(pid)`` says whether a committing pid is this process (a thread of it commits too:
    large transactions run in a worker thread).
    """

    def __init__(self, table: str, ours: Callable[[int], bool], family: int = AF_INET) -> None:
        self._name = table.encode() + b"\0"
        self._family = family
        self._ours = ours
        self._touched = False  # the batch being read so far touched our table

    def feed(self, buf: bytes) -> list[OutsideChange]:
        """The foreign transactions that ended in ``buf`` (one datagram) and touched our table."""
        out: list[OutsideChange] = []
        off = 0
        while off + 20 <= len(buf):
            ln, mtype = struct.unpack_from("=IH", buf, off)
            if ln < 16 or off + ln > len(buf):
                break
            if mtype >> 8 == NFNL_SUBSYS_NFTABLES and mtype >= _NLMSG_MIN_TYPE:
                kind = mtype & 0xFF
                if kind == NFT_MSG_NEWGEN:
                    pid, name = 0, ""
                    for atype, a, b in _attrs(buf, off + 20, off + ln):
                        if atype == NFTA_GEN_PROC_PID and b - a == 4:
                            pid = struct.unpack_from("!I", buf, a)[0]
                        elif atype == NFTA_GEN_PROC_NAME:
                            name = buf[a:b].split(b"\0", 1)[0].decode(errors="replace")
                    if self._touched and not self._ours(pid):
                        out.append(OutsideChange(pid, name))
                    self._touched = False
                elif not self._touched and buf[off + 16] == self._family:
                    for atype, a, b in _attrs(buf, off + 20, off + ln):
                        if atype == _TABLE_ATTR:
                            self._touched = buf[a:b] == self._name
                            break
            off += (ln + 3) & ~3
        return out

    def lost(self) -> OutsideChange:
        """Notifications were dropped (socket overflow): anything may have changed."""
        self._touched = False
        return OutsideChange(0, "")


def this_process(pid: int) -> bool:
    """nf_tables names the committing thread; any thread of ours is us."""
    return pid == os.getpid() or os.path.exists(f"/proc/self/task/{pid}")


class ChangeWatch:
    """Subscribes to nf_tables' notifications on the running loop; ``on_change`` gets each
    :class:`OutsideChange`. IPVS has no such notifications: its repair stays periodic."""

    def __init__(self, table: str, on_change: Callable[[OutsideChange], None]) -> None:
        self._filter = ChangeFilter(table, this_process)
        self._on_change = on_change
        self._sub = Subscription(NETLINK_NETFILTER, (NFNLGRP_NFTABLES,), self._read,
                                 what="nftables change notifications", rcvbuf=_RCVBUF)

    def _read(self, items: list[bytes | None]) -> None:
        changes: list[OutsideChange] = []
        for buf in items:
            changes += [self._filter.lost()] if buf is None else self._filter.feed(buf)
        for change in changes:
            self._on_change(change)

    def close(self) -> None:
        self._sub.close()
