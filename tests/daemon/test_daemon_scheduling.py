"""keepalived's per-process scheduling keywords reach the children (vrrp_rt_priority & co.)."""
from __future__ import annotations

import os
import resource

from lvsfast.daemon.scheduling import DEFAULT_RLIMIT_RTTIME_US, Tuning, tuning
from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_lab import VrrpLab, instance_conf


def test_tuning_reads_each_childs_keywords_and_names_bad_values():
    extra = (("vrrp_rt_priority", ("20",)), ("vrrp_no_swap", ()), ("checker_priority", ("-5",)),
             ("checker_cpu_affinity", ("0", "1")), ("vrrp_priority", ("42",)), ("checker_rlimit_rttime", ("x",)))
    vrrp, errors = tuning(extra, "vrrp")
    assert vrrp == Tuning(nice=None, rt_priority=20, no_swap=True)
    assert errors == ["vrrp_priority 42 is outside -20..19"]
    # Asked for nothing, the VRRP child runs at lvsfast's default nice; the checker at 0.
    assert tuning((), "vrrp") == (Tuning(nice=-10, default_nice=True, slice_us=100), [])
    assert tuning((), "checker") == (Tuning(), [])
    assert tuning((("vrrp_priority", ("0",)),), "vrrp") == (Tuning(nice=0, slice_us=100), [])
    # lvsfast's vrrp_sched_slice: 0 is the kernel's own; under 100 us the kernel would refuse it.
    assert tuning((("vrrp_sched_slice", ("0",)),), "vrrp")[0].slice_us is None
    assert tuning((("vrrp_sched_slice", ("750",)),), "vrrp")[0].slice_us == 750
    assert tuning((("vrrp_sched_slice", ("50",)),), "vrrp") == (
        Tuning(nice=-10, default_nice=True), ["vrrp_sched_slice 50 is below the kernel's 100 us"])
    checker, errors = tuning(extra, "checker")
    assert checker == Tuning(nice=-5, cpus=(0, 1))
    assert errors == ["checker_rlimit_rttime needs a number"]


def test_vrrp_child_runs_real_time_with_a_cpu_limit(lab, tmp_path):
    vlab = VrrpLab.build(lab, tmp_path, n=1)
    r = vlab.start_lvsfast("r1", "global_defs {\n    vrrp_rt_priority 20\n    vrrp_priority -5\n}\n"
                           + instance_conf(priority=150, advert_int=0.1))
    vlab.wait_master("r1")
    pid_file = tmp_path / "r1_vrrp.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=10, what="vrrp pid file")
    pid = int(pid_file.read_text())
    assert os.sched_getscheduler(pid) == os.SCHED_RR
    assert os.sched_getparam(pid).sched_priority == 20
    assert resource.prlimit(pid, resource.RLIMIT_RTTIME) == (DEFAULT_RLIMIT_RTTIME_US, DEFAULT_RLIMIT_RTTIME_US)
    assert os.getpriority(os.PRIO_PROCESS, pid) == -5
    assert r.state() == "MASTER"


def test_vrrp_child_defaults_to_nice_minus_ten(lab, tmp_path):
    vlab = VrrpLab.build(lab, tmp_path, n=1)
    vlab.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1))
    vlab.wait_master("r1")
    pid_file = tmp_path / "r1_vrrp.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=10, what="vrrp pid file")
    pid = int(pid_file.read_text())
    assert os.getpriority(os.PRIO_PROCESS, pid) == -10
    assert os.sched_getscheduler(pid) == os.SCHED_OTHER
    if _kernel() >= (6, 12):
        # The short EEVDF slice (vrrp_sched_slice's default), which older kernels do not have.
        assert _slice_ns(pid) == 100_000


def test_vrrp_sched_slice_zero_leaves_the_kernels_slice(lab, tmp_path):
    vlab = VrrpLab.build(lab, tmp_path, n=1)
    vlab.start_lvsfast("r1", "global_defs {\n    vrrp_sched_slice 0\n}\n" + instance_conf(priority=150, advert_int=0.1))
    vlab.wait_master("r1")
    pid_file = tmp_path / "r1_vrrp.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=10, what="vrrp pid file")
    pid = int(pid_file.read_text())
    assert os.getpriority(os.PRIO_PROCESS, pid) == -10
    if _kernel() >= (6, 12):
        assert _slice_ns(pid) != 100_000


def _kernel() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def _slice_ns(pid: int) -> int:
    for line in open(f"/proc/{pid}/sched"):
        if line.startswith("se.slice"):
            return int(line.split(":")[1])
    raise AssertionError(f"/proc/{pid}/sched has no se.slice")
