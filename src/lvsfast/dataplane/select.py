"""Which kernel data plane to program: ``lvs_backend ipvs|nftables|auto``."""
from __future__ import annotations

import logging
import os
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lvsfast.dataplane.backend import Backend

log = logging.getLogger("lvsfast.dataplane")


def kernel_has_ipvs() -> bool:
    """IPVS is loaded, or modprobe could load it."""
    if os.path.exists("/proc/net/ip_vs"):
        return True
    import shutil  # only without /proc/net/ip_vs: shutil brings bz2 and lzma into the checker

    modprobe = shutil.which("modprobe") or ("/sbin/modprobe" if os.path.exists("/sbin/modprobe") else None)
    if modprobe is None:
        return False
    try:
        return subprocess.run([modprobe, "-n", "-q", "ip_vs"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


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
