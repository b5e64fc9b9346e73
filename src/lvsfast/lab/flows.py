"""The scale-out lab's client: long-lived TCP connections plus a stream of new ones.

Run inside the client namespace (``python -m lvsfast.lab.flows VIP``). ``--long`` keep-alive
HTTP/1.1 connections each send a request every ``--period`` seconds and note which real server
answered; one that fails (reset, timeout) is counted lost and not reopened, one whose real server
changes is counted moved. New connections (one request each, ``--rate`` a second) are recorded
with their start time, so an outage can be dated. A line of JSON per ``--interval``; on
SIGTERM/SIGINT or after ``--duration`` a final line ``{"final": ...}`` with every figure.
Bounded: it stops by itself after ``--duration`` seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field

REQUEST = b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n"


@dataclass
class LongFlow:
    first: str | None = None
    last: str | None = None
    lost_at: float | None = None
    lost_on: str | None = None
    moved: int = 0
    requests: int = 0


@dataclass
class Stats:
    long: list[LongFlow] = field(default_factory=list)
    new_ok: list[tuple[float, str]] = field(default_factory=list)
    new_failed: list[float] = field(default_factory=list)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> str:
    writer.write(REQUEST)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise OSError("not 200")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    body = await asyncio.wait_for(reader.readexactly(length), timeout)
    return body.decode(errors="replace").strip()


async def long_flow(vip: str, port: int, period: float, timeout: float, flow: LongFlow) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(vip, port), timeout)
    except (OSError, asyncio.TimeoutError):
        flow.lost_at = time.monotonic()
        return
    try:
        while True:
            name = await _exchange(reader, writer, timeout)
            flow.requests += 1
            if flow.first is None:
                flow.first = name
            elif name != flow.last:
                flow.moved += 1
            flow.last = name
            await asyncio.sleep(period)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, StopIteration, ValueError):
        flow.lost_at = time.monotonic()
        flow.lost_on = flow.last
    finally:
        writer.close()


async def new_flow(vip: str, port: int, timeout: float, stats: Stats) -> None:
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(vip, port), timeout)
        try:
            name = await _exchange(reader, writer, timeout)
        finally:
            writer.close()
        stats.new_ok.append((t0, name))
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, StopIteration, ValueError):
        stats.new_failed.append(t0)


def summary(stats: Stats) -> dict:
    flows = stats.long
    per_rs: dict[str, int] = {}
    for f in flows:
        if f.first:
            per_rs[f.first] = per_rs.get(f.first, 0) + 1
    return {
        "long": len(flows),
        "long_alive": sum(1 for f in flows if f.lost_at is None and f.first is not None),
        "long_lost": [{"at": f.lost_at, "rs": f.lost_on} for f in flows if f.lost_at is not None],
        "long_moved": sum(1 for f in flows if f.moved),
        "long_per_rs": per_rs,
        "new_ok": len(stats.new_ok),
        "new_failed_at": stats.new_failed,
        "new_per_rs": {n: sum(1 for _, m in stats.new_ok if m == n) for n in sorted({m for _, m in stats.new_ok})},
    }


async def run(args: argparse.Namespace) -> dict:
    stats = Stats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks: set[asyncio.Task] = set()
    for _ in range(args.long):
        flow = LongFlow()
        stats.long.append(flow)
        tasks.add(asyncio.ensure_future(long_flow(args.vip, args.port, args.period, args.long_timeout or args.timeout, flow)))
        await asyncio.sleep(0.01)  # staggered, so the requests do not all go at once
    start = time.monotonic()
    next_new = next_report = start
    news: set[asyncio.Task] = set()
    while not stop.is_set() and time.monotonic() - start < args.duration:
        now = time.monotonic()
        if args.rate and now >= next_new:
            t = asyncio.ensure_future(new_flow(args.vip, args.port, args.timeout, stats))
            news.add(t)
            t.add_done_callback(news.discard)
            # A client starved for a while (a busy host) does not make up for it in one burst.
            next_new = max(next_new + 1.0 / args.rate, now - 1.0)
        if now >= next_report:
            s = summary(stats)
            print(json.dumps({"t": round(now, 3), "long_alive": s["long_alive"], "long_lost": len(s["long_lost"]),
                              "new_ok": s["new_ok"], "new_failed": len(s["new_failed_at"])}), flush=True)
            next_report += args.interval
        try:
            await asyncio.wait_for(stop.wait(), max(0.001, min(next_new if args.rate else now + 1, next_report)
                                                    - time.monotonic()))
        except asyncio.TimeoutError:
            pass
    if news:
        await asyncio.wait(news, timeout=args.timeout + 1)
    return summary(stats)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("vip")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--long", type=int, default=60, help="long-lived connections")
    ap.add_argument("--period", type=float, default=0.2, help="seconds between a long connection's requests")
    ap.add_argument("--rate", type=float, default=50.0, help="new connections per second")
    ap.add_argument("--timeout", type=float, default=1.0)
    # A takeover that takes seconds (VRRP's master-down interval) stalls an established flow
    # that TCP then recovers: with a longer timeout than the new connections' it counts as
    # surviving, as its user would see it.
    ap.add_argument("--long-timeout", type=float, default=0.0, help="long connections' timeout (default --timeout)")
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--duration", type=float, default=600.0)
    args = ap.parse_args(argv)
    loop = asyncio.new_event_loop()
    final = loop.run_until_complete(run(args))
    print(json.dumps({"final": final}), flush=True)
    # Out at once: the open connections need no orderly close, and a loop shutdown that waits
    # for them must never cost the caller its summary.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
