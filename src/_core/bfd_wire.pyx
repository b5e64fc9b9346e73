# BFD control packets (RFC 5880 §4.1): decode with the §6.8.6 checks that need no session, encode.
# Twin: lvsfast/bfd/_wire_py.py. Both give identical results (packets, drop reasons, errors) for
# every input; tests/bfd/test_bfd_wire.py runs one suite over both and a differential fuzz.
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyTypeObject
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE

from lvsfast.bfd.wire_types import ControlPacket, rejection

__all__ = ["decode", "decode_batch", "encode", "reject_reason"]

cdef extern from *:
    """
    static inline unsigned long lvsfast_be32(const unsigned char *p) {
        return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) | ((unsigned long)p[2] << 8) | p[3];
    }
    /* The decoded packet is a NamedTuple: made here as its type's own allocator makes it and
       filled in place, which skips the generated __new__ (a Python call with 16 arguments). */
    static PyObject *lvsfast_bfd_last;  /* the last tuple built, and its bytes */
    static unsigned char lvsfast_bfd_last_key[24];
    static PyObject *lvsfast_bfd_build(PyTypeObject *tp, const unsigned char *p) {
        PyObject *t = tp->tp_alloc(tp, 16), *o;
        unsigned int b0 = p[0], b1 = p[1], i;
        if (t == NULL)
            return NULL;
    #define LVSFAST_SET(i, v) do { o = (v); if (o == NULL) { Py_DECREF(t); return NULL; } \
                                   PyTuple_SET_ITEM(t, i, o); } while (0)
        LVSFAST_SET(0, PyLong_FromLong(b0 >> 5));
        LVSFAST_SET(1, PyLong_FromLong(b0 & 31));
        LVSFAST_SET(2, PyLong_FromLong(b1 >> 6));
        for (i = 0; i < 6; i++)  /* P F C A D M */
            LVSFAST_SET(3 + i, PyBool_FromLong(b1 & (0x20 >> i)));
        LVSFAST_SET(9, PyLong_FromLong(p[2]));
        LVSFAST_SET(10, PyLong_FromLong(p[3]));
        for (i = 0; i < 5; i++) {
            /* Sessions mostly share their intervals: a field equal to the last packet built's
               takes that packet's int instead of a fresh one. */
            if (lvsfast_bfd_last != NULL && memcmp(lvsfast_bfd_last_key + 4 + 4 * i, p + 4 + 4 * i, 4) == 0) {
                o = PyTuple_GET_ITEM(lvsfast_bfd_last, 11 + i);
                Py_INCREF(o);
                PyTuple_SET_ITEM(t, 11 + i, o);
            } else {
                LVSFAST_SET(11 + i, PyLong_FromUnsignedLong(lvsfast_be32(p + 4 + 4 * i)));
            }
        }
    #undef LVSFAST_SET
        Py_XDECREF(lvsfast_bfd_last);
        Py_INCREF(t);
        lvsfast_bfd_last = t;
        memcpy(lvsfast_bfd_last_key, p, 24);
        return t;
    }
    /* A peer's packets repeat byte for byte while nothing changes (same state, discriminators,
       timers), and the decoded tuple is immutable: a small direct-mapped memo, keyed by the
       discriminators, hands the same tuple back for the same 24 bytes. Building the tuple costs
       several times the rest of decode (its five 32-bit fields are fresh ints); only the object's
       identity can tell a memo hit from a fresh build. A slot's tuple that nobody else holds
       any more (the caller dropped it) is refilled in place, as zip() reuses its result tuple,
       keeping the ints of the fields that did not change. */
    #define LVSFAST_BFD_MEMO 64
    static unsigned char lvsfast_bfd_memo_key[LVSFAST_BFD_MEMO][24];
    static PyObject *lvsfast_bfd_memo_obj[LVSFAST_BFD_MEMO];
    /* Overwrite in place an int that only the memo's tuple holds (nobody can see it change),
       when the new value needs as many digits and is not one of the shared small ints: a
       packet with new discriminators then costs no allocation. CPython 3.11's int layout
       only; elsewhere, and in every other case, a fresh int. */
    static inline int lvsfast_bfd_reuse_int(PyObject *o, unsigned long v) {
    #if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && PyLong_SHIFT == 30
        if (Py_REFCNT(o) == 1 && PyLong_CheckExact(o) && v > 256 &&
                Py_SIZE(o) == (v >> 30 ? 2 : 1)) {
            ((PyLongObject *)o)->ob_digit[0] = (digit)(v & PyLong_MASK);
            if (v >> 30)
                ((PyLongObject *)o)->ob_digit[1] = (digit)(v >> 30);
            return 1;
        }
    #endif
        return 0;
    }
    static int lvsfast_bfd_refill(PyObject *t, const unsigned char *old, const unsigned char *p) {
        unsigned int b0 = p[0], b1 = p[1], i;
        PyObject *small[11], *o;
        if (memcmp(old + 4, p + 4, 20) != 0) {
            PyObject *big[5];
            for (i = 0; i < 5; i++) {
                if (memcmp(old + 4 + 4 * i, p + 4 + 4 * i, 4) == 0 ||
                        lvsfast_bfd_reuse_int(PyTuple_GET_ITEM(t, 11 + i), lvsfast_be32(p + 4 + 4 * i))) {
                    big[i] = NULL;
                } else if ((big[i] = PyLong_FromUnsignedLong(lvsfast_be32(p + 4 + 4 * i))) == NULL) {
                    while (i--)
                        Py_XDECREF(big[i]);
                    return -1;
                }
            }
            for (i = 0; i < 5; i++) {
                if (big[i] != NULL) {
                    o = PyTuple_GET_ITEM(t, 11 + i);
                    PyTuple_SET_ITEM(t, 11 + i, big[i]);
                    Py_DECREF(o);
                }
            }
        }
        if (memcmp(old, p, 4) == 0)
            return 0;
        /* Small ints and bools are the interpreter's own singletons: no allocation, no failure. */
        small[0] = PyLong_FromLong(b0 >> 5);
        small[1] = PyLong_FromLong(b0 & 31);
        small[2] = PyLong_FromLong(b1 >> 6);
        for (i = 0; i < 6; i++)
            small[3 + i] = PyBool_FromLong(b1 & (0x20 >> i));
        small[9] = PyLong_FromLong(p[2]);
        small[10] = PyLong_FromLong(p[3]);
        for (i = 0; i < 11; i++) {
            o = PyTuple_GET_ITEM(t, i);
            PyTuple_SET_ITEM(t, i, small[i]);
            Py_DECREF(o);
        }
        return 0;
    }
    static PyObject *lvsfast_bfd_packet(PyTypeObject *tp, const unsigned char *p) {
        unsigned int slot = (lvsfast_be32(p + 4) ^ lvsfast_be32(p + 8) * 2654435761u) >> 8 & (LVSFAST_BFD_MEMO - 1);
        PyObject *t = lvsfast_bfd_memo_obj[slot];
        if (t != NULL && memcmp(lvsfast_bfd_memo_key[slot], p, 24) == 0) {
            Py_INCREF(t);
            return t;
        }
        if (t != NULL && Py_REFCNT(t) == 1) {
            if (lvsfast_bfd_refill(t, lvsfast_bfd_memo_key[slot], p) < 0)
                return NULL;
        } else {
            t = lvsfast_bfd_build(tp, p);
            if (t == NULL)
                return NULL;
            Py_XDECREF(lvsfast_bfd_memo_obj[slot]);
            lvsfast_bfd_memo_obj[slot] = t;
        }
        memcpy(lvsfast_bfd_memo_key[slot], p, 24);
        Py_INCREF(t);
        return t;
    }
    """
    unsigned long lvsfast_be32(const unsigned char *p) noexcept nogil
    object lvsfast_bfd_packet(PyTypeObject *tp, const unsigned char *p)


