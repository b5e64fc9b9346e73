"""What the nftables backend can express, and the message for what it cannot.

nftables schedules without per-connection state in the kernel's hands: a hash or a counter
picks the real server. Schedulers that need live connection counts (lc, wlc, ...) and
tunnelling are refused, never approximated; direct routing is stateless (render.py says what
that cannot do). The config checker calls
:func:`unsupported` so ``lvsfast -t`` says so before anything is programmed.
"""
from __future__ import annotations

from lvsfast.dataplane.model import Dest, Service

# "random" is nftables-only (numgen random); the rest are IPVS's names.
SCHEDULERS = frozenset({"rr", "wrr", "random", "sh", "dh", "mh"})
STATEFUL = frozenset({"lc", "wlc", "lblc", "lblcr", "sed", "nq", "fo", "ovf"})
# sh-fallback/mh-fallback: servers at weight 0 are already out of the hash, so the flag holds.
FLAGS = frozenset({"sh-port", "mh-port", "sh-fallback", "mh-fallback"})


def unsupported(item: Service | Dest) -> str | None:
    """Why the nftables backend cannot program ``item`` (a service or a real server), or None."""
    if isinstance(item, Service):
        key = item.key
        if key.family != 4:
            return f"{key}: IPv6 virtual servers need the IPVS backend (lvs_backend ipvs); the nftables backend programs IPv4 only"
        if item.scheduler in STATEFUL:
            return (f"{key}: lb_algo {item.scheduler} needs connection counts the nftables backend cannot keep; "
                    f"use the IPVS backend (lvs_backend ipvs) or rr, wrr, sh, dh, mh")
        if item.scheduler not in SCHEDULERS:
            return f"{key}: lb_algo {item.scheduler} is unknown to the nftables backend; use the IPVS backend (lvs_backend ipvs)"
        bad = sorted(f for f in item.flags if f not in FLAGS or not f.startswith(item.scheduler + "-"))
        if bad:
            return f"{key}: scheduler flags {', '.join(bad)} with {item.scheduler} need the IPVS backend (lvs_backend ipvs)"
        if item.persistence_engine:
            return f"{key}: persistence_engine {item.persistence_engine} needs the IPVS backend (lvs_backend ipvs)"
        if item.forward == "dr" and (item.persistence_timeout or key.fwmark):
            return (f"{key}: lb_kind DR on the nftables backend is stateless: no persistence and no fwmark "
                    f"services; use the IPVS backend (lvs_backend ipvs)")
        if item.forward == "tun":
            return f"{key}: lb_kind TUN needs the IPVS backend (lvs_backend ipvs)"
        if item.persistence_timeout and not 0 < item.persistence_granularity <= 32:
            return f"{key}: persistence_granularity /{item.persistence_granularity} is not an IPv4 prefix"
        return None
    if item.forward not in ("nat", "dr"):
        return (f"real server {item.key}: lb_kind {item.forward.upper()} needs the IPVS backend "
                f"(lvs_backend ipvs); the nftables backend forwards by NAT or DR only")
    if ":" in item.key.address:
        return f"real server {item.key}: IPv6 real servers need the IPVS backend (lvs_backend ipvs)"
    if item.u_threshold or item.l_threshold:
        return (f"real server {item.key}: uthreshold/lthreshold need connection counts; "
                f"use the IPVS backend (lvs_backend ipvs)")
    return None
