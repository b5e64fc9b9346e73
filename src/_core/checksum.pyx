# The RFC 1071 Internet checksum over a buffer, with optional pseudo-header sums.
# Twin: lvsfast/vrrp/_checksum_py.py. Both must return identical results for any input.
from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef extern from *:
    """
    static inline unsigned long long lvsfast_sum16(const unsigned char *p, Py_ssize_t n,
                                                   unsigned long long acc) {
        /* Big-endian 16-bit words, summed wide and folded once at the end. */
        Py_ssize_t i = 0;
        for (; i + 1 < n; i += 2)
            acc += ((unsigned)p[i] << 8) | p[i + 1];
        if (n & 1)
            acc += (unsigned)p[n - 1] << 8;
        return acc;
    }
    """
    unsigned long long lvsfast_sum16(const unsigned char *p, Py_ssize_t n,
                                     unsigned long long acc) nogil


cdef inline unsigned int _fold(unsigned long long acc) noexcept nogil:
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return <unsigned int>acc


cpdef unsigned int ones_sum(const unsigned char[::1] data, unsigned long long initial=0):
    """One's-complement sum of ``data`` as 16-bit big-endian words plus ``initial``, folded to 16 bits."""
    return _fold(lvsfast_sum16(&data[0] if data.shape[0] else NULL, data.shape[0], initial))


cpdef unsigned int inet_checksum(const unsigned char[::1] data, unsigned long long initial=0):
    """RFC 1071 checksum: the complement of :func:`ones_sum`."""
    return (~_fold(lvsfast_sum16(&data[0] if data.shape[0] else NULL, data.shape[0], initial))) & 0xFFFF
