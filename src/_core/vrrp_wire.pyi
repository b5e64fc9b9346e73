# Stub for the compiled VRRP wire core; the twin lvsfast/vrrp/_wire_py.py has the same API.
from typing import Iterable, Sequence

from lvsfast.vrrp.wire_types import InstanceWire

__all__ = ["Advert", "AdvertBuilder", "Receiver", "build_garp", "build_na"]

class Advert:
    version: int
    vrid: int
    priority: int
    count: int
    auth_type: int
    interval_cs: int  # max advert interval, centiseconds (v2: seconds * 100)
    pseudo_header: int  # v3/IPv4: 1 when the peer's checksum covers the IPv4 pseudo-header
    ttl: int
    addresses_match: bool  # False: the address list differs from ours (flagged, not dropped)
    instance: str
    @property
    def src(self) -> str: ...
    @property
    def src_packed(self) -> bytes: ...
    @property
    def addresses_raw(self) -> bytes: ...
    @property
    def addresses(self) -> tuple[str, ...]: ...

class Receiver:
    ifname: str
    family: int
    received: int
    accepted: int
    last: tuple[int, int, int, str]  # (reason, vrid, version, instance name) of the last drop
    def __init__(self, ifname: str, family: int, instances: Iterable[InstanceWire]) -> None: ...
    def counters(self) -> dict[str, int]: ...
    def describe_last(self, source: str = "") -> str: ...
    def decode(self, packet: bytes | bytearray | memoryview, src: bytes | None = None,
               dst: bytes | None = None, ttl: int = -1) -> Advert | int: ...
    def decode_batch(self, items: Sequence[bytes | tuple]) -> list[Advert | int]: ...

class AdvertBuilder:
    def __init__(self, version: int, vrid: int, adver_int_cs: int, addresses: Sequence[str], family: int,
                 src: str, dst: str, auth_type: int = 0, auth_pass: bytes = b"",
                 checksum_as_v2: bool = False) -> None: ...
    def build(self, priority: int) -> bytes: ...

def build_garp(mac: bytes, ip: str) -> bytes: ...
def build_na(mac: bytes, src: str, target: str, router: bool = False) -> bytes: ...
