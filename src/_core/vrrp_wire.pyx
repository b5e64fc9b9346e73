# VRRP v2/v3 adverts: validation on receive, building on send, GARP and unsolicited NA frames.
# Twin: lvsfast/vrrp/_wire_py.py. Both give identical results (adverts, drop reasons, counters)
# for every input; tests/vrrp/test_wire_*.py run one suite over both and a differential fuzz.
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcmp, memcpy, memset

from includes.inet cimport AF_INET, AF_INET6, inet_ntop, inet_pton

import ipaddress

from lvsfast.vrrp import ah as _ah

from lvsfast.vrrp.reasons import COUNTER_NAMES, N_REASONS
from lvsfast.vrrp.reasons import describe as _describe
from lvsfast.vrrp.wire_types import AUTH_NONE, AUTH_PASS, InstanceWire, WireError

include "vrrp_consts.pxi"

__all__ = ["Advert", "AdvertBuilder", "Receiver", "build_garp", "build_na"]


cdef inline unsigned long long _sum16(const unsigned char *p, Py_ssize_t n, unsigned long long acc) noexcept nogil:
    cdef Py_ssize_t i = 0
    while i + 1 < n:
        acc += (<unsigned int>p[i] << 8) | p[i + 1]
        i += 2
    if n & 1:
        acc += <unsigned int>p[n - 1] << 8
    return acc


cdef inline unsigned int _fold(unsigned long long acc) noexcept nogil:
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return <unsigned int>acc


cdef inline unsigned long long _pseudo(const unsigned char *src, const unsigned char *dst, int alen,
                                       Py_ssize_t length) noexcept nogil:
    return _fold(_sum16(src, alen, 0)) + _fold(_sum16(dst, alen, 0)) + VRRP_PROTO + <unsigned long long>length


@cython.freelist(64)
cdef class Advert:
    """A validated advert. ``src`` and ``addresses`` are decoded on first use."""

    cdef readonly int version, vrid, priority, count, auth_type, interval_cs, pseudo_header, ttl
    cdef readonly bint addresses_match
    cdef readonly str instance
    cdef bytes _packet
    cdef Py_ssize_t _aoff, _alen
    cdef int _family
    cdef unsigned char _src[16]
    cdef object _src_text, _addresses

    @property
    def src(self):
        cdef char text[64]
        if self._src_text is None:
            inet_ntop(AF_INET if self._family == 4 else AF_INET6, self._src, text, sizeof(text))
            self._src_text = text.decode("ascii")
        return self._src_text

    @property
    def src_packed(self):
        """The source address as 4 or 16 bytes (compare these to settle equal priorities)."""
        return PyBytes_FromStringAndSize(<const char *>self._src, 4 if self._family == 4 else 16)

    @property
    def addresses_raw(self):
        return self._packet[self._aoff:self._aoff + self._alen]

    @property
    def addresses(self):
        cdef int size
        if self._addresses is None:
            size = 4 if self._family == 4 else 16
            raw = self.addresses_raw
            self._addresses = tuple(str(ipaddress.ip_address(raw[i:i + size])) for i in range(0, len(raw), size))
        return self._addresses

    def __repr__(self):
        return (f"Advert(v{self.version} vrid={self.vrid} prio={self.priority} int={self.interval_cs}cs "
                f"src={self.src} count={self.count})")


