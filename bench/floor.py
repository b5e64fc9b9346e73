"""The floor of a health check: bench/tcp_floor.pyx built at run time and measured.

    python bench/floor.py --servers 127.0.0.1:20000 --n 20000 --seconds 5 [--http]

The .pyx is compiled once per content into /tmp (its hash in the name), so a change rebuilds
and nothing lands in the tree. ``measure()`` runs it in the calling process and reports what
the kernel's work of a check costs there: CPU microseconds per check (getrusage, user and
system), achieved rate, start lateness; bench/checker_scale.py calls it beside the checker, in
the same namespace and against the same servers.
"""
from __future__ import annotations

import argparse
import errno
import hashlib
import importlib.util
import json
import resource
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().with_name("tcp_floor.pyx")


def load():
    """The compiled floor module (built on first use of this source)."""
    digest = hashlib.sha256(SRC.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"lvsfast-floor-{digest}"
    so = next(out.glob("tcp_floor*.so"), None) if out.exists() else None
    if so is None:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext

        out.mkdir(parents=True, exist_ok=True)
        ext = cythonize([Extension("tcp_floor", [str(SRC)], extra_compile_args=["-O2"])],
                        build_dir=str(out), quiet=True, language_level=3)
        dist = Distribution({"ext_modules": ext})
        cmd = build_ext(dist)
        cmd.build_lib = str(out)
        cmd.build_temp = str(out / "tmp")
        cmd.ensure_finalized()
        cmd.run()
        so = next(out.glob("tcp_floor*.so"))
    spec = importlib.util.spec_from_file_location("tcp_floor", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_stime


def measure(servers: list[tuple[str, int]], seconds: float, period: float = 1.0, request: bytes | None = None,
            ahead: float = 0.02, timeout: float = 2.0) -> dict:
    """``ahead``: checks due within it start together, as the checker's TICK_AHEAD batches them
    (one wake-up per batch, not per check); lateness then runs from -ahead to 0."""
    import socket

    mod = load()
    packed = [(socket.inet_aton(h), p) for h, p in servers]
    # One unmeasured period first: the servers' accept queues and the kernel's caches warm up
    # as they do for the checker (whose first delay_loop is not measured either).
    mod.run(packed, period, min(period, seconds), timeout, request, ahead, 0)
    cpu0, sys0 = _cpu()
    r = mod.run(packed, period, seconds, timeout, request, ahead)
    cpu1, sys1 = _cpu()
    late = sorted(r.pop("lateness"))
    # Per completed check, as the checker's figure is per connection the servers accepted (a
    # socket() refused for want of descriptors, when a stalled server leaves connects open, is
    # nearly free and would flatter the floor).
    checks = max(1, r["connected"])

    def pct(p: float) -> float:
        return round(late[min(len(late) - 1, int(p * len(late)))] * 1000, 2) if late else float("nan")

    return {"impl": "floor", "n": len(servers), "check": "HTTP" if request else "TCP",
            "scheduled_per_s": round(len(servers) / period, 1),
            "achieved_per_s": round(r["connected"] / r["wall_s"], 1),
            "started_per_s": round(r["started"] / r["wall_s"], 1),
            "failed": r["failed"], "timed_out": r["timed_out"],
            "errors": {errno.errorcode.get(k, str(k)): v for k, v in r["errors"].items()},
            "cpu_pct": round(100 * (cpu1 - cpu0) / r["wall_s"], 1),
            "cpu_us_per_check": round(1e6 * (cpu1 - cpu0) / checks, 1),
            "kernel_us_per_check": round(1e6 * (sys1 - sys0) / checks, 1),
            "lateness_p50_ms": pct(0.5), "lateness_p99_ms": pct(0.99), "ahead_ms": ahead * 1000,
            "raw": {"cpu_s": cpu1 - cpu0, "sys_s": sys1 - sys0, "connected": r["connected"], "wall_s": r["wall_s"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", nargs="+", required=True, help="host:port; repeated round-robin up to --n")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--ahead", type=float, default=0.02)
    a = ap.parse_args()
    base = [(h, int(p)) for h, p in (s.rsplit(":", 1) for s in a.servers)]
    n = a.n or len(base)
    servers = [base[i % len(base)] for i in range(n)]
    req = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n" if a.http else None
    print(json.dumps(measure(servers, a.seconds, request=req, ahead=a.ahead)))


if __name__ == "__main__":
    sys.exit(main())
