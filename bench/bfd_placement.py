"""Where BFD runs: what a state change costs to reach the VRRP machine (bfd_master_down's path).

Two placements, measured on this machine in one run:
- in the VRRP child: the session's StateChange calls the VRRP side on the same loop (a call);
- in a BFD child of its own, as keepalived does: the event crosses the daemon's channel to the
  parent, which relays it to the VRRP child (two socketpair hops with lvsfast's framing: a
  4-byte length and a pickled dict), each end an asyncio loop.

Also: the 10 ms transmit timer's lateness on a loop shared with VRRP adverts at 10 ms, against
a loop of its own (the cost of sharing). Writes bench/results/<UTC>-bfd_placement.json (bench/results_file.py).
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import pickle
import socket
import struct
import sys
import time
from pathlib import Path

import results_file

_LEN = struct.Struct(">I")
N = 2000


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def _summary(xs_us: list[float]) -> dict[str, float]:
    return {"p50_us": round(_pct(xs_us, 50), 1), "p99_us": round(_pct(xs_us, 99), 1),
            "max_us": round(max(xs_us), 1), "n": len(xs_us)}


def in_process() -> list[float]:
    out = []
    seen = []

    def vrrp_side(ev: dict) -> None:
        seen.append(time.monotonic())

    for _ in range(N):
        t0 = time.monotonic()
        vrrp_side({"event": "bfd_state", "instance": "B1", "state": "DOWN"})
        out.append((seen[-1] - t0) * 1e6)
    return out


async def _reader_loop(sock: socket.socket, on_msg) -> None:
    reader, _ = await asyncio.open_connection(sock=sock)
    while True:
        head = await reader.readexactly(_LEN.size)
        (n,) = _LEN.unpack(head)
        on_msg(pickle.loads(await reader.readexactly(n)))


def _frame(msg: dict) -> bytes:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(data)) + data


def _parent(up: socket.socket, down: socket.socket) -> None:
    async def main() -> None:
        _, writer = await asyncio.open_connection(sock=down)
        await _reader_loop(up, lambda m: writer.write(_frame(m)))
    try:
        asyncio.run(main())
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


def _vrrp(sock: socket.socket, back: socket.socket) -> None:
    def got(m: dict) -> None:
        back.send(struct.pack("=d", time.monotonic() - m["t"]))
    try:
        asyncio.run(_reader_loop(sock, got))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


def two_hops() -> list[float]:
    bfd_end, parent_in = socket.socketpair()
    parent_out, vrrp_end = socket.socketpair()
    res_r, res_w = socket.socketpair()
    ctx = mp.get_context("fork")
    p1 = ctx.Process(target=_parent, args=(parent_in, parent_out))
    p2 = ctx.Process(target=_vrrp, args=(vrrp_end, res_w))
    p1.start(), p2.start()
    out = []
    time.sleep(0.3)
    for _ in range(N):
        bfd_end.sendall(_frame({"event": "bfd_state", "instance": "B1", "state": "DOWN", "t": time.monotonic()}))
        (dt,) = struct.unpack("=d", res_r.recv(8))
        out.append(dt * 1e6)
        time.sleep(0.002)  # events are rare: each one finds the loops idle, as a real one would
    bfd_end.close(), parent_in.close(), parent_out.close(), vrrp_end.close()
    p1.terminate(), p2.terminate()
    p1.join(), p2.join()
    return out


def timer_lateness(shared: bool, seconds: float = 5.0) -> list[float]:
    """A 10 ms BFD transmit timer's lateness; ``shared``: the loop also sends 10 ms VRRP-like
    adverts (an encode and a sendto each) and serves them on the same loop."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from lvsfast.vrrp.deadline import DeadlineTimer

    late: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        dst = s.getsockname()
        state = {"due": time.monotonic() + 0.01}

        def bfd_fire() -> None:
            now = time.monotonic()
            late.append((now - state["due"]) * 1e6)
            s.sendto(b"\x20\x40\x03\x18" + bytes(20), dst)
            state["due"] += 0.01
            t.at(state["due"])
        t = DeadlineTimer(loop, bfd_fire)
        t.at(state["due"])
        if shared:
            vstate = {"due": time.monotonic() + 0.005}

            def vrrp_fire() -> None:
                s.sendto(pickle.dumps({"vrid": 51, "prio": 100}), dst)
                vstate["due"] += 0.01
                v.at(vstate["due"])
            v = DeadlineTimer(loop, vrrp_fire)
            v.at(vstate["due"])
        loop.add_reader(s.fileno(), lambda: s.recv(2048))
        await asyncio.sleep(seconds)
        t.close()
    asyncio.run(main())
    return late


def main() -> None:
    res = {
        "bench": "bfd_placement",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "cpus": os.cpu_count(),
        "event_to_vrrp_in_vrrp_child": _summary(in_process()),
        "event_to_vrrp_via_own_child_and_parent": _summary(two_hops()),
        "tx_timer_10ms_lateness_own_loop": _summary(timer_lateness(False)),
        "tx_timer_10ms_lateness_shared_with_vrrp_10ms": _summary(timer_lateness(True)),
    }
    p99 = {k: {"median": v["p99_us"], "min": v["p99_us"], "max": v["p99_us"], "n": 1}
           for k, v in res.items() if isinstance(v, dict)}
    res["scenario"] = "bfd_placement"
    res["results"] = [
        results_file.row("BFD Down to VRRP", "event to VRRP p99", "us", p99["event_to_vrrp_in_vrrp_child"],
                         "via a BFD child and the parent", p99["event_to_vrrp_via_own_child_and_parent"]),
        results_file.row("10 ms BFD tx timer", "lateness p99", "us", p99["tx_timer_10ms_lateness_shared_with_vrrp_10ms"],
                         "on a loop of its own", p99["tx_timer_10ms_lateness_own_loop"])]
    results_file.write("bfd_placement", res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
