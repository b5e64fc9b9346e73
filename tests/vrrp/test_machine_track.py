"""Tracking, sans-IO: weights, FAULT, rise/fall, files and processes as keepalived counts them."""
from __future__ import annotations

from hypothesis import given, strategies as st

from lvsfast.vrrp.spec import TrackSpec
from lvsfast.vrrp.track import ProcessSpec, ScriptTracker, effective_priority, file_value, process_up


def test_weights_add_when_up_or_subtract_when_down():
    tracks = (TrackSpec("script", "plus", 20), TrackSpec("script", "minus", -50))
    assert effective_priority(100, tracks, {}) == (120, "")
    assert effective_priority(100, tracks, {("script", "plus"): False}) == (100, "")
    assert effective_priority(100, tracks, {("script", "minus"): False}) == (70, "")


def test_weight_zero_faults_and_reverse_swaps():
    tracks = (TrackSpec("interface", "eth1", 0), TrackSpec("process", "nginx", 0, reverse=True))
    assert effective_priority(100, tracks, {("interface", "eth1"): False}) == (100, "interface eth1 down")
    assert effective_priority(100, tracks, {("process", "nginx"): True})[1] == "process nginx down"


def test_files_multiply_by_weight_and_owner_is_never_moved():
    tracks = (TrackSpec("file", "f", 10), TrackSpec("file", "g", 0))
    assert effective_priority(100, tracks, {}, {("file", "f"): 3}) == (130, "")
    assert effective_priority(100, tracks, {}, {("file", "g"): 1}) == (100, "track_file g is 1")
    assert effective_priority(255, (TrackSpec("script", "s", -100),), {("script", "s"): False}) == (255, "")
    assert file_value("  42 extra\n") == 42 and file_value("junk") == 0 and file_value("") == 0


@given(st.integers(1, 254), st.lists(st.tuples(st.integers(-254, 254), st.booleans()), max_size=6))
def test_priority_stays_in_range(base, items):
    tracks = tuple(TrackSpec("script", str(i), w) for i, (w, _) in enumerate(items))
    up = {("script", str(i)): ok for i, (_, ok) in enumerate(items)}
    prio, _ = effective_priority(base, tracks, up)
    assert 1 <= prio <= 254


def test_script_rise_and_fall():
    t = ScriptTracker.initial(rise=2, fall=3, init_fail=False)
    assert [t.result(False) for _ in range(3)] == [None, None, False]
    assert [t.result(True) for _ in range(2)] == [None, True]
    assert ScriptTracker.initial(1, 1, init_fail=True).ok is False


def test_process_quorum_and_parameter_matching():
    table = [("nginx", ["nginx", "-g", "daemon off;"]), ("nginx", ["nginx", "worker"]), ("sshd", ["sshd"])]
    assert process_up(ProcessSpec("p", "nginx", quorum=2), table)
    assert not process_up(ProcessSpec("p", "nginx", quorum=3), table)
    assert not process_up(ProcessSpec("p", "nginx", quorum=1, quorum_max=1), table)
    assert process_up(ProcessSpec("p", "nginx", "initial", ("-g",)), table)
    assert not process_up(ProcessSpec("p", "nginx", None, ("-g",)), table)
    assert process_up(ProcessSpec("p", "nginx", "partial", ("worker",)), table)
    assert not process_up(ProcessSpec("p", "haproxy"), table)
