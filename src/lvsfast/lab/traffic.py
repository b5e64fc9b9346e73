"""The lab's client: steady HTTP requests to the VIP, reported as one JSON line per interval.

Run inside the client namespace (``python -m lvsfast.lab.traffic VIP``). Each request is a
fresh connection with a short timeout, so a failover shows up as failed requests and a real
server leaving shows up as its name disappearing from the counts. Bounded: it stops by itself
after ``--duration`` seconds.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
import time


def one_request(vip: str, port: int, timeout: float) -> str | None:
    """The name the real server answered with, or None on any failure."""
    try:
        with socket.create_connection((vip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET / HTTP/1.0\r\nHost: {vip}\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        return None
    return body.decode(errors="replace").strip() or None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("vip")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--rate", type=float, default=50.0, help="requests per second")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds per report line")
    ap.add_argument("--timeout", type=float, default=0.5)
    ap.add_argument("--duration", type=float, default=3600.0)
    args = ap.parse_args(argv)
    start = time.monotonic()
    period = 1.0 / args.rate
    counts: dict[str, int] = {}
    failed = 0
    next_report = start + args.interval
    next_req = start
    while time.monotonic() - start < args.duration:
        now = time.monotonic()
        if now < next_req:
            time.sleep(next_req - now)
        next_req += period
        name = one_request(args.vip, args.port, args.timeout)
        if name is None:
            failed += 1
        else:
            counts[name] = counts.get(name, 0) + 1
        if time.monotonic() >= next_report:
            print(json.dumps({"t": round(time.monotonic() - start, 3), "ok": counts, "failed": failed}), flush=True)
            counts, failed = {}, 0
            next_report += args.interval
    return 0


if __name__ == "__main__":
    sys.exit(main())
