"""Selector for the BFD wire core: compiled ``lvsfast._core.bfd_wire`` or its twin ``_wire_py``.

Everything else imports the codec, the packet type, the error and the constants from here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lvsfast.bfd.wire_types import (ADMIN_DOWN, DIAG_ADMIN_DOWN, DIAG_CONCAT_PATH_DOWN, DIAG_ECHO_FAILED,
                                    DIAG_FORWARDING_RESET, DIAG_NAMES, DIAG_NEIGHBOR_DOWN, DIAG_NONE, DIAG_PATH_DOWN,
                                    DIAG_REVERSE_CONCAT_PATH_DOWN, DIAG_TIME_EXPIRED, DOWN, INIT, PACKET_LEN, REASONS,
                                    STATE_NAMES, UP, VERSION, BfdWireError, ControlPacket, diag_name, state_name)

if TYPE_CHECKING:
    from lvsfast.bfd._wire_py import decode, decode_batch, encode, reject_reason
else:
    from lvsfast._native import load as _load

    _impl = _load("bfd_wire")
    decode = _impl.decode
    decode_batch = _impl.decode_batch
    encode = _impl.encode
    reject_reason = _impl.reject_reason

__all__ = ["ADMIN_DOWN", "DOWN", "INIT", "UP", "STATE_NAMES", "DIAG_NAMES", "DIAG_NONE", "DIAG_TIME_EXPIRED",
           "DIAG_ECHO_FAILED", "DIAG_NEIGHBOR_DOWN", "DIAG_FORWARDING_RESET", "DIAG_PATH_DOWN", "DIAG_CONCAT_PATH_DOWN",
           "DIAG_ADMIN_DOWN", "DIAG_REVERSE_CONCAT_PATH_DOWN", "PACKET_LEN", "REASONS", "VERSION", "BfdWireError",
           "ControlPacket", "decode", "decode_batch", "diag_name", "encode", "reject_reason", "state_name"]