cdef class Receiver:
    """Validates the adverts arriving on one interface for one address family, and counts drops.

    ``decode`` returns an :class:`Advert` or an ``int`` reason (lvsfast.vrrp.reasons.Reason).
    After a drop, :attr:`last` holds ``(reason, vrid, version, instance name)`` for the log line.
    """

    cdef readonly str ifname
    cdef readonly int family
    cdef public unsigned long long received, accepted
    cdef readonly tuple last
    cdef unsigned char _configured[256]
    cdef unsigned char _version[256]
    cdef unsigned char _auth_type[256]
    cdef unsigned char _unicast[256]
    cdef unsigned char _auth[256][8]
    cdef int _interval[256]
    cdef list _packed
    cdef list _names
    cdef list _keys
    cdef unsigned long long _counts[N_REASONS_C]

    def __init__(self, str ifname, int family, instances):
        cdef int vrid
        if family != 4 and family != 6:
            raise WireError(f"family must be 4 or 6, not {family}")
        self.ifname = ifname
        self.family = family
        memset(self._configured, 0, sizeof(self._configured))
        memset(self._unicast, 0, sizeof(self._unicast))
        memset(self._counts, 0, sizeof(self._counts))
        memset(self._auth, 0, sizeof(self._auth))
        self._packed = [b""] * 256
        self._names = [""] * 256
        self._keys = [b""] * 256
        for inst in instances:
            if inst.family != family:
                raise WireError(f"instance {inst.name} is IPv{inst.family}, receiver is IPv{family}")
            vrid = inst.vrid
            if self._configured[vrid]:
                raise WireError(f"VRID {vrid} configured twice on {ifname}")
            self._configured[vrid] = 1
            self._version[vrid] = inst.version
            self._auth_type[vrid] = inst.auth_type
            self._unicast[vrid] = 1 if getattr(inst, "unicast", False) else 0
            self._interval[vrid] = inst.adver_int_cs
            auth = inst.auth_data()
            memcpy(self._auth[vrid], <const char *>auth, 8)
            self._packed[vrid] = inst.packed_addresses()
            self._names[vrid] = inst.name
            self._keys[vrid] = inst.auth_pass
        self.received = 0
        self.accepted = 0
        self.last = (0, 0, 0, "")
        if N_REASONS != N_REASONS_C:
            raise RuntimeError("reason table out of step with lvsfast.vrrp.reasons")

    def counters(self):
        out = {"received": self.received, "accepted": self.accepted}
        for r, name in COUNTER_NAMES.items():
            out[name] = self._counts[<int>r]
        return out

    def describe_last(self, str source=""):
        """The log line for the last drop (see lvsfast.vrrp.reasons.describe), naming our version."""
        reason, vrid, version, name = self.last
        return _describe(reason, ifname=self.ifname, vrid=vrid, got_version=version, instance=name,
                         our_version=self._version[vrid] if self._configured[vrid] else 0, source=source)

    cdef int _drop(self, int reason, int vrid, int version, int named):
        self._counts[reason] += 1
        self.last = (reason, vrid, version, <str>self._names[vrid] if named else "")
        return reason

    def decode(self, packet, src=None, dst=None, int ttl=-1):
        """IPv4: ``packet`` starts with the IP header (raw socket). IPv6: the VRRP payload, with
        ``src``/``dst`` (16 bytes each) and ``ttl`` (hop limit) from the ancillary data."""
        cdef Py_buffer view
        if not PyBytes_CheckExact(packet):
            PyObject_GetBuffer(packet, &view, PyBUF_SIMPLE)
            try:
                packet = PyBytes_FromStringAndSize(<const char *>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        return self._decode(<bytes>packet, src, dst, ttl)

    def decode_batch(self, items):
        """Decode a batch as ``recv_batch`` delivers it: each item is a ``(packet, src, dst, ttl, ...)``
        tuple (extra fields such as the ifindex are ignored) or, for IPv4, the bare packet.
        One call per recvmmsg batch keeps the per-packet cost to the C work."""
        cdef list out = []
        cdef tuple t
        cdef object pkt, ttl_obj
        for it in items:
            if type(it) is tuple:
                t = <tuple>it
                if len(t) < 4:
                    self.received += 1
                    out.append(self._drop(R_IP_HEADER, 0, 0, 0))
                    continue
                pkt = t[0]
                ttl_obj = t[3]
                if PyBytes_CheckExact(pkt) and type(ttl_obj) is int:
                    out.append(self._decode(<bytes>pkt, t[1], t[2], ttl_obj))
                else:
                    out.append(self.decode(pkt, t[1], t[2], ttl_obj))
            elif PyBytes_CheckExact(it):
                out.append(self._decode(<bytes>it, None, None, -1))
            else:
                out.append(self.decode(it))
        return out

    cdef object _decode(self, bytes packet, object src_obj, object dst_obj, int ttl):
        cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(packet)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(packet)
        cdef const unsigned char *pl
        cdef const unsigned char *src
        cdef const unsigned char *dst
        cdef Py_ssize_t plen, ihl = 0, total = 0, off, expect, asize, i, j
        cdef int version, vrid, count, interval, pseudo = 0, alen, match, via_ah = 0
        cdef bytes mine
        cdef const unsigned char *m
        self.received += 1
        if self.family == 4:
            if n < 20 or (p[0] >> 4) != 4:
                return self._drop(R_IP_HEADER, 0, 0, 0)
            ihl = (p[0] & 0x0F) * 4
            total = (p[2] << 8) | p[3]
            if ihl < 20 or total < ihl or total > n or (p[9] != VRRP_PROTO and p[9] != AH_PROTO):
                return self._drop(R_IP_HEADER, 0, 0, 0)
            via_ah = p[9] == AH_PROTO
            if via_ah:
                # keepalived's auth_type AH: the advert sits behind a 24-byte AH header.
                if total < ihl + AH_LEN or p[ihl] != VRRP_PROTO or p[ihl + 1] != AH_LEN // 4 - 2:
                    return self._drop(R_IP_HEADER, 0, 0, 0)
            ttl = p[8]
            src = p + 12
            dst = p + 16
            off = ihl + (AH_LEN if via_ah else 0)
            plen = total - off
            alen = 4
        else:
            if (src_obj is None or dst_obj is None or not PyBytes_CheckExact(src_obj) or not PyBytes_CheckExact(dst_obj)
                    or PyBytes_GET_SIZE(src_obj) != 16 or PyBytes_GET_SIZE(dst_obj) != 16):
                if (src_obj is None or dst_obj is None or len(src_obj) != 16 or len(dst_obj) != 16):
                    return self._drop(R_IP_HEADER, 0, 0, 0)
                src_obj = bytes(src_obj)
                dst_obj = bytes(dst_obj)
            src = <const unsigned char *>PyBytes_AS_STRING(src_obj)
            dst = <const unsigned char *>PyBytes_AS_STRING(dst_obj)
            off = 0
            plen = n
            alen = 16
            via_ah = 0
        # The TTL must be 255 (RFC 5798 section 7.1), except for unicast_peer instances: keepalived
        # takes their adverts whatever the TTL (unicast_ttl, routed peers), bounded by the peers'
        # min_ttl/max_ttl where those are set.
        if ttl != 255 and not (plen >= 8 and self._unicast[(p + off)[1]]):
            return self._drop(R_TTL, 0, 0, 0)
        if plen < 8:
            return self._drop(R_TOO_SHORT, 0, 0, 0)
        pl = p + off
        version = pl[0] >> 4
        vrid = pl[1]
        if version != 2 and version != 3:
            return self._drop(R_VERSION, vrid, version, 0)
        if version == 2 and self.family == 6:
            return self._drop(R_FAMILY, vrid, version, 0)
        count = pl[3]
        if count == 0:
            return self._drop(R_ADDRESS_COUNT, vrid, version, 0)
        asize = alen
        expect = 8 + count * asize + (8 if version == 2 else 0)
        if plen != expect:
            return self._drop(R_LENGTH, vrid, version, 0)
        if version == 2:
            if _fold(_sum16(pl, plen, 0)) != 0xFFFF:
                return self._drop(R_CHECKSUM, vrid, version, 0)
        else:
            if _fold(_sum16(pl, plen, _pseudo(src, dst, alen, plen))) == 0xFFFF:
                pseudo = 1
            elif self.family == 4 and _fold(_sum16(pl, plen, 0)) == 0xFFFF:
                pseudo = 0
            else:
                return self._drop(R_CHECKSUM, vrid, version, 0)
        if not self._configured[vrid]:
            return self._drop(R_VRID, vrid, version, 0)
        if self._version[vrid] != version:
            return self._drop(R_VERSION, vrid, version, 1)
        if (pl[0] & 0x0F) != 1:
            return self._drop(R_TYPE, vrid, version, 1)
        if self.family == 6 and not self._unicast[vrid] and not (src[0] == 0xFE and (src[1] & 0xC0) == 0x80):
            return self._drop(R_IPV6_LINK_LOCAL, vrid, version, 1)
        if version == 2:
            interval = pl[5] * 100
            if interval == 0:
                return self._drop(R_INTERVAL_ZERO, vrid, version, 1)
            if pl[4] != self._auth_type[vrid] or via_ah != (pl[4] == AUTH_AH_C):
                return self._drop(R_AUTH, vrid, version, 1)
            if pl[4] == AUTH_PASS_C and memcmp(pl + 8 + count * 4, self._auth[vrid], 8) != 0:
                return self._drop(R_AUTH, vrid, version, 1)
            if pl[4] == AUTH_AH_C and not _ah.verify(packet[:total], ihl, self._keys[vrid]):
                return self._drop(R_AUTH, vrid, version, 1)
            if interval != self._interval[vrid]:
                return self._drop(R_INTERVAL, vrid, version, 1)
        else:
            if via_ah:
                return self._drop(R_AUTH, vrid, version, 1)
            interval = ((pl[4] & 0x0F) << 8) | pl[5]
            if interval == 0:
                return self._drop(R_INTERVAL_ZERO, vrid, version, 1)
        mine = <bytes>self._packed[vrid]
        m = <const unsigned char *>PyBytes_AS_STRING(mine)
        match = PyBytes_GET_SIZE(mine) == count * asize and memcmp(pl + 8, m, count * asize) == 0
        if not match:
            match = self._same_set(pl + 8, count, asize, mine)
            if not match:
                self._counts[R_ADDRESS_LIST] += 1
        cdef Advert adv = Advert.__new__(Advert)
        adv.version = version
        adv.vrid = vrid
        adv.priority = pl[2]
        adv.count = count
        adv.auth_type = pl[4] if version == 2 else 0
        adv.interval_cs = interval
        adv.pseudo_header = pseudo
        adv.ttl = ttl
        adv.addresses_match = match
        adv.instance = <str>self._names[vrid]
        adv._packet = packet
        adv._aoff = off + 8
        adv._alen = count * asize
        adv._family = self.family
        memcpy(adv._src, src, alen)
        self.accepted += 1
        return adv

    cdef int _same_set(self, const unsigned char *got, int count, Py_ssize_t asize, bytes mine):
        # Order-insensitive comparison; only reached when the bytes differ, so quadratic is fine.
        cdef Py_ssize_t nmine = PyBytes_GET_SIZE(mine) // asize
        cdef const unsigned char *m = <const unsigned char *>PyBytes_AS_STRING(mine)
        cdef Py_ssize_t i, j
        cdef int found
        if nmine * asize != PyBytes_GET_SIZE(mine) or nmine != count:
            return 0
        for i in range(count):
            found = 0
            for j in range(nmine):
                if memcmp(got + i * asize, m + j * asize, asize) == 0:
                    found = 1
                    break
            if not found:
                return 0
        for j in range(nmine):
            found = 0
            for i in range(count):
                if memcmp(got + i * asize, m + j * asize, asize) == 0:
                    found = 1
                    break
            if not found:
                return 0
        return 1


cdef int _pton(int family, str text, unsigned char *out) except -1:
    cdef bytes b = text.encode("ascii", "replace")
    if inet_pton(AF_INET if family == 4 else AF_INET6, b, out) != 1:
        raise OSError(f"illegal IP address string passed to inet_pton")
    return 0


cdef class AdvertBuilder:
    """Builds one instance's adverts; only the priority (and so the checksum) varies per send."""

    cdef unsigned char _tmpl[8 + 255 * 16 + 8]
    cdef Py_ssize_t _len
    cdef unsigned long long _initial

    def __init__(self, int version, int vrid, int adver_int_cs, addresses, int family, str src, str dst,
                 int auth_type=AUTH_NONE, bytes auth_pass=b"", bint checksum_as_v2=False):
        cdef unsigned char s[16]
        cdef unsigned char d[16]
        cdef int alen = 4 if family == 4 else 16
        cdef int i, secs, count
        if version != 2 and version != 3:
            raise WireError(f"VRRP version must be 2 or 3, not {version}")
        if family == 6 and version == 2:
            raise WireError("VRRPv2 is IPv4 only")
        if not 1 <= vrid <= 255:
            raise WireError(f"VRID {vrid} outside 1-255")
        addresses = list(addresses)
        count = len(addresses)
        if count == 0 or count > 255:
            raise WireError("an advert carries 1 to 255 addresses")
        _pton(family, src, s)
        _pton(family, dst, d)
        memset(self._tmpl, 0, sizeof(self._tmpl))
        for i in range(count):
            _pton(family, addresses[i], self._tmpl + 8 + i * alen)
        self._tmpl[1] = vrid
        self._tmpl[3] = count
        if version == 2:
            secs = adver_int_cs // 100
            if not 1 <= secs <= 255 or adver_int_cs % 100:
                # 100.0: the C int division (cdivision) would say 0 for 0.01 s.
                raise WireError(f"VRRPv2 advert interval must be 1-255 whole seconds, not {adver_int_cs / 100.0:g}")
            self._tmpl[0] = 0x21
            self._tmpl[4] = auth_type
            self._tmpl[5] = secs
            self._len = 8 + count * 4 + 8
            if auth_type == AUTH_PASS_C:
                memcpy(self._tmpl + 8 + count * 4, <const char *>auth_pass, min(8, len(auth_pass)))
            self._initial = 0
        else:
            if not 1 <= adver_int_cs <= 4095:
                raise WireError(f"VRRPv3 advert interval must be 0.01-40.95 s, not {adver_int_cs / 100.0:g}")
            self._tmpl[0] = 0x31
            self._tmpl[4] = (adver_int_cs >> 8) & 0x0F
            self._tmpl[5] = adver_int_cs & 0xFF
            self._len = 8 + count * alen
            if family == 6 or not checksum_as_v2:
                self._initial = _pseudo(s, d, alen, self._len)
            else:
                self._initial = 0

    def build(self, int priority):
        cdef unsigned int c
        if not 0 <= priority <= 255:
            raise WireError(f"priority {priority} outside 0-255")
        self._tmpl[2] = priority
        self._tmpl[6] = 0
        self._tmpl[7] = 0
        c = (~_fold(_sum16(self._tmpl, self._len, self._initial))) & 0xFFFF
        self._tmpl[6] = c >> 8
        self._tmpl[7] = c & 0xFF
        return PyBytes_FromStringAndSize(<const char *>self._tmpl, self._len)


def build_garp(bytes mac, str ip):
    """A gratuitous ARP request as an Ethernet frame: sender and target are both ``ip``."""
    cdef unsigned char f[42]
    if len(mac) != 6:
        raise WireError("a MAC address is 6 bytes")
    memset(f, 0xFF, 6)
    memcpy(f + 6, <const char *>mac, 6)
    f[12] = 0x08; f[13] = 0x06
    f[14] = 0; f[15] = 1            # hardware type Ethernet
    f[16] = 0x08; f[17] = 0x00      # protocol IPv4
    f[18] = 6; f[19] = 4
    f[20] = 0; f[21] = 1            # request
    memcpy(f + 22, <const char *>mac, 6)
    _pton(4, ip, f + 28)
    memset(f + 32, 0, 6)
    memcpy(f + 38, f + 28, 4)
    return PyBytes_FromStringAndSize(<const char *>f, 42)


def build_na(bytes mac, str src, str target, bint router=False):
    """An unsolicited neighbour advertisement (override flag) for ``target`` to all-nodes, as a frame."""
    cdef unsigned char f[14 + 40 + 32]
    cdef unsigned char *ip6 = f + 14
    cdef unsigned char *icmp = f + 54
    cdef unsigned long long acc
    cdef unsigned int c
    if len(mac) != 6:
        raise WireError("a MAC address is 6 bytes")
    memset(f, 0, sizeof(f))
    f[0] = 0x33; f[1] = 0x33; f[5] = 0x01
    memcpy(f + 6, <const char *>mac, 6)
    f[12] = 0x86; f[13] = 0xDD
    ip6[0] = 0x60
    ip6[5] = 32                      # payload length
    ip6[6] = 58                      # ICMPv6
    ip6[7] = 255
    _pton(6, src, ip6 + 8)
    ip6[24] = 0xFF; ip6[25] = 0x02; ip6[39] = 0x01
    icmp[0] = 136
    icmp[4] = 0x20 | (0x80 if router else 0)
    _pton(6, target, icmp + 8)
    icmp[24] = 2; icmp[25] = 1
    memcpy(icmp + 26, <const char *>mac, 6)
    acc = _fold(_sum16(ip6 + 8, 16, 0)) + _fold(_sum16(ip6 + 24, 16, 0)) + 58 + 32
    c = (~_fold(_sum16(icmp, 32, acc))) & 0xFFFF
    icmp[2] = c >> 8
    icmp[3] = c & 0xFF
    return PyBytes_FromStringAndSize(<const char *>f, sizeof(f))
