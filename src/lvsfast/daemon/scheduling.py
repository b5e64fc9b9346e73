"""keepalived's per-process scheduling keywords, applied by each child right after the fork.

For ``vrrp`` and ``checker`` (global_defs): ``<p>_priority N`` (nice, -20..19),
``<p>_rt_priority N`` (SCHED_RR at 1..99), ``<p>_rlimit_rttime USEC`` (the CPU a real-time
process may use without blocking before the kernel stops it), ``<p>_no_swap`` (lock the process
in memory) and ``<p>_cpu_affinity CPU...``. A VRRP child at real-time priority keeps its
advert timing on a router whose cores are saturated by other work.

Two deviations. Without ``<p>_rlimit_rttime``, a real-time child gets 500 ms, not keepalived's
10 ms: a Python process may run that long without a system call (taking a large config in on
reload), and hitting the limit kills it. And a VRRP child given neither ``vrrp_priority`` nor
``vrrp_rt_priority`` runs at nice -10, not 0: it needs little CPU but needs it on time, and on a
router whose cores the checks keep busy its advert jitter at advert_int 0.01 fell from 1.5 ms
(p99) to 0.7 ms with it. Unprivileged, the default is simply not applied.
"""
from __future__ import annotations

import ctypes
import os
import resource
from dataclasses import dataclass

from lvsfast.config.model import Extra

DEFAULT_RLIMIT_RTTIME_US = 500_000
DEFAULT_VRRP_NICE = -10
_MCL_CURRENT, _MCL_FUTURE = 1, 2


@dataclass(frozen=True, slots=True)
class Tuning:
    nice: int | None = None
    rt_priority: int | None = None
    rlimit_rttime_us: int | None = None
    no_swap: bool = False
    cpus: tuple[int, ...] = ()
    default_nice: bool = False  # lvsfast's own default, not asked for: failing it is no error


def tuning(extra: Extra, child: str) -> tuple[Tuning, list[str]]:
    """The tuning ``global_defs`` asks for ``child`` ("vrrp" or "checker"), and what was wrong."""
    values: dict[str, tuple[str, ...]] = {k: args for k, args in extra if k.startswith(f"{child}_")}
    errors: list[str] = []

    def number(key: str, low: int, high: int) -> int | None:
        args = values.get(f"{child}_{key}")
        if args is None:
            return None
        try:
            n = int(args[0])
        except (IndexError, ValueError):
            errors.append(f"{child}_{key} needs a number")
            return None
        if not low <= n <= high:
            errors.append(f"{child}_{key} {n} is outside {low}..{high}")
            return None
        return n

    cpus: tuple[int, ...] = ()
    if f"{child}_cpu_affinity" in values:
        try:
            cpus = tuple(int(c) for c in values[f"{child}_cpu_affinity"])
        except ValueError:
            errors.append(f"{child}_cpu_affinity needs CPU numbers")
    nice, rt = number("priority", -20, 19), number("rt_priority", 1, 99)
    default = child == "vrrp" and nice is None and rt is None and not any(
        k in values for k in ("vrrp_priority", "vrrp_rt_priority"))
    return Tuning(DEFAULT_VRRP_NICE if default else nice, rt, number("rlimit_rttime", 1, 2**31 - 1),
                  f"{child}_no_swap" in values, cpus, default_nice=default), errors


def apply(t: Tuning) -> list[str]:
    """Apply ``t`` to the calling process; returns what could not be done (never raises)."""
    failed: list[str] = []
    if t.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, t.nice)
        except OSError as exc:
            if not t.default_nice:
                failed.append(f"nice {t.nice}: {exc.strerror}")
    if t.cpus:
        try:
            os.sched_setaffinity(0, t.cpus)
        except OSError as exc:
            failed.append(f"cpu affinity {t.cpus}: {exc.strerror}")
    if t.rt_priority is not None:
        limit = t.rlimit_rttime_us or DEFAULT_RLIMIT_RTTIME_US
        try:
            # The limit first: a real-time process that never blocks would own a core.
            resource.setrlimit(resource.RLIMIT_RTTIME, (limit, limit))
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(t.rt_priority))
        except OSError as exc:
            failed.append(f"real-time priority {t.rt_priority}: {exc.strerror}")
    if t.no_swap:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0:
            failed.append(f"locking memory: {os.strerror(ctypes.get_errno())}")
    return failed
