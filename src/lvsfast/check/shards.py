"""Several batched probers, each on a thread of its own (global_defs ``checker_probers``).

At 20,000 TCP checks a second the kernel's own work (connect, epoll, close) nearly fills one
core, so one prober on the event loop's thread cannot keep the schedule. Here each shard is a
:class:`~lvsfast.check.tcp_probe.TcpProber` driven by its thread through ``serve()``, which
loops in C with the GIL released: the shards' system calls run on as many cores as there are
shards, while the sans-IO core stays one, on the loop's thread. Threads rather than processes
(measured: bench/checker_scale.py --probers): results and commands cross as Python tuples with
no pickling, a shard's ``runs()`` is read in place, and a steady pool hands nothing over at all.

Only the shard's thread calls its prober (but for the counters ``runs``, ``worst_lateness`` and
the lateness histogram, read in place): the loop's thread queues commands and writes the
shard's eventfd, which ends ``serve()``. Results come back in batches through
``call_soon_threadsafe``, each already with its answer; the core then treats them as it treats
the one prober's, so the table updates stay coalesced into one backend transaction per flush
however many shards reported.

Each shard numbers its checks itself (small, dense numbers keep its C tables small). A number
is reused only after the shard said it dropped the check, in a batch sent after every result
of the old check, so a late result never reaches the check that took its number.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from typing import Any, Callable

from lvsfast.check.lateness import summary
from lvsfast.check.tcp_probe import TcpProber

log = logging.getLogger("lvsfast.check")

# A shard's serve() returns at least this often with nothing to report (its stop flag).
MAX_WAIT = 1.0

Result = tuple[int, int, bytes]  # (token, errno, answer of an exchange's handed-over run or b"")


class Shard:
    """One prober and its thread; the attributes but ``commands`` are the loop thread's."""

    def __init__(self, index: int, post: Callable[["Shard", list[Result], list[int]], None],
                 limit: int, ahead: float, prober: Callable[[], Any] = TcpProber) -> None:
        self.index = index
        self.prober = prober()
        self.wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.prober.watch(self.wakefd)
        self.commands: deque[tuple] = deque()  # appended by the loop's thread, taken by the shard's
        self.tokens: list[int | None] = []  # the shard's number -> the service's token (None: dropped)
        self.free: list[int] = []  # numbers the shard confirmed dropped
        self.count = 0
        self.hold = False  # while the loop's thread takes a batch: one wake-up for its commands, after
        self.held = False
        self.stopping = False
        self._post = post
        self._limit, self._ahead = limit, ahead
        self.thread = threading.Thread(target=self._run, name=f"lvsfast-prober-{index}", daemon=True)

    def send(self, *command: Any) -> None:
        self.commands.append(command)
        if self.hold:
            self.held = True
        else:
            os.eventfd_write(self.wakefd, 1)

    def release(self) -> None:
        self.hold = False
        if self.held:
            self.held = False
            os.eventfd_write(self.wakefd, 1)

    def _run(self) -> None:
        try:
            self._serve()
        except Exception:  # its checks would stop unseen: say so loudly
            log.exception("checker prober %d failed; its checks no longer run", self.index)

    def _serve(self) -> None:
        prober, commands = self.prober, self.commands
        out: list[tuple[int, int]] = []
        while not self.stopping:
            dropped: list[int] = []
            while commands:
                op, local, *args = commands.popleft()
                if op == "unschedule":
                    prober.unschedule(local)
                    dropped.append(local)
                else:
                    getattr(prober, op)(local, *args)
            prober.serve(out, MAX_WAIT, self._limit, self._ahead)
            if out or dropped:
                # An exchange's answer goes with its result (b"" for a connect or a failure).
                batch = [(t, e, prober.response(t) if e == 0 else b"") for t, e in out]
                out = []
                self._post(self, batch, dropped)


class Shards:
    """N shards behind the one prober's interface (as the checker service uses it)."""

    def __init__(self, n: int, deliver: Callable[[list[Result]], None], limit: int = 256,
                 ahead: float = 0.0, prober: Callable[[], Any] = TcpProber) -> None:
        """``prober``: the class each shard runs (the tests give the pure twin too)."""
        self._loop = asyncio.get_running_loop()
        self._deliver = deliver
        self.shards = [Shard(i, self._post, limit, ahead, prober) for i in range(n)]
        self._where: dict[int, tuple[Shard, int]] = {}  # token -> (shard, its number there)
        for s in self.shards:
            s.thread.start()

    def __len__(self) -> int:
        return len(self.shards)

    # ---- from the shards' threads ----------------------------------------------------------

    def _post(self, shard: Shard, batch: list[Result], dropped: list[int]) -> None:
        self._loop.call_soon_threadsafe(self._receive, shard, batch, dropped)

    def _receive(self, shard: Shard, batch: list[Result], dropped: list[int]) -> None:
        shard.free += dropped
        tokens = shard.tokens
        results = [(tokens[local], err, answer) for local, err, answer in batch if tokens[local] is not None]
        if results:
            # The batch's next() commands to this shard wake it once, not once each.
            shard.hold = True
            try:
                self._deliver(results)  # type: ignore[arg-type]
            finally:
                shard.release()

    # ---- the prober's interface, from the loop's thread ------------------------------------

    def schedule(self, token: int, *args: Any) -> None:
        """As TcpProber.schedule(), on the shard with the fewest checks."""
        self.unschedule(token)
        shard = min(self.shards, key=lambda s: s.count)
        if shard.free:
            local = shard.free.pop()
            shard.tokens[local] = token
        else:
            local = len(shard.tokens)
            shard.tokens.append(token)
        shard.count += 1
        self._where[token] = (shard, local)
        shard.send("schedule", local, *args)

    def unschedule(self, token: int) -> None:
        where = self._where.pop(token, None)
        if where is not None:
            shard, local = where
            shard.tokens[local] = None
            shard.count -= 1
            shard.send("unschedule", local)

    def next(self, token: int, at: float, report: bool) -> None:
        where = self._where.get(token)
        if where is not None:
            where[0].send("next", where[1], at, report)

    def pause(self, token: int) -> None:
        where = self._where.get(token)
        if where is not None:
            where[0].send("pause", where[1])

    def resume(self, token: int, at: float) -> None:
        where = self._where.get(token)
        if where is not None:
            where[0].send("resume", where[1], at)

    def shard_of(self, token: int) -> int | None:
        where = self._where.get(token)
        return where[0].index if where is not None else None

    def runs(self, token: int) -> int:
        where = self._where.get(token)
        return where[0].prober.runs(where[1]) if where is not None else 0

    def worst_lateness(self) -> float:
        return max(s.prober.worst_lateness() for s in self.shards)

    def lateness_summary(self, clear: bool = False) -> dict[str, int | None]:
        hists = [s.prober.lateness_hist(clear) for s in self.shards]
        return summary([sum(col) for col in zip(*hists)])

    def record_lateness(self, on: bool) -> None:
        for s in self.shards:
            s.prober.record_lateness(on)

    def lateness_samples(self) -> list[float]:
        return [x for s in self.shards for x in s.prober.lateness_samples()]

    def close(self) -> None:
        """Stop the threads, then abandon every connect under way."""
        for s in self.shards:
            s.stopping = True
            os.eventfd_write(s.wakefd, 1)
        for s in self.shards:
            s.thread.join(5)
            s.prober.close()
            os.close(s.wakefd)
        self.shards = []
        self._where.clear()
