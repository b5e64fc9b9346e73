"""Which kernel data plane to program: ``lvs_backend ipvs|nftables|auto``."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lvsfast.config.environment import kernel_has_ipvs

if TYPE_CHECKING:
    from lvsfast.dataplane.backend import Backend

log = logging.getLogger("lvsfast.dataplane")


def choose(requested: str = "auto") -> str:
    """``"ipvs"`` or ``"nftables"``; ``auto`` takes IPVS when the kernel has it, and logs the choice."""
    if requested in ("ipvs", "nftables"):
        return requested
    if requested != "auto":
        raise ValueError(f"lvs_backend {requested!r}: expected ipvs, nftables or auto")
    chosen = "ipvs" if kernel_has_ipvs() else "nftables"
    log.info("lvs_backend auto: %s (%s)", chosen,
             "the kernel has IPVS" if chosen == "ipvs" else "no IPVS in this kernel")
    return chosen


def make_backend(requested: str = "auto", *, keep_on_close: bool = False) -> "Backend":
    """The backend :func:`choose` picks, made (its module imported only now). ``keep_on_close``:
    IPVS's ``dont_release_ipvs``, leaving the kernel's entries in place on stop."""
    if choose(requested) == "ipvs":
        from lvsfast.ipvs.backend import IPVSBackend

        return IPVSBackend(keep_on_close=keep_on_close)
    from lvsfast.nft.backend import NftBackend

    return NftBackend()
