"""What both BFD wire twins share: the decoded control packet, the error, states and diagnostics.

RFC 5880 §4.1. Plain Python so that the compiled ``lvsfast._core.bfd_wire`` and its twin
``lvsfast.bfd._wire_py`` return and raise the very same classes.
"""
from __future__ import annotations

from typing import NamedTuple

VERSION = 1
PACKET_LEN = 24  # without authentication, as we send it
AUTH_PACKET_MIN = 26  # the shortest Length a packet with the A bit may carry

# Session states (the Sta field).
ADMIN_DOWN = 0
DOWN = 1
INIT = 2
UP = 3
STATE_NAMES = ("AdminDown", "Down", "Init", "Up")

# Diagnostic codes (the Diag field).
DIAG_NONE = 0
DIAG_TIME_EXPIRED = 1
DIAG_ECHO_FAILED = 2
DIAG_NEIGHBOR_DOWN = 3
DIAG_FORWARDING_RESET = 4
DIAG_PATH_DOWN = 5
DIAG_CONCAT_PATH_DOWN = 6
DIAG_ADMIN_DOWN = 7
DIAG_REVERSE_CONCAT_PATH_DOWN = 8
DIAG_NAMES = (
    "No Diagnostic",
    "Control Detection Time Expired",
    "Echo Function Failed",
    "Neighbor Signaled Session Down",
    "Forwarding Plane Reset",
    "Path Down",
    "Concatenated Path Down",
    "Administratively Down",
    "Reverse Concatenated Path Down",
)

#: Every reason decode gives for a drop, in the order the checks run (RFC 5880 §6.8.6, then
#: §4.1's rule that no packet carries both Poll and Final).
REASONS = ("version", "length", "detect_mult", "multipoint", "my_disc", "your_disc_zero_state",
           "auth_mismatch", "poll_final")


def state_name(state: int) -> str:
    return STATE_NAMES[state] if 0 <= state < 4 else f"state {state}"


def diag_name(diag: int) -> str:
    """The RFC's name of a diagnostic code, for logs (codes 9-31 are reserved)."""
    return DIAG_NAMES[diag] if 0 <= diag < len(DIAG_NAMES) else f"Reserved ({diag})"


class BfdWireError(ValueError):
    """A control packet that RFC 5880 §6.8.6 says to discard; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"BFD control packet dropped: {reason}{': ' + detail if detail else ''}")
        self.reason = reason


class ControlPacket(NamedTuple):
    """A decoded control packet; intervals in microseconds, as on the wire."""

    version: int
    diag: int
    state: int
    poll: bool
    final: bool
    cpi: bool  # C: control plane independent
    auth: bool  # A: authentication present
    demand: bool
    multipoint: bool
    detect_mult: int
    length: int
    my_disc: int
    your_disc: int
    desired_min_tx: int
    required_min_rx: int
    required_min_echo_rx: int


def rejection(reason: str, buf: bytes | bytearray | memoryview) -> BfdWireError:
    """The error for a packet decode refused (both twins build it here: the slow path only)."""
    n = len(buf)
    if reason == "version":
        detail = f"version {buf[0] >> 5}"
    elif reason == "length":
        detail = f"Length field {buf[3]} in {n} bytes" if n >= 4 else f"{n} bytes"
    elif reason == "your_disc_zero_state":
        detail = f"Your Discriminator 0 in state {state_name(buf[1] >> 6)}"
    else:
        detail = {"detect_mult": "Detect Mult 0", "multipoint": "M bit set", "my_disc": "My Discriminator 0",
                  "auth_mismatch": "A bit set, no authentication in use",
                  "poll_final": "P and F both set"}.get(reason, "")
    return BfdWireError(reason, detail)
