# cython: language_level=3
"""The config builder's real_server blocks, compiled; twin: ``lvsfast.config._real_servers_py``.

A large config is mostly real servers that say no more than their address, port and weight.
:class:`RealServerMaker` makes those RealServers itself, from the block's statements, with the
values the virtual server hands down. Any other block (another keyword, a checker, a value
out of range, a bad address) goes to the builder's own path, ``slow``, which also says what
is wrong: this fast path never judges, it only recognises what needs no judging.
"""
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.object cimport PyObject, PyTypeObject

cdef extern from "Python.h":
    ctypedef struct PyTupleObject:
        PyObject *ob_item[1]

#: The RealServer fields this path may fill, besides the defaults.
FIELDS = ("address", "port", "family", "weight", "inhibit_on_failure", "uthreshold", "lthreshold",
          "drain_timeout", "keyword_lines", "file", "line")

cdef long long WEIGHT_MAX = 2**31 - 1
cdef tuple NO_ARGS = ()
DEF MAX_FIELDS = 64

# Indices into a Node (a NamedTuple: keyword, args, file, line, children, end_line).
DEF KEYWORD = 0
DEF ARGS = 1
DEF FILE = 2
DEF LINE = 3
DEF CHILDREN = 4


cdef inline void _put(tuple t, Py_ssize_t i, object v):
    Py_INCREF(v)
    PyTuple_SET_ITEM(t, i, v)


cdef inline void _replace(tuple t, Py_ssize_t i, object v):
    # Only on a tuple this module has just made and not handed out.
    cdef PyObject **items = <PyObject **>&(<PyTupleObject *>t).ob_item[0]
    Py_INCREF(v)
    Py_XDECREF(items[i])
    items[i] = <PyObject *>v


cdef class RealServerMaker:
    """Made once per build: ``plan`` is RealServer's slot plan, ``defaults`` its field values
    when not given, ``parse_ip`` the builder's (cached) address parser."""

    cdef object plan_new
    cdef tuple base
    # With the compiled slot plan: the instance is made and filled here, slot by slot.
    cdef type cls
    cdef Py_ssize_t n_fields
    cdef Py_ssize_t offsets[MAX_FIELDS]
    cdef object parse_ip
    cdef Py_ssize_t i_address, i_port, i_family, i_weight, i_inhibit, i_uth, i_lth, i_drain
    cdef Py_ssize_t i_lines, i_file, i_line

    def __init__(self, plan, tuple names, tuple defaults, parse_ip):
        self.plan_new = plan.new
        self.base = defaults
        self.cls = None
        offsets = getattr(plan, "offsets", None)
        if offsets is not None and len(offsets) == len(names) <= MAX_FIELDS:
            self.cls = plan.cls
            self.n_fields = len(offsets)
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
        cdef tuple base = self.base
        cdef Py_ssize_t size = len(base)
        if self.cls is not None:
            return self._made(base, address, port, family, weight, inhibit, uth, lth, drain, lines, c[FILE],
                              c[LINE])
        cdef tuple values = PyTuple_New(size)
        for j in range(size):
            _put(values, j, base[j])
        _replace(values, self.i_address, address)
        _replace(values, self.i_port, port)
        _replace(values, self.i_family, family)
        _replace(values, self.i_weight, weight)
        _replace(values, self.i_inhibit, inhibit)
        _replace(values, self.i_uth, uth)
        _replace(values, self.i_lth, lth)
        _replace(values, self.i_drain, drain)
        _replace(values, self.i_lines, lines)
        _replace(values, self.i_file, c[FILE])
        _replace(values, self.i_line, c[LINE])
        return self.plan_new(values)

    cdef object _made(self, tuple base, address, port, family, weight, inhibit, uth, lth, drain, lines, file,
                      line):
        cdef PyObject *vals[MAX_FIELDS]
        cdef Py_ssize_t j
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
