# cython: language_level=3
"""The real servers of a large IPVS load, compiled; twin: ``lvsfast.ipvs._dest_msg_py``.

A load of 100,000 real servers is 100,000 NEW_DEST messages. :class:`DestMessages` writes a
non-tunnel real server's message in one buffer (the same bytes as ``wire``'s struct layout); a
tunnelled one, or a value the layout cannot hold, goes to ``wire``'s own encoder, which also
raises its errors. ``encode_run`` and ``track_run`` take the runs of real-server operations a
backend batch is made of, and ``all_canonical`` checks a service's real servers are in the
kernel's form, each without a Python call per real server.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE

cdef extern from "arpa/inet.h":
    uint16_t htons(uint16_t)

include "includes/ipvs_consts.pxi"


cdef inline char *_u16(char *p, uint16_t v):
    memcpy(p, &v, 2)
    return p + 2


cdef inline char *_u32(char *p, uint32_t v):
    memcpy(p, &v, 4)
    return p + 4


cdef inline char *_attr(char *p, uint16_t length, uint16_t kind):
    return _u16(_u16(p, length), kind)


cdef inline bint _in(object v, long long hi):
    return type(v) is int and 0 <= v <= hi


cdef inline bint _u32_value(object v):
    return _in(v, 0xFFFFFFFF)


cdef class DestMessages:
    """``dest_msg(family_id, cmd, key, dest, seq=0)``, as ``wire.dest_msg``. ``key_attrs`` and
    ``packed_addr`` are wire's (cached) service-key and address encoders, ``forwarding`` its
    method numbers, ``fallback`` its own dest_msg."""

    cdef object key_attrs
    cdef object packed_addr
    cdef dict forwarding
    cdef object fallback
    cdef object last_key
    cdef bytes last_attrs
    cdef dict addresses

    def __init__(self, key_attrs, packed_addr, dict forwarding, fallback):
        self.key_attrs = key_attrs
        self.packed_addr = packed_addr
        self.forwarding = forwarding
        self.fallback = fallback
        self.last_key = None
        self.last_attrs = None
        self.addresses = {}

    def __call__(self, family_id, cmd, key, dest, seq=0):
        return self._message(family_id, cmd, key, dest, seq)

    cdef object _message(self, family_id, cmd, key, dest, seq):
        forward = dest.forward
        fwd = self.forwarding.get(forward) if forward != "tun" else None
        dkey = dest.key
        port, weight, uth, lth = dkey.port, dest.weight, dest.u_threshold, dest.l_threshold
        if (fwd is None or not _in(port, 0xFFFF) or not _u32_value(weight)
                or not _u32_value(uth) or not _u32_value(lth) or not _in(family_id, 0xFFFF)
                or not _in(cmd, 0xFF) or not _u32_value(seq)):
            return self.fallback(family_id, cmd, key, dest, seq)
        # A load sends a service's real servers one after another: its attributes are reused.
        if key is not self.last_key:
            self.last_attrs = self.key_attrs(key)
            self.last_key = key
        cdef bytes attrs = self.last_attrs
        address = dkey.address
        packed = self.addresses.get(address)
        if packed is None:
            packed = self.packed_addr(address)
            if len(self.addresses) >= 65536:
                self.addresses.clear()
            self.addresses[address] = packed
        cdef Py_ssize_t n_key = PyBytes_GET_SIZE(attrs)
        cdef Py_ssize_t n_addr = PyBytes_GET_SIZE(<bytes>packed)
        cdef Py_ssize_t total = 20 + 4 + n_key + 56 + n_addr
        out = PyBytes_FromStringAndSize(NULL, total)
        cdef char *p = PyBytes_AS_STRING(out)
        # nlmsghdr: length, type (the family), flags, seq, pid; genlmsghdr: cmd, version, 0.
        p = _u32(p, <uint32_t>total)
        p = _u16(p, <uint16_t>family_id)
        p = _u16(p, NLM_F_REQUEST_ACK)
        p = _u32(p, <uint32_t>seq)
        p = _u32(p, 0)
        p[0] = <uint8_t>cmd
        p[1] = GENL_VERSION
        p = _u16(p + 2, 0)
        p = _attr(p, <uint16_t>(4 + n_key), IPVS_CMD_ATTR_SERVICE)
        memcpy(p, PyBytes_AS_STRING(attrs), n_key)
        p += n_key
        p = _attr(p, <uint16_t>(56 + n_addr), IPVS_CMD_ATTR_DEST)
        p = _attr(p, <uint16_t>(4 + n_addr), IPVS_DEST_ATTR_ADDR)
        memcpy(p, PyBytes_AS_STRING(<bytes>packed), n_addr)
        p += n_addr
        p = _attr(p, 6, IPVS_DEST_ATTR_PORT)
        p = _u16(p, htons(<uint16_t>port))
        p = _u16(p, 0)
        p = _u32(_attr(p, 8, IPVS_DEST_ATTR_FWD_METHOD), <uint32_t>fwd)
        p = _u32(_attr(p, 8, IPVS_DEST_ATTR_WEIGHT), <uint32_t>weight)
        p = _u32(_attr(p, 8, IPVS_DEST_ATTR_U_THRESH), <uint32_t>uth)
        p = _u32(_attr(p, 8, IPVS_DEST_ATTR_L_THRESH), <uint32_t>lth)
        p = _attr(p, 6, IPVS_DEST_ATTR_ADDR_FAMILY)
        p = _u16(p, AF_INET if n_addr == 4 else AF_INET6)
        _u16(p, 0)
        return out

    def encode_run(self, family_id, list ops, Py_ssize_t start, list msgs, Py_ssize_t size, Py_ssize_t limit):
        """Encode ``ops[start:end]``, a run of add_dest/edit_dest operations, appending their
        messages to ``msgs``; returns (end, size with theirs). The run ends before the first
        operation of another kind or one whose encoding raises (the caller encodes that one
        itself, and sees the error), or after the message that brings size to ``limit``."""
        cdef Py_ssize_t i, n = len(ops)
        cdef tuple op
        for i in range(start, n):
            if size >= limit:
                return i, size
            op = <tuple>ops[i]
            kind = op[0]
            if kind == "add_dest":
                cmd = NEW_DEST
            elif kind == "edit_dest":
                cmd = SET_DEST
            else:
                return i, size
            try:
                m = self._message(family_id, cmd, op[1], op[3], 0)
            except Exception:
                return i, size
            msgs.append(m)
            size += PyBytes_GET_SIZE(<bytes>m)
        return n, size


def track_run(list ops, Py_ssize_t start, dict dests):
    """Record ``ops[start:end]``, a run of add_dest/edit_dest operations the kernel took, in
    ``dests`` (service key -> {DestKey: Dest}); returns end, the first operation of another
    kind (or len(ops))."""
    cdef Py_ssize_t i, n = len(ops)
    cdef tuple op
    cdef dict inner = None
    last = None
    for i in range(start, n):
        op = <tuple>ops[i]
        kind = op[0]
        if kind != "add_dest" and kind != "edit_dest":
            return i
        k = op[1]
        if k is not last:
            inner = dests.get(k)
            if inner is None:
                inner = dests[k] = {}
            last = k
        dest = op[3]
        inner[dest.key] = dest
    return n


def all_canonical(dests, canonical_dest):
    """True when ``canonical_dest(d) is d`` for every one of ``dests``: the common real server
    (not tunnelled, tunnel fields at their defaults) is judged here without the call."""
    for d in dests:
        if (d.forward != "tun" and d.tun_type == "ipip" and d.tun_port == 0 and d.tun_nocsum is False
                and d.tun_csum is False and d.tun_remcsum is False):
            continue
        if canonical_dest(d) is not d:
            return False
    return True
