# cython: language_level=3
"""The checker's bookkeeping of real servers at a load, compiled; twin: ``lvsfast.check._reals_py``.

A load walks every real server twice: to name what the config wants, and to keep, make or
hand over each one's Real. With 100,000 real servers both loops were a large part of a reload.
"""


cpdef str real_name(str address, port):
    """How a real server is named in logs and in the checker's keys: ``ADDR:PORT``, ``[ADDR]:PORT``
    for IPv6, port 0 when it has none."""
    if u":" in address:
        return f"[{address}]:{port or 0}"
    return f"{address}:{port or 0}"


def wanted_reals(virtual_servers, dict keys_of, dict wanted):
    """Into ``wanted``: (virtual server name, real server name) -> (virtual server, real server,
    its service keys) for every real server, in order (a later duplicate takes the earlier's
    place). ``keys_of``: id(virtual server) -> its service keys."""
    for vs in virtual_servers:
        vname = vs.name
        keys = keys_of[id(vs)]
        for rs in vs.real_servers:
            wanted[(vname, real_name(rs.address, rs.port))] = (vs, rs, keys)


def place_reals(dict wanted, dict reals, new_real):
    """Bring ``reals`` (key -> Real) to ``wanted``'s real servers: a Real already there takes the
    new virtual server, real server and keys; a new one is made here by
    ``new_real((vs, rs, keys, []))``. The new ones with checkers are returned, in order, for the
    caller to give them their checks."""
    cdef list todo = []
    cdef tuple entry
    for key, entry in wanted.items():
        vs, rs, keys = entry
        real = reals.get(key)
        if real is not None:
            real.vs = vs
            real.rs = rs
            real.keys = keys
            continue
        real = reals[key] = new_real((vs, rs, keys, []))
        if rs.checkers:
            todo.append(real)
    return todo


def group_by_vs(reals, dict name_of):
    """Each Real of ``reals`` under its virtual server's name, in order: ``name_of`` maps
    id(virtual server) to its name (a virtual server missing from it is asked its name)."""
    cdef dict out = {}
    cdef list bucket
    for real in reals:
        vs = real.vs
        name = name_of.get(id(vs))
        if name is None:
            name = vs.name
        bucket = out.get(name)
        if bucket is None:
            out[name] = bucket = []
        bucket.append(real)
    return out


def split_checked(list reals):
    """(total weight of the Reals without checks, the Reals with checks in order): the first are
    up at their configured weight, so only the others need a look."""
    cdef list checked = []
    total = 0
    for real in reals:
        if real.checks:
            checked.append(real)
        else:
            total += real.rs.weight
    return total, checked
