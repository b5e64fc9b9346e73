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

lvsfast's own ``vrrp_sched_slice USEC`` (default 100, 0 for the kernel's) asks the scheduler
(EEVDF, Linux 6.12+) for a short slice for the VRRP child: a task that wakes with a short slice
preempts the running one at once instead of waiting out its slice. That is the latency a
real-time priority gives, without its risk, and it takes no more CPU share: beside 3,000 checks
a second, send jitter p99 fell from 1.0-2.7 ms to 0.17-0.22 ms. Older kernels ignore it.
"""
from __future__ import annotations

import os

# ctypes, resource and struct are imported where a child applies its tuning, not at import.

# The rules (what global_defs asks for, what is wrong with it) sit in config, which -t checks with.
from lvsfast.config.scheduling import Tuning, tuning  # noqa: F401  (tuning: the children call it here)

DEFAULT_RLIMIT_RTTIME_US = 500_000
_MCL_CURRENT, _MCL_FUTURE = 1, 2
_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


def apply(t: Tuning) -> list[str]:
    """Apply ``t`` to the calling process; returns what could not be done (never raises)."""
    failed: list[str] = []
    if t.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, t.nice)
        except OSError as exc:
            if not t.default_nice:
                failed.append(f"nice {t.nice}: {exc.strerror}")
    if t.slice_us is not None:
        _request_slice(t.slice_us)
    if t.cpus:
        try:
            os.sched_setaffinity(0, t.cpus)
        except OSError as exc:
            failed.append(f"cpu affinity {t.cpus}: {exc.strerror}")
    if t.rt_priority is not None:
        limit = t.rlimit_rttime_us or DEFAULT_RLIMIT_RTTIME_US
        import resource

        try:
            # The limit first: a real-time process that never blocks would own a core.
            resource.setrlimit(resource.RLIMIT_RTTIME, (limit, limit))
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(t.rt_priority))
        except OSError as exc:
            failed.append(f"real-time priority {t.rt_priority}: {exc.strerror}")
    if t.no_swap:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0:
            failed.append(f"locking memory: {os.strerror(ctypes.get_errno())}")
    return failed


def _request_slice(us: int) -> bool:
    """Ask EEVDF for a short slice: a task that wakes with one preempts the running task at once
    instead of waiting out that task's slice (Linux 6.12, sched_attr.sched_runtime for
    SCHED_OTHER). Elsewhere the call fails or the value is ignored; either way nothing changes."""
    nr = _SYS_SCHED_SETATTR.get(os.uname().machine)
    if nr is None:
        return False
    import ctypes
    import struct

    # struct sched_attr, SCHED_ATTR_SIZE_VER0: size, policy, flags, nice, priority, runtime, deadline, period
    nice = os.getpriority(os.PRIO_PROCESS, 0)  # sched_setattr sets it too: keep what is in force
    attr = struct.pack("=IIQiIQQQ", 48, os.SCHED_OTHER, 0, nice, 0, us * 1000, 0, 0)
    buf = ctypes.create_string_buffer(attr, len(attr))
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(nr, 0, buf, 0) == 0
