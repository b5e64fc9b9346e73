"""When each check runs next: one queue for every checker, instead of a sleeping task per check.

Sans-IO: items go in with the time they are due; :meth:`TimerQueue.pop_due` hands back those
whose time has come, in order, at most ``limit`` at a time. The caller owns the clock and the
one timer that wakes it at :meth:`next_at`. Thousands of checks then cost one heap operation
each and one loop timer in all.

Removal is lazy: a removed item's entry stays in the heap and is dropped when it surfaces, so
removing a server on reload costs O(1) and never reorders the heap.
"""
from __future__ import annotations

import heapq
import itertools
from typing import Generic, Hashable, TypeVar

T = TypeVar("T", bound=Hashable)


class TimerQueue(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._live: dict[T, int] = {}  # item -> the sequence number of its only valid entry
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, item: T) -> bool:
        return item in self._live

    def push(self, at: float, item: T) -> None:
        """Schedule ``item`` at ``at``; an item already queued is moved, not duplicated."""
        seq = next(self._seq)
        self._live[item] = seq
        heapq.heappush(self._heap, (at, seq, item))

    def remove(self, item: T) -> None:
        self._live.pop(item, None)

    def next_at(self) -> float | None:
        """The earliest due time, or None when nothing is queued."""
        heap, live = self._heap, self._live
        while heap:
            at, seq, item = heap[0]
            if live.get(item) == seq:
                return at
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float, limit: int) -> list[tuple[float, T]]:
        """Up to ``limit`` (due time, item) pairs with due time <= ``now``, earliest first."""
        heap, live = self._heap, self._live
        out: list[tuple[float, T]] = []
        pop = heapq.heappop
        while heap and len(out) < limit:
            at, seq, item = heap[0]
            if at > now:
                break
            pop(heap)
            if live.get(item) == seq:
                del live[item]
                out.append((at, item))
        return out
