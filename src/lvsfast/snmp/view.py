"""A read-only MIB view: sorted rows of (OID, type, value), and the answers AgentX asks of them.

The tables are rebuilt from a snapshot (:mod:`lvsfast.snmp.mib`) and then only searched, so a
walk of many GetNext requests costs one bisect each.
"""
from __future__ import annotations

import bisect
import ipaddress
from typing import Iterable

from lvsfast.snmp import agentx as ax
from lvsfast.snmp.agentx import OID, SearchRange, VarBind


class View:
    def __init__(self, rows: Iterable[VarBind] = ()) -> None:
        self.rows = sorted(rows, key=lambda v: v.oid)
        self.oids = [v.oid for v in self.rows]

    def get(self, oid: OID) -> VarBind:
        i = bisect.bisect_left(self.oids, oid)
        if i < len(self.oids) and self.oids[i] == oid:
            return self.rows[i]
        return VarBind(oid, ax.NO_SUCH_OBJECT)

    def next(self, r: SearchRange) -> VarBind:
        """The first row in ``r`` (RFC 2741 7.2.3.2), else endOfMibView at its start."""
        at = bisect.bisect_left if r.include else bisect.bisect_right
        i = at(self.oids, r.start)
        if i < len(self.oids) and (not r.end or self.oids[i] < r.end):
            return self.rows[i]
        return VarBind(r.start, ax.END_OF_MIB_VIEW)

    def answer(self, pdu: ax.Pdu) -> list[VarBind]:
        kind = pdu.header.type
        if kind == ax.GET:
            return [self.get(r.start) for r in pdu.ranges]
        if kind == ax.GETNEXT:
            return [self.next(r) for r in pdu.ranges]
        # GetBulk: the non-repeaters once, then the repeaters round by round (RFC 2741 7.2.3.3).
        out = [self.next(r) for r in pdu.ranges[:pdu.non_repeaters]]
        repeat = list(pdu.ranges[pdu.non_repeaters:])
        for _ in range(max(pdu.max_repetitions, 0)):
            if not repeat:
                break
            found = [self.next(r) for r in repeat]
            out += found
            if all(v.type == ax.END_OF_MIB_VIEW for v in found):
                break
            repeat = [SearchRange(v.oid, r.end, False) for v, r in zip(found, repeat)]
        return out


# ---- values, as the tables write them ------------------------------------------------------

def string(oid: OID, text: str | bytes) -> VarBind:
    return VarBind(oid, ax.OCTET_STRING, text.encode() if isinstance(text, str) else text)


def integer(oid: OID, n: int) -> VarBind:
    return VarBind(oid, ax.INTEGER, int(n))


def gauge(oid: OID, n: int) -> VarBind:
    return VarBind(oid, ax.GAUGE32, int(n))


def counter(oid: OID, n: int) -> VarBind:
    return VarBind(oid, ax.COUNTER32, int(n))


def counter64(oid: OID, n: int) -> VarBind:
    return VarBind(oid, ax.COUNTER64, int(n))


def ticks(oid: OID, n: int) -> VarBind:
    return VarBind(oid, ax.TIME_TICKS, int(n))


def ip(oid: OID, address: str) -> VarBind:
    return VarBind(oid, ax.IP_ADDRESS, packed(address) if address else b"\0\0\0\0")


def packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def truth(flag: object) -> int:
    """SNMPv2-TC's TruthValue (and keepalived's enabled/disabled): 1 true, 2 false."""
    return 1 if flag else 2
