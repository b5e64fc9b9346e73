"""Plain-Python types shared by the compiled VRRP wire core and its twin."""
from __future__ import annotations

import ipaddress

from lvsfast.frozen import record

AUTH_NONE = 0
AUTH_PASS = 1
AUTH_AH = 2

VRRP_PROTO = 112
MCAST_V4 = "224.0.0.18"
MCAST_V6 = "ff02::12"


def vrrp_mac(vrid: int, family: int) -> bytes:
    """The virtual router MAC (RFC 5798 §7.3): 00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for IPv6."""
    if not 1 <= vrid <= 255:
        raise WireError(f"VRID {vrid} outside 1-255")
    return bytes((0, 0, 0x5E, 0, 1 if family == 4 else 2, vrid))


class WireError(ValueError):
    """Parameters that cannot make a valid advert (raised when building, never when receiving)."""


@record
class InstanceWire:
    """What the receive path must know of one configured instance to validate its adverts."""

    name: str
    vrid: int
    version: int  # 2 or 3
    family: int  # 4 or 6
    adver_int_cs: int  # our advert interval in centiseconds
    addresses: tuple[str, ...] = ()  # the VIPs in the instance's family, config order
    auth_type: int = AUTH_NONE  # v2 only
    auth_pass: bytes = b""  # v2 simple password, at most 8 bytes
    # unicast_peer instances: IPv6 sources may be global (keepalived does not insist on
    # link-local there), so the link-local rule applies to multicast instances only.
    unicast: bool = False

    def packed_addresses(self) -> bytes:
        return b"".join(ipaddress.ip_address(a).packed for a in self.addresses)

    def auth_data(self) -> bytes:
        return self.auth_pass[:8].ljust(8, b"\0")
