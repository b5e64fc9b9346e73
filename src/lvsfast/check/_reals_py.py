"""Pure-Python twin of ``lvsfast._core.checker_reals``: the checker's bookkeeping of real servers
at a load."""
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
    new virtual server, real server and keys; a new one without checkers is made here by
    ``new_real((vs, rs, keys, []))``. A new one with checkers gets None for now, keeping its
    place, and is returned, in order, as (key, vs, rs, keys) for the caller to set up."""
    todo = []
    for key, (vs, rs, keys) in wanted.items():
        real = reals.get(key)
        if real is not None:
            real.vs, real.rs, real.keys = vs, rs, keys
        elif not rs.checkers:
            reals[key] = new_real((vs, rs, keys, []))
        else:
            reals[key] = None
            todo.append((key, vs, rs, keys))
    return todo
