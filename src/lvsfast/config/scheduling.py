"""The rules of keepalived's per-process scheduling keywords in global_defs: what ``vrrp_*`` and
``checker_*`` ask for (``_priority``, ``_rt_priority``, ``_rlimit_rttime``, ``_no_swap``,
``_cpu_affinity``, lvsfast's ``vrrp_sched_slice``) and what is wrong with the values.

Read here so that ``-t`` reports a bad value at its line; :mod:`lvsfast.daemon.scheduling`
applies the result in each child after the fork, and explains the keywords and lvsfast's
defaults (a VRRP child at nice -10 with a 100 us slice unless told otherwise).
"""
from __future__ import annotations

from lvsfast.frozen import record

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from lvsfast.config.model import Extra

DEFAULT_VRRP_NICE = -10
DEFAULT_VRRP_SLICE_US = 100


@record
class Tuning:
    nice: int | None = None
    rt_priority: int | None = None
    rlimit_rttime_us: int | None = None
    no_swap: bool = False
    cpus: tuple[int, ...] = ()
    default_nice: bool = False  # lvsfast's own default, not asked for: failing it is no error
    slice_us: int | None = None  # EEVDF's requested slice (Linux 6.12+; older kernels ignore it)


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
    nice, rt = number("priority", -20, 19), number("rt_priority", 1, 2**31 - 1)
    if rt is not None and rt > 99:  # keepalived takes the maximum, and says so
        errors.append(f"{child}_rt_priority {rt} is greater than the maximum 99 - setting to maximum")
        rt = 99
    default = child == "vrrp" and nice is None and rt is None and not any(
        k in values for k in ("vrrp_priority", "vrrp_rt_priority"))
    slice_us = None
    if child == "vrrp" and rt is None:
        # 0 leaves the kernel's slice; the kernel takes 100..100000 us.
        asked = number("sched_slice", 0, 100_000)
        slice_us = DEFAULT_VRRP_SLICE_US if "vrrp_sched_slice" not in values else (asked or None)
        if slice_us is not None and slice_us < 100:
            errors.append(f"vrrp_sched_slice {slice_us} is below the kernel's 100 us")
            slice_us = None
    return Tuning(DEFAULT_VRRP_NICE if default else nice, rt, number("rlimit_rttime", 1, 2**31 - 1),
                  f"{child}_no_swap" in values, cpus, default_nice=default, slice_us=slice_us), errors
