"""BFD: keepalived's bfd_instance (RFC 5880 sessions the VRRP instances and checkers track)."""
from __future__ import annotations

from lvsfast.config.model.common import Family, KeywordLines, Located
from lvsfast.frozen import field, record

#: keepalived's defaults: TTL 255 for IPv4 (RFC 5881's GTSM), hop limit 64 for IPv6.
DEFAULT_TTL = {4: 255, 6: 64}


@record
class BfdInstance(Located):
    """``bfd_instance NAME { ... }``; intervals in microseconds (keepalived reads milliseconds
    with three decimals).

    ``max_hops`` is how much the received TTL/hop limit may fall short of ``ttl``; -1 and 0 ask
    for the exact value, 255 turns the check off. ``vrrp``/``checker``: which side hears the
    session's events (both unless the block names one). ``multihop`` is lvsfast's own: RFC 5883's
    port 4784 (keepalived always uses 3784).
    """

    name: str
    neighbor_ip: str = ""
    family: Family = 4
    source_ip: str | None = None
    min_rx_us: int = 10_000
    min_tx_us: int = 10_000
    idle_tx_us: int = 1_000_000
    multiplier: int = 5
    passive: bool = False
    ttl: int | None = None  # None: DEFAULT_TTL of the family
    max_hops: int = 0
    weight: int = 0
    weight_reverse: bool = False
    vrrp: bool = True
    checker: bool = True
    multihop: bool = False
    keyword_lines: KeywordLines = field(default=(), compare=False, repr=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def out_ttl(self) -> int:
        """The TTL (IPv4) or hop limit (IPv6) sent, and the one received packets are held to."""
        return self.ttl if self.ttl is not None else DEFAULT_TTL[self.family]

    @property
    def min_rx_ttl(self) -> int:
        """The lowest TTL/hop limit accepted (0: any); keepalived's max_hops semantics."""
        if self.max_hops == 255:
            return 0
        return max(self.out_ttl - max(self.max_hops, 0), 0)
