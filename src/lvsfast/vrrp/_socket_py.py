"""Pure-Python twin of ``lvsfast._core.vrrp_socket``: batch receive with one recvmsg per packet,
and timerfd deadlines through ctypes (Python 3.11's os module has no timerfd)."""
from __future__ import annotations

import ctypes
import os
import socket
import struct

__all__ = ["recv_batch", "timer_expired", "timer_open", "timer_set"]

IP_PKTINFO = 8  # Linux; Python 3.11's socket module does not export it
_MAXPKT = 4096
_CTRL = 128


def recv_batch(fd: int, family: int, max_packets: int = 64) -> list[tuple[bytes, bytes | None, bytes | None, int, int]]:
    """Every packet waiting on ``fd`` (up to ``max_packets``), without blocking (see the compiled twin)."""
    sock = socket.socket(fileno=fd)
    out = []
    try:
        for _ in range(max_packets if 0 < max_packets <= 1024 else 64):
            try:
                data, anc, _flags, addr = sock.recvmsg(_MAXPKT, _CTRL, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            ttl, ifindex, dst = -1, 0, None
            for level, typ, cdata in anc:
                if level == socket.IPPROTO_IP and typ == IP_PKTINFO:
                    ifindex = struct.unpack_from("i", cdata)[0]
                elif level == socket.IPPROTO_IPV6 and typ == socket.IPV6_PKTINFO:
                    dst = bytes(cdata[:16])
                    ifindex = struct.unpack_from("I", cdata, 16)[0]
                elif level == socket.IPPROTO_IPV6 and typ == socket.IPV6_HOPLIMIT:
                    ttl = struct.unpack_from("i", cdata)[0]
            if family == 6:
                src = socket.inet_pton(socket.AF_INET6, addr[0].split("%")[0])
                out.append((data, src, dst, ttl, ifindex))
            else:
                out.append((data, None, None, -1, ifindex))
    finally:
        sock.detach()  # the fd belongs to the caller
    return out


_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]


def timer_open() -> int:
    """A non-blocking CLOCK_MONOTONIC timerfd (close it with os.close)."""
    fd = _libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "timerfd_create failed")
    return fd


def timer_set(fd: int, when: float) -> None:
    """Arm ``fd`` to expire once at ``when`` (time.monotonic()'s clock); ``when`` <= 0 disarms."""
    spec = _Itimerspec()
    if when > 0:
        ns = max(1, int(when * 1e9))
        spec.it_value.tv_sec, spec.it_value.tv_nsec = divmod(ns, 1_000_000_000)
    if _libc.timerfd_settime(fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) < 0:
        raise OSError(ctypes.get_errno(), "timerfd_settime failed")


def timer_expired(fd: int) -> int:
    """How many expiries of ``fd`` are unread (0 or 1 for a one-shot), without blocking."""
    try:
        data = os.read(fd, 8)
    except (BlockingIOError, InterruptedError):
        return 0
    return struct.unpack("=Q", data)[0]
