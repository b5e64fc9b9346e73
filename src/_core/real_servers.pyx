# cython: language_level=3
"""The config builder's real_server blocks, compiled; twin: ``lvsfast.config._real_servers_py``.

A large config is mostly real servers that say no more than their address, port and weight.
:class:`RealServerMaker` makes those RealServers itself, from the block's statements, with the
values the virtual server hands down. Any other block (another keyword, a checker, a value
out of range, a bad address) goes to the builder's own path, ``slow``, which also says what
is wrong: this fast path never judges, it only recognises what needs no judging.
"""
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.object cimport PyObject, PyTypeObject

#: The RealServer fields this path may fill, besides the defaults.
FIELDS = ("address", "port", "family", "weight", "inhibit_on_failure", "uthreshold", "lthreshold",
          "drain_timeout", "keyword_lines", "file", "line")

cdef long long WEIGHT_MAX = 2**31 - 1
cdef tuple NO_ARGS = ()
include "includes/real_servers_consts.pxi"


cdef class RealServerMaker:
    """Made once per build: ``plan`` is RealServer's slot plan, ``defaults`` its field values
    when not given, ``parse_ip`` the builder's (cached) address parser."""

    cdef object plan_new
    cdef tuple base
    cdef Py_ssize_t n_fields
    # With the compiled slot plan (its offsets): the instance is made and filled here, slot by
    # slot; else the values go to the plan as a tuple.
    cdef type cls
    cdef Py_ssize_t offsets[MAX_FIELDS]
    cdef object parse_ip
    cdef Py_ssize_t i_address, i_port, i_family, i_weight, i_inhibit, i_uth, i_lth, i_drain
    cdef Py_ssize_t i_lines, i_file, i_line

    def __init__(self, plan, tuple names, tuple defaults, parse_ip):
        if not len(names) == len(defaults) <= MAX_FIELDS:
            raise ValueError(f"RealServerMaker: {len(names)} fields, {len(defaults)} defaults (at most {MAX_FIELDS})")
        self.plan_new = plan.new
        self.base = defaults
        self.n_fields = len(names)
        self.cls = None
        offsets = getattr(plan, "offsets", None)
        if offsets is not None and len(offsets) == len(names):
            self.cls = plan.cls
            for i, off in enumerate(offsets):
                self.offsets[i] = off
        self.parse_ip = parse_ip
        idx = {n: i for i, n in enumerate(names)}
        (self.i_address, self.i_port, self.i_family, self.i_weight, self.i_inhibit, self.i_uth, self.i_lth,
         self.i_drain, self.i_lines, self.i_file, self.i_line) = [idx[f] for f in FIELDS]

    cdef object _number(self, tuple node, long long hi):
        """The statement's first argument when it is a plain 0..hi number, else None."""
        cdef tuple args = <tuple>node[ARGS]
        if node[CHILDREN] is not None or len(args) == 0:
            return None
        text = args[0]
        if (<str>text).startswith("-"):
            return None
        try:
            v = int(text, 10)
        except ValueError:
            return None
        if not 0 <= v <= hi:
            return None
        return v

    cdef object _quick(self, tuple c, tuple inherit, bint tunnelled):
        cdef tuple args = <tuple>c[ARGS]
        cdef object children = c[CHILDREN]
        cdef tuple k
        if len(args) == 0 or children is None:
            return None
        try:
            address, family = self.parse_ip(args[0])
        except Exception:
            return None
        inhibit, drain, vs_family, vs_port = inherit
        if len(args) > 1:
            try:
                port = int(args[1], 10)
            except ValueError:
                return None
            if not 0 <= port <= 65535:
                return None
        else:
            port = vs_port
        if vs_family is not None and family != vs_family and not tunnelled:
            return None
        weight, uth, lth = 1, 0, 0
        cdef Py_ssize_t n = len(<tuple>children)
        cdef tuple lines = PyTuple_New(n)
        cdef Py_ssize_t j
        for j in range(n):
            k = <tuple>(<tuple>children)[j]
            kw = k[KEYWORD]
            if kw == "weight":
                weight = self._number(k, WEIGHT_MAX)
                if weight is None:
                    return None
            elif kw == "uthreshold":
                uth = self._number(k, WEIGHT_MAX)
                if uth is None:
                    return None
            elif kw == "lthreshold":
                lth = self._number(k, WEIGHT_MAX)
                if lth is None:
                    return None
            else:
                return None
            pair = (kw, k[LINE])
            Py_INCREF(pair)
            PyTuple_SET_ITEM(lines, j, pair)
        return self._made(address, port, family, weight, inhibit, uth, lth, drain, lines, c[FILE], c[LINE])

    cdef object _made(self, address, port, family, weight, inhibit, uth, lth, drain, lines, file, line):
        cdef PyObject *vals[MAX_FIELDS]
        cdef Py_ssize_t j
        cdef tuple base = self.base
        for j in range(self.n_fields):
            vals[j] = <PyObject *>base[j]
        vals[self.i_address] = <PyObject *>address
        vals[self.i_port] = <PyObject *>port
        vals[self.i_family] = <PyObject *>family
        vals[self.i_weight] = <PyObject *>weight
        vals[self.i_inhibit] = <PyObject *>inhibit
        vals[self.i_uth] = <PyObject *>uth
        vals[self.i_lth] = <PyObject *>lth
        vals[self.i_drain] = <PyObject *>drain
        vals[self.i_lines] = <PyObject *>lines
        vals[self.i_file] = <PyObject *>file
        vals[self.i_line] = <PyObject *>line
        cdef tuple values
        if self.cls is None:
            values = PyTuple_New(self.n_fields)
            for j in range(self.n_fields):
                Py_INCREF(<object>vals[j])
                PyTuple_SET_ITEM(values, j, <object>vals[j])
            return self.plan_new(values)
        obj = (<PyTypeObject *>self.cls).tp_new(self.cls, <PyObject *>NO_ARGS, NULL)
        cdef char *at = <char *><PyObject *>obj
        for j in range(self.n_fields):
            Py_INCREF(<object>vals[j])
            (<PyObject **>(at + self.offsets[j]))[0] = vals[j]  # a new instance's slots are empty
        return obj

    def make_all(self, list nodes, tuple inherit, bint tunnelled, slow, duplicate):
        """The real servers of one virtual server, in order, each address and port once.

        ``inherit``: the virtual server's inhibit_on_failure, drain_timeout, address family
        (None without an address) and port; ``tunnelled``: its forwarding is TUN. ``slow(node)``
        makes a RealServer the long way (or None, having said why); ``duplicate(node, rs)`` is
        told of a second real server on an address and port, which is left out."""
        cdef set seen = set()
        cdef list out = []
        for c in nodes:
            rs = self._quick(<tuple>c, inherit, tunnelled)
            if rs is None:
                rs = slow(c)
                if rs is None:
                    continue
            key = (rs.address, rs.port)
            if key in seen:
                duplicate(c, rs)
                continue
            seen.add(key)
            out.append(rs)
        return tuple(out)
