"""The checker's timer queue, sans-IO: due order, batching, moves and lazy removal."""
from __future__ import annotations

from hypothesis import given, strategies as st

from lvsfast.check.timer_queue import TimerQueue


def test_due_items_come_out_earliest_first_in_batches():
    q: TimerQueue[str] = TimerQueue()
    for at, name in [(3.0, "c"), (1.0, "a"), (2.0, "b"), (9.0, "z")]:
        q.push(at, name)
    assert q.next_at() == 1.0
    assert q.pop_due(5.0, limit=2) == [(1.0, "a"), (2.0, "b")]
    assert q.pop_due(5.0, limit=2) == [(3.0, "c")]
    assert q.pop_due(5.0, limit=2) == []
    assert q.next_at() == 9.0 and len(q) == 1


def test_push_again_moves_and_remove_is_lazy():
    q: TimerQueue[str] = TimerQueue()
    q.push(1.0, "a")
    q.push(2.0, "b")
    q.push(5.0, "a")  # rescheduled: the old entry must not fire
    q.remove("b")
    assert "b" not in q and "a" in q
    assert q.next_at() == 5.0
    assert q.pop_due(4.0, 10) == []
    assert q.pop_due(5.0, 10) == [(5.0, "a")]
    assert q.next_at() is None and len(q) == 0


@given(st.lists(st.tuples(st.integers(0, 20), st.floats(0, 100), st.booleans()), max_size=60))
def test_matches_a_simple_model(ops):
    q: TimerQueue[int] = TimerQueue()
    model: dict[int, float] = {}
    for item, at, remove in ops:
        if remove:
            q.remove(item)
            model.pop(item, None)
        else:
            q.push(at, item)
            model[item] = at
    assert q.next_at() == (min(model.values()) if model else None)
    got = q.pop_due(50.0, 1000)
    want = sorted((at, i) for i, at in model.items() if at <= 50.0)
    assert [at for at, _ in got] == [at for at, _ in want]
    assert {i for _, i in got} == {i for _, i in want}
    assert len(q) == len(model) - len(want)
