"""Why a received VRRP packet was dropped (or flagged), shared by the compiled core and its twin.

One code per RFC 5798/9568 §7.1 receive rule, so every drop is counted under its own name and
logged in plain words. ``ADDRESS_LIST`` is not a drop: the RFC says to log it and go on.
"""
from __future__ import annotations

from enum import IntEnum


class Reason(IntEnum):
    OK = 0
    IP_HEADER = 1  # not a well-formed IPv4 header carrying protocol 112
    TTL = 2  # TTL / hop limit not 255
    VERSION = 3  # not version 2 or 3, or not the version the instance runs
    TOO_SHORT = 4  # shorter than the fixed VRRP header
    LENGTH = 5  # length does not match the address count (and authentication data for v2)
    CHECKSUM = 6
    TYPE = 7  # type other than 1 (ADVERTISEMENT)
    VRID = 8  # no instance with this VRID on this interface and family
    ADDRESS_COUNT = 9  # count of 0
    IPV6_LINK_LOCAL = 10  # IPv6 source address not link-local
    INTERVAL_ZERO = 11
    INTERVAL = 12  # v2: advert interval differs from ours
    AUTH = 13  # v2: authentication type or data differs from ours
    ADDRESS_LIST = 14  # the address list differs from ours: logged and counted, not dropped
    FAMILY = 15  # v2 over IPv6, which does not exist


#: Counter names as lvsfastctl status and the metrics show them.
COUNTER_NAMES: dict[Reason, str] = {
    Reason.IP_HEADER: "bad_ip_header",
    Reason.TTL: "bad_ttl",
    Reason.VERSION: "version_mismatch",
    Reason.TOO_SHORT: "too_short",
    Reason.LENGTH: "length_mismatch",
    Reason.CHECKSUM: "bad_checksum",
    Reason.TYPE: "unknown_type",
    Reason.VRID: "unknown_vrid",
    Reason.ADDRESS_COUNT: "zero_address_count",
    Reason.IPV6_LINK_LOCAL: "ipv6_source_not_link_local",
    Reason.INTERVAL_ZERO: "zero_interval",
    Reason.INTERVAL: "interval_mismatch",
    Reason.AUTH: "auth_failure",
    Reason.ADDRESS_LIST: "address_list_mismatch",
    Reason.FAMILY: "bad_family",
}

N_REASONS = max(Reason) + 1


def describe(reason: int, *, ifname: str, vrid: int = 0, got_version: int = 0, instance: str = "",
             our_version: int = 0, detail: str = "", source: str = "") -> str:
    """One plain log line for a drop, e.g. the version mismatch keepalived reports cryptically."""
    r = Reason(reason)
    src = f" from {source}" if source else ""
    if r is Reason.VERSION and instance and got_version in (2, 3):
        return (f"received VRRPv{got_version} advert for VRID {vrid} on {ifname}{src}, "
                f"instance {instance} runs VRRPv{our_version}")
    if r is Reason.VERSION:
        return f"received VRRP packet with unknown version {got_version} on {ifname}{src}"
    what = {
        Reason.IP_HEADER: "malformed IP header",
        Reason.TTL: "TTL/hop limit is not 255 (sent from off-link?)",
        Reason.TOO_SHORT: "packet shorter than a VRRP header",
        Reason.LENGTH: "length does not match the address count",
        Reason.CHECKSUM: "bad checksum",
        Reason.TYPE: "unknown VRRP packet type",
        Reason.VRID: f"VRID {vrid} is not configured on this interface",
        Reason.ADDRESS_COUNT: "advert carries no addresses",
        Reason.IPV6_LINK_LOCAL: "IPv6 source address is not link-local",
        Reason.INTERVAL_ZERO: "advert interval is 0",
        Reason.INTERVAL: "advert interval differs from ours",
        Reason.AUTH: "authentication does not match",
        Reason.ADDRESS_LIST: "address list differs from ours (accepted)",
        Reason.FAMILY: "VRRPv2 is IPv4 only",
    }.get(r, r.name)
    inst = f" (instance {instance})" if instance else ""
    tail = f": {detail}" if detail else ""
    verb = "flagged" if r is Reason.ADDRESS_LIST else "dropped"
    return f"{verb} VRRP packet for VRID {vrid} on {ifname}{src}{inst}: {what}{tail}"
