"""BFD control packets (RFC 5880 §4.1): decode with the §6.8.6 checks that need no session, encode.

Pure twin of ``lvsfast._core.bfd_wire`` (src/_core/bfd_wire.pyx): the same results, the same
errors, for every input (tests/bfd/test_bfd_wire.py runs one suite over both and a differential fuzz).
"""
from __future__ import annotations

import struct
from typing import Sequence, Union

from lvsfast.bfd.wire_types import ControlPacket, rejection

__all__ = ["decode", "decode_batch", "encode", "reject_reason"]

_HEADER = struct.Struct("!BBBBIIIII")
_unpack = _HEADER.unpack_from
_pack = _HEADER.pack
_new = tuple.__new__
_U32 = 0xFFFFFFFF


def reject_reason(buf: bytes | bytearray | memoryview) -> str:
    """Why decode would drop ``buf`` (one of wire_types.REASONS), or "" when it is valid."""
    n = len(buf)
    if n and buf[0] >> 5 != 1:
        return "version"
    if n < 24:
        return "length"
    b0, b1, mult, length, my, your, _, _, _ = _unpack(buf)
    if length < (26 if b1 & 0x04 else 24) or length > n:
        return "length"
    if not mult:
        return "detect_mult"
    if b1 & 0x01:
        return "multipoint"
    if not my:
        return "my_disc"
    if not your and b1 >> 6 >= 2:
        return "your_disc_zero_state"
    if b1 & 0x04:
        return "auth_mismatch"
    if b1 & 0x30 == 0x30:
        return "poll_final"
    return ""


def decode(buf: bytes | bytearray | memoryview) -> ControlPacket:
    """The packet in ``buf``, or :class:`BfdWireError` when RFC 5880 §6.8.6 says to discard it."""
    reason = reject_reason(buf)
    if reason:
        raise rejection(reason, buf)
    b0, b1, mult, length, my, your, tx, rx, echo = _unpack(buf)
    return _new(ControlPacket, (b0 >> 5, b0 & 31, b1 >> 6, bool(b1 & 0x20), bool(b1 & 0x10), bool(b1 & 0x08),
                                bool(b1 & 0x04), bool(b1 & 0x02), bool(b1 & 0x01), mult, length, my, your, tx, rx,
                                echo))


def decode_batch(items: Sequence[Union[bytes, tuple]]) -> list[Union[ControlPacket, str]]:
    """Decode many (as recvmmsg hands them over): each item a packet, or a tuple whose first
    element is the packet; each result the packet or the reason it was dropped, no exceptions."""
    out: list[Union[ControlPacket, str]] = []
    for item in items:
        buf = item[0] if isinstance(item, tuple) else item
        reason = reject_reason(buf)
        out.append(reason or decode(buf))
    return out


def _check(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"BFD {name} {value} out of range {low}..{high}")
    if not isinstance(value, int):
        raise TypeError(f"BFD {name} must be an int, not {type(value).__name__}")


def encode(state: int, diag: int, detect_mult: int, my_disc: int, your_disc: int, desired_min_tx: int,
           required_min_rx: int, *, poll: bool = False, final: bool = False, required_min_echo_rx: int = 0) -> bytes:
    """A 24-byte version 1 control packet without authentication (intervals in microseconds)."""
    _check("state", state, 0, 3)
    _check("diag", diag, 0, 31)
    _check("detect_mult", detect_mult, 0, 255)
    _check("my_disc", my_disc, 0, _U32)
    _check("your_disc", your_disc, 0, _U32)
    _check("desired_min_tx", desired_min_tx, 0, _U32)
    _check("required_min_rx", required_min_rx, 0, _U32)
    _check("required_min_echo_rx", required_min_echo_rx, 0, _U32)
    flags = state << 6 | (0x20 if poll else 0) | (0x10 if final else 0)
    return _pack(0x20 | diag, flags, detect_mult, 24, my_disc, your_disc, desired_min_tx, required_min_rx,
                 required_min_echo_rx)
