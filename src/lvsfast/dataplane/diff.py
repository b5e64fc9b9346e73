"""The smallest set of operations that turns the kernel's table into the desired one.

A changed weight or threshold is an edit (IPVS SET_DEST), never a delete and re-add, so
established connections survive. A changed forwarding method or tunnel type is also an edit,
as the kernel allows. A service whose key changes is a different service.
"""
from __future__ import annotations

from typing import AbstractSet, Literal, NamedTuple

from lvsfast.dataplane.dest_table import add_dest_ops
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table

OpKind = Literal["add_service", "edit_service", "del_service", "add_dest", "edit_dest", "del_dest"]


class Op(NamedTuple):
    """One change to the kernel's table. A named tuple rather than a frozen dataclass: loading
    100,000 real servers makes 100,000 of these, and a tuple is built four times faster."""

    kind: OpKind
    service: ServiceKey
    svc: Service | None = None
    dest: Dest | None = None
    dest_key: DestKey | None = None

    def __str__(self) -> str:
        tail = f" -> {self.dest_key or (self.dest.key if self.dest else '')}" if (self.dest or self.dest_key) else ""
        return f"{self.kind} {self.service}{tail}"


def diff(current: Table, desired: Table, *, owned: AbstractSet[ServiceKey] | None = None) -> list[Op]:
    """Operations, in a safe order, to make ``current`` equal ``desired``.

    ``owned`` limits deletions of whole services to those lvsfast owns (None: every service in
    ``current`` that is not desired is ours to delete). Order: new services, dest changes, then
    deletions of dests and services, so traffic always has somewhere to go.
    """
    ops: list[Op] = []
    for skey, svc in desired.services.items():
        have = current.services.get(skey)
        if have is None:
            ops.append(Op("add_service", skey, svc))
        elif have != svc:
            ops.append(Op("edit_service", skey, svc))
    removals: list[Op] = []
    for skey in desired.services:
        want = desired.dests.get(skey, {})
        have = current.dests.get(skey, {}) if skey in current.services else {}
        if not have:
            # A new service (a load is 100,000 of these real servers): every one is an add.
            add_dest_ops(ops, Op, skey, want.values())
            continue
        for dkey, dest in want.items():
            old = have.get(dkey)
            if old is None:
                ops.append(Op("add_dest", skey, None, dest))
            elif old != dest:
                ops.append(Op("edit_dest", skey, None, dest))
        for dkey in have.keys() - want.keys():
            removals.append(Op("del_dest", skey, dest_key=dkey))
    for skey in current.services.keys() - desired.services.keys():
        if owned is None or skey in owned:
            removals.append(Op("del_service", skey))
    return ops + sorted(removals, key=lambda op: (op.kind != "del_dest", str(op.service)))
