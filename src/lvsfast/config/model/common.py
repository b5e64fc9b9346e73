"""What every part of the model shares: located blocks, scripts, constants."""
from __future__ import annotations

from lvsfast.frozen import field, record

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Literal

__all__ = ["DEFAULT_DRAIN_TIMEOUT", "Extra", "Family", "IPVS_SCHEDULERS", "KeywordLines", "LB_KINDS",
           "Located", "NFTABLES_SCHEDULERS", "PROTOCOLS", "SCHED_FLAG_NAMES", "Script"]

Extra = tuple[tuple[str, tuple[str, ...]], ...]
KeywordLines = tuple[tuple[str, int], ...]


@record
class Located:
    """A block that remembers the line of each keyword in it (``keyword_lines``; a virtual
    server's leaves out its real_server blocks, which remember their own)."""

    __slots__ = ()

    def line_of(self, keyword: str) -> int:
        """The line of the last ``keyword`` statement in this block, else the block's own line."""
        found = 0
        for k, ln in self.keyword_lines:  # type: ignore[attr-defined]
            if k == keyword:
                found = ln
        return found or self.line  # type: ignore[attr-defined]


if TYPE_CHECKING:
    Family = Literal[4, 6]
else:
    Family = int

#: Schedulers IPVS knows (keepalived's ``lb_algo``/``lvs_sched`` values).
IPVS_SCHEDULERS = frozenset({"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq",
                             "fo", "ovf", "mh", "twos"})
#: Schedulers lvsfast's nftables backend implements statelessly ("random" is lvsfast's own).
NFTABLES_SCHEDULERS = frozenset({"rr", "wrr", "sh", "dh", "mh", "random"})
LB_KINDS = frozenset({"NAT", "DR", "TUN"})
SCHED_FLAG_NAMES = frozenset({"flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback"})
PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
DEFAULT_DRAIN_TIMEOUT = 60.0


@record
class Script:
    """A command line to run (notify, misc_path...), with the user/group to run it as."""

    command: str
    user: str | None = None
    group: str | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
