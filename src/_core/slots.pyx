# Filling the slots of a frozen dataclass's instance: values stored at each slot's offset in
# the object, as the slot's own descriptor would store them, without a call per field.
# Twin: lvsfast/_slots_py.py. Both must build equal instances and raise the same TypeErrors;
# tests/test_frozen.py runs them side by side.
#
# Why: a frozen dataclass can only be filled through each slot's descriptor (its __setattr__
# refuses), one Python-level call per field. A real server has 26 fields and a 100,000-server
# config makes 100,000 of them, and as many Dests and DestKeys for the kernel's table.
from cpython.object cimport PyObject, PyObject_Hash, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdlib cimport free, malloc

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    PyTypeObject PyMemberDescr_Type

cdef extern from "structmember.h":
    int T_OBJECT_EX
    int READONLY

cdef object MISSING = object()
cdef tuple NO_ARGS = ()


cdef Py_ssize_t _offset(type cls, str name) except -1:
    cdef object d = None
    for klass in cls.__mro__:
        d = klass.__dict__.get(name)
        if d is not None:
            break
    if d is None or type(d) is not <type>&PyMemberDescr_Type:
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    cdef PyMemberDef *m = (<PyMemberDescrObject *>d).d_member
    if m.type != T_OBJECT_EX or m.flags & READONLY:
        raise TypeError(f"{cls.__name__}.{name} is not a writable object slot")
    return m.offset


cdef class SlotPlan:
    """How to fill ``cls``'s fields: ``names`` in order, each with its default (or MISSING) and
    its default factory (or None)."""

    cdef readonly type cls
    cdef readonly tuple names
    cdef tuple defaults
    cdef tuple factories
    cdef Py_ssize_t n
    cdef Py_ssize_t *offsets
    cdef Py_ssize_t n_hash
    cdef Py_ssize_t *hash_offsets

    def __cinit__(self, type cls, tuple names, tuple defaults, tuple factories):
        if not (len(names) == len(defaults) == len(factories)):
            raise ValueError("names, defaults and factories differ in length")
        self.n = len(names)
        self.offsets = <Py_ssize_t *>malloc(max(self.n, 1) * sizeof(Py_ssize_t))
        if self.offsets == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.offsets[i] = _offset(cls, names[i])
        self.cls = cls
        self.names = names
        self.defaults = defaults
        self.factories = factories

    def __dealloc__(self):
        free(self.offsets)
        free(self.hash_offsets)

    @property
    def offsets(self):
        """Each field's slot offset in an instance, in order (for compiled makers that fill an
        instance themselves)."""
        return tuple([self.offsets[i] for i in range(self.n)])

    def hash_fields(self, tuple indices):
        """Which fields (their indices in ``names``) :func:`field_hash` hashes, in order."""
        cdef Py_ssize_t *offs = <Py_ssize_t *>malloc(max(len(indices), 1) * sizeof(Py_ssize_t))
        if offs == NULL:
            raise MemoryError()
        for k in range(len(indices)):
            i = indices[k]
            if not 0 <= i < self.n:
                free(offs)
                raise IndexError(f"field index {i} out of range")
            offs[k] = self.offsets[i]
        free(self.hash_offsets)
        self.hash_offsets = offs
        self.n_hash = len(indices)

    cdef Py_hash_t _hash(self, object obj) except? -1:
        cdef tuple t = PyTuple_New(self.n_hash)
        cdef PyObject *v
        for k in range(self.n_hash):
            v = (<PyObject **>((<char *><PyObject *>obj) + self.hash_offsets[k]))[0]
            if v == NULL:
                raise AttributeError(f"{type(obj).__name__} instance is not filled in")
            Py_INCREF(<object>v)
            PyTuple_SET_ITEM(t, k, <object>v)
        return PyObject_Hash(t)

    cdef inline void _store(self, object obj, Py_ssize_t i, object value):
        cdef PyObject **p = <PyObject **>((<char *><PyObject *>obj) + self.offsets[i])
        cdef PyObject *old = p[0]
        Py_INCREF(value)
        p[0] = <PyObject *>value
        Py_XDECREF(old)

    def fill(self, obj, tuple values):
        """Store ``values`` (one per field, in order) into ``obj``, an instance of ``cls``."""
        if not isinstance(obj, self.cls):
            raise TypeError(f"fill: {type(obj).__name__} is not a {self.cls.__name__}")
        if len(values) != self.n:
            raise TypeError(f"{self.cls.__name__}: {len(values)} values for {self.n} fields")
        for i in range(self.n):
            self._store(obj, i, values[i])

    cdef inline object _blank(self):
        # cls.__new__(cls), without looking __new__ up and calling it through Python.
        return (<PyTypeObject *>self.cls).tp_new(self.cls, <PyObject *>NO_ARGS, NULL)

    def new(self, tuple values):
        """A new instance holding ``values``, without calling ``__init__``."""
        if len(values) != self.n:
            raise TypeError(f"{self.cls.__name__}: {len(values)} values for {self.n} fields")
        obj = self._blank()
        for i in range(self.n):
            self._store(obj, i, values[i])
        return obj

    def from_mapping(self, dict given):
        """A new instance from field name -> value, with the defaults and factories for the
        rest, as ``cls(**given)`` would make it (an unknown or missing name is a TypeError)."""
        cdef Py_ssize_t used = 0
        obj = self._blank()
        for i in range(self.n):
            name = self.names[i]
            v = given.get(name, MISSING)
            if v is not MISSING:
                used += 1
            else:
                f = self.factories[i]
                if f is not None:
                    v = f()
                else:
                    v = self.defaults[i]
                    if v is MISSING:
                        raise TypeError(f"{self.cls.__name__}() missing required argument: '{name}'")
            self._store(obj, i, v)
        if used != len(given):
            extra = sorted(set(given) - set(self.names))
            raise TypeError(f"{self.cls.__name__}() got an unexpected keyword argument '{extra[0]}'")
        return obj


def field_hash(self):
    """``hash`` of the tuple of the hashed fields, as the dataclass's own ``__hash__`` computes
    it, without a Python frame: dicts keyed by real servers and services hash them a few times
    each per reload."""
    p = getattr(type(self), "__slot_plan__", None)
    if not isinstance(p, SlotPlan) or not isinstance(self, (<SlotPlan>p).cls):
        raise TypeError(f"field_hash: {type(self).__name__} has no slot plan of its own")
    return (<SlotPlan>p)._hash(self)


def missing():
    """The marker for a field without a default."""
    return MISSING
