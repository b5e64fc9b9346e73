"""The checker's bookkeeping of real servers at a load: their names, the wanted mapping, placing
kept and new Reals, and grouping them by virtual server.

Plain Python on purpose: a compiled form of these loops measured 1.1x (bench/test_bench_table.py),
the time being in the calls they make (slot plans, dict inserts), not in the loops themselves.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable


def real_name(address: str, port: int | None) -> str:
    """How a real server is named in logs and in the checker's keys: ``ADDR:PORT``, ``[ADDR]:PORT``
    for IPv6, port 0 when it has none."""
    return f"[{address}]:{port or 0}" if ":" in address else f"{address}:{port or 0}"


def wanted_reals(virtual_servers: Iterable[Any], keys_of: dict, wanted: dict) -> None:
    """Into ``wanted``: (virtual server name, real server name) -> (virtual server, real server,
    its service keys) for every real server, in order (a later duplicate takes the earlier's
    place). ``keys_of``: id(virtual server) -> its service keys."""
    for vs in virtual_servers:
        vname, keys = vs.name, keys_of[id(vs)]
        for rs in vs.real_servers:
            wanted[(vname, real_name(rs.address, rs.port))] = (vs, rs, keys)


def place_reals(wanted: dict, reals: dict, new_real: Callable) -> list:
    """Bring ``reals`` (key -> Real) to ``wanted``'s real servers: a Real already there takes the
    new virtual server, real server and keys; a new one is made here by
    ``new_real((vs, rs, keys, []))``. The new ones with checkers are returned, in order, for the
    caller to give them their checks."""
    todo = []
    for key, (vs, rs, keys) in wanted.items():
        real = reals.get(key)
        if real is not None:
            real.vs, real.rs, real.keys = vs, rs, keys
            continue
        real = reals[key] = new_real((vs, rs, keys, []))
        if rs.checkers:
            todo.append(real)
    return todo


def group_by_vs(reals: Iterable[Any], name_of: dict) -> dict:
    """Each Real of ``reals`` under its virtual server's name, in order: ``name_of`` maps
    id(virtual server) to its name (a virtual server missing from it is asked its name)."""
    out: dict = {}
    for real in reals:
        name = name_of.get(id(real.vs))
        out.setdefault(real.vs.name if name is None else name, []).append(real)
    return out


def split_checked(reals: list) -> tuple[int, list]:
    """(total weight of the Reals without checks, the Reals with checks in order): the first are
    up at their configured weight, so only the others need a look."""
    checked = []
    total = 0
    for real in reals:
        if real.checks:
            checked.append(real)
        else:
            total += real.rs.weight
    return total, checked
