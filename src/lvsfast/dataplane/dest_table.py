"""The full table's Dest loop (a Dest for every real server of a service) and the diff's new
real servers.

Plain Python on purpose: a compiled form measured 1.15x on the Dest loop (bench/test_bench_table.py),
whose time is in the slot plans and in hashing DestKeys, which both forms call alike.
"""
from __future__ import annotations

from typing import Any


class DestMaker:
    """``key_plan`` and ``dest_plan``: the slot plans of DestKey and Dest (fields in order: key,
    weight, the six forwarding fields, u_threshold, l_threshold)."""

    def __init__(self, key_plan: Any, dest_plan: Any) -> None:
        self._key_new = key_plan.new
        self._dest_new = dest_plan.new

    def rows(self, real_servers: tuple, vs_forwarding: tuple, canonical_address: Any, forwarding: Any) -> list:
        """(real server, canonical address, forwarding fields) for each of ``real_servers``: its
        own method's fields (``forwarding(method)``) or else the virtual server's."""
        return [(rs, canonical_address(rs.address), vs_forwarding if rs.forwarding is None else forwarding(rs.forwarding))
                for rs in real_servers]

    def add_all(self, inner: dict, reals: list, key: Any, drains: dict | None) -> None:
        """For each (real server, canonical address, forwarding fields) of ``reals``, its Dest
        under ``key`` into ``inner`` (by DestKey), and its drain_timeout into ``drains`` (by
        (key, DestKey)) unless ``drains`` is None. A real server without a port takes the
        service's."""
        for rs, address, fwd in reals:
            dk = self._key_new((address, rs.port if rs.port is not None else key.port))
            inner[dk] = self._dest_new((dk, rs.weight, *fwd, rs.uthreshold, rs.lthreshold))
            if drains is not None:
                drains[(key, dk)] = rs.drain_timeout


def add_dest_ops(ops: list, op_type: Any, skey: Any, dests: Any) -> None:
    """Append ``op_type("add_dest", skey, None, dest, None)`` to ``ops`` for each of ``dests``:
    a new service's real servers, 100,000 of them in a large load (``op_type`` is the diff's Op, a
    named tuple, made by ``tuple.__new__``: its own __new__ is a Python frame per op, 2x slower)."""
    new = tuple.__new__
    ops += [new(op_type, ("add_dest", skey, None, dest, None)) for dest in dests]
