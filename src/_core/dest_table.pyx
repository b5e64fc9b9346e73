# cython: language_level=3
"""The checker's full table, compiled: a Dest for every real server of a service; twin:
``lvsfast.dataplane._dest_table_py``.

Run once per config for each service key, over every real server: with 100,000 of them this
loop was the largest part of building the table a reload applies.
"""
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF


cdef inline void _put(tuple t, Py_ssize_t i, object v):
    Py_INCREF(v)
    PyTuple_SET_ITEM(t, i, v)


cdef class DestMaker:
    """``key_plan`` and ``dest_plan``: the slot plans of DestKey and Dest (fields in order: key,
    weight, the six forwarding fields, u_threshold, l_threshold)."""

    cdef object key_new
    cdef object dest_new

    def __init__(self, key_plan, dest_plan):
        self.key_new = key_plan.new
        self.dest_new = dest_plan.new

    def rows(self, tuple real_servers, tuple vs_forwarding, canonical_address, forwarding):
        """(real server, canonical address, forwarding fields) for each of ``real_servers``: its
        own method's fields (``forwarding(method)``) or else the virtual server's."""
        cdef list out = []
        for rs in real_servers:
            own = rs.forwarding
            out.append((rs, canonical_address(rs.address), vs_forwarding if own is None else forwarding(own)))
        return out

    def add_all(self, dict inner, list reals, key, dict drains):
        """For each (real server, canonical address, forwarding fields) of ``reals``, its Dest
        under ``key`` into ``inner`` (by DestKey), and its drain_timeout into ``drains`` (by
        (key, DestKey)) unless ``drains`` is None. A real server without a port takes the
        service's."""
        cdef tuple row, fwd, values
        cdef Py_ssize_t i
        key_port = key.port
        for row in reals:
            rs = row[0]
            port = rs.port
            if port is None:
                port = key_port
            dk = self.key_new((row[1], port))
            fwd = <tuple>row[2]
            values = PyTuple_New(10)
            _put(values, 0, dk)
            _put(values, 1, rs.weight)
            for i in range(6):
                _put(values, 2 + i, fwd[i])
            _put(values, 8, rs.uthreshold)
            _put(values, 9, rs.lthreshold)
            inner[dk] = self.dest_new(values)
            if drains is not None:
                drains[(key, dk)] = rs.drain_timeout


def add_dest_ops(list ops, op_type, skey, dests):
    """Append ``op_type("add_dest", skey, None, dest, None)`` to ``ops`` for each of ``dests``:
    a new service's real servers, 100,000 of them in a large load (``op_type`` is the diff's
    Op, a named tuple, made here without its Python-level __new__)."""
    for dest in dests:
        ops.append(tuple.__new__(op_type, ("add_dest", skey, None, dest, None)))