# Indexes into REASONS (wire_types.REASONS, same order); 0 is a valid packet.
cdef enum:
    OK = 0
    R_VERSION
    R_LENGTH
    R_DETECT_MULT
    R_MULTIPOINT
    R_MY_DISC
    R_YOUR_DISC_ZERO_STATE
    R_AUTH_MISMATCH
    R_POLL_FINAL

cdef tuple REASON_NAMES = ("", "version", "length", "detect_mult", "multipoint", "my_disc", "your_disc_zero_state",
                           "auth_mismatch", "poll_final")
cdef PyTypeObject *PACKET_TYPE = <PyTypeObject *>ControlPacket
cdef object _rejection = rejection


cdef inline int _reason(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    cdef unsigned int b1
    if n and p[0] >> 5 != 1:
        return R_VERSION
    if n < 24:
        return R_LENGTH
    b1 = p[1]
    if p[3] < (26 if b1 & 0x04 else 24) or p[3] > n:
        return R_LENGTH
    if p[2] == 0:
        return R_DETECT_MULT
    if b1 & 0x01:
        return R_MULTIPOINT
    if lvsfast_be32(p + 4) == 0:
        return R_MY_DISC
    if b1 >> 6 >= 2 and lvsfast_be32(p + 8) == 0:
        return R_YOUR_DISC_ZERO_STATE
    if b1 & 0x04:
        return R_AUTH_MISMATCH
    if b1 & 0x30 == 0x30:
        return R_POLL_FINAL
    return OK


cdef object _decode_view(object buf, bint raise_error):
    """Decode any buffer (not exact bytes); a drop raises, or returns its reason's name."""
    cdef Py_buffer view
    cdef int r
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        r = _reason(<const unsigned char *>view.buf, view.len)
        if r == OK:
            return lvsfast_bfd_packet(PACKET_TYPE, <const unsigned char *>view.buf)
    finally:
        PyBuffer_Release(&view)
    if raise_error:
        raise _rejection(REASON_NAMES[r], buf)
    return REASON_NAMES[r]


@cython.binding(False)
def reject_reason(buf):
    """Why decode would drop ``buf`` (one of wire_types.REASONS), or "" when it is valid."""
    cdef Py_buffer view
    cdef int r
    if PyBytes_CheckExact(buf):
        return REASON_NAMES[_reason(<const unsigned char *>PyBytes_AS_STRING(buf), PyBytes_GET_SIZE(buf))]
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    r = _reason(<const unsigned char *>view.buf, view.len)
    PyBuffer_Release(&view)
    return REASON_NAMES[r]


@cython.binding(False)
def decode(buf):
    """The packet in ``buf``, or :class:`BfdWireError` when RFC 5880 §6.8.6 says to discard it."""
    cdef const unsigned char *p
    cdef int r
    if PyBytes_CheckExact(buf):
        p = <const unsigned char *>PyBytes_AS_STRING(buf)
        r = _reason(p, PyBytes_GET_SIZE(buf))
        if r == OK:
            return lvsfast_bfd_packet(PACKET_TYPE, p)
        raise _rejection(REASON_NAMES[r], buf)
    return _decode_view(buf, True)


@cython.binding(False)
def decode_batch(items):
    """Decode many (as recvmmsg hands them over): each item a packet, or a tuple whose first
    element is the packet; each result the packet or the reason it was dropped, no exceptions."""
    cdef list out = []
    cdef const unsigned char *p
    cdef int r
    for item in items:
        buf = <object>PyTuple_GET_ITEM(item, 0) if PyTuple_CheckExact(item) and PyTuple_GET_SIZE(item) else \
            (item[0] if isinstance(item, tuple) else item)
        if PyBytes_CheckExact(buf):
            p = <const unsigned char *>PyBytes_AS_STRING(buf)
            r = _reason(p, PyBytes_GET_SIZE(buf))
            out.append(lvsfast_bfd_packet(PACKET_TYPE, p) if r == OK else REASON_NAMES[r])
        else:
            out.append(_decode_view(buf, False))
    return out


cdef inline void _put32(unsigned char *p, unsigned long long v) noexcept nogil:
    p[0] = (v >> 24) & 0xFF
    p[1] = (v >> 16) & 0xFF
    p[2] = (v >> 8) & 0xFF
    p[3] = v & 0xFF


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1
    bint PyLong_CheckExact(object o)


cdef unsigned long long _field_checked(str name, object value, long long high) except? 0xFFFFFFFFFFFFFFFF:
    # Compared as Python ints, so that any int out of range is a ValueError, as in the twin.
    if not 0 <= value <= high:
        raise ValueError(f"BFD {name} {value} out of range 0..{high}")
    if not isinstance(value, int):
        raise TypeError(f"BFD {name} must be an int, not {type(value).__name__}")
    return <unsigned long long>value


cdef inline unsigned long long _field(str name, object value, long long high) except? 0xFFFFFFFFFFFFFFFF:
    cdef int overflow = 0
    cdef long long v
    if PyLong_CheckExact(value):
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0 and 0 <= v <= high:
            return <unsigned long long>v
    return _field_checked(name, value, high)


def encode(state, diag, detect_mult, my_disc, your_disc, desired_min_tx, required_min_rx, *,
           bint poll=False, bint final=False, required_min_echo_rx=0):
    """A 24-byte version 1 control packet without authentication (intervals in microseconds)."""
    cdef unsigned long long sta = _field("state", state, 3)
    cdef unsigned long long dia = _field("diag", diag, 31)
    cdef unsigned long long mult = _field("detect_mult", detect_mult, 255)
    cdef unsigned long long my = _field("my_disc", my_disc, 0xFFFFFFFF)
    cdef unsigned long long your = _field("your_disc", your_disc, 0xFFFFFFFF)
    cdef unsigned long long tx = _field("desired_min_tx", desired_min_tx, 0xFFFFFFFF)
    cdef unsigned long long rx = _field("required_min_rx", required_min_rx, 0xFFFFFFFF)
    cdef unsigned long long echo = _field("required_min_echo_rx", required_min_echo_rx, 0xFFFFFFFF)
    out = PyBytes_FromStringAndSize(NULL, 24)
    cdef unsigned char *p = <unsigned char *>PyBytes_AS_STRING(out)
    p[0] = 0x20 | dia
    p[1] = (sta << 6) | (0x20 if poll else 0) | (0x10 if final else 0)
    p[2] = mult
    p[3] = 24
    _put32(p + 4, my)
    _put32(p + 8, your)
    _put32(p + 12, tx)
    _put32(p + 16, rx)
    _put32(p + 20, echo)
    return out
