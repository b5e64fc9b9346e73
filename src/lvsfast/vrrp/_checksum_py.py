"""Pure-Python twin of ``lvsfast._core.checksum``: the RFC 1071 Internet checksum."""
from __future__ import annotations

__all__ = ["ones_sum", "inet_checksum"]


def _sum16(data: bytes | bytearray | memoryview, acc: int) -> int:
    mv = memoryview(data).cast("B")
    n = len(mv)
    # int.from_bytes over the even part is far quicker than a Python loop over words.
    even = n & ~1
    if even:
        words = int.from_bytes(mv[:even], "big")
        # Sum 16-bit limbs: fold the big integer in halves until it fits.
        while words >> 32:
            bits = words.bit_length()
            half = ((bits + 31) // 32) * 16  # a multiple of 16 bits, about half the width
            words = (words & ((1 << half) - 1)) + (words >> half)
        acc += words
    if n & 1:
        acc += mv[n - 1] << 8
    return acc


def _fold(acc: int) -> int:
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return acc


def ones_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """One's-complement sum of ``data`` as 16-bit big-endian words plus ``initial``, folded to 16 bits."""
    return _fold(_sum16(data, initial))


def inet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """RFC 1071 checksum: the complement of :func:`ones_sum`."""
    return ~_fold(_sum16(data, initial)) & 0xFFFF
