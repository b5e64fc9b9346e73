"""Pure-Python twin of ``lvsfast._core.tcp_probe``: the same prober on socket objects and
:class:`select.epoll`. Results, errors and deadlines behave identically; only the cost differs.
"""
from __future__ import annotations

import errno
import heapq
import select
import socket

__all__ = ["TcpProber", "CONNECTED"]

CONNECTED = -1
_BATCH = 1024
_EVENTS = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP


def _sockaddr(family: int, addr: bytes, port: int) -> tuple:
    if family == socket.AF_INET:
        if len(addr) != 4:
            raise ValueError("an IPv4 address is 4 bytes")
        return socket.inet_ntop(family, addr), port
    if len(addr) != 16:
        raise ValueError("an IPv6 address is 16 bytes")
    return socket.inet_ntop(family, addr), port, 0, 0


class TcpProber:
    """Non-blocking connects to many servers, watched by one epoll descriptor (:meth:`fileno`).

    :meth:`start` begins one connect; :meth:`harvest` collects the finished ones as
    ``(token, errno)`` (0 for connected); :meth:`expire` fails those past their deadline with
    ETIMEDOUT. A connect that ends at once is reported by :meth:`start`'s return value.
    Each socket is closed as soon as its result is known.
    """

    def __init__(self) -> None:
        self._epoll: select.epoll | None = select.epoll()
        self._slots: dict[int, tuple[int, socket.socket, int]] = {}  # fd -> (token, socket, serial)
        self._heap: list[tuple[float, int, int]] = []  # (deadline, serial, fd)
        self._serial = 0

    def fileno(self) -> int:
        if self._epoll is None:
            return -1
        return self._epoll.fileno()

    def __len__(self) -> int:
        return len(self._slots)

    def start(self, token: int, family: int, addr: bytes, port: int, timeout: float, now: float,
              bind_addr: bytes | None = None, bind_port: int = 0) -> int:
        """0 when the connect is under way; CONNECTED (-1) when it succeeded at once; else errno."""
        target = _sockaddr(family, addr, port)
        local = _sockaddr(family, bind_addr, bind_port) if bind_addr is not None else None
        if self._epoll is None:
            raise ValueError("prober is closed")
        try:
            sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        except OSError as exc:
            return exc.errno or errno.EINVAL
        try:
            if local is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(local)
            err = sock.connect_ex(target)
        except OSError as exc:
            sock.close()
            return exc.errno or errno.EINVAL
        if err == 0:
            sock.close()
            return CONNECTED
        if err != errno.EINPROGRESS:
            sock.close()
            return err
        fd = sock.fileno()
        try:
            self._epoll.register(fd, _EVENTS)
        except OSError as exc:
            sock.close()
            return exc.errno or errno.EINVAL
        self._serial += 1
        self._slots[fd] = (token, sock, self._serial)
        heapq.heappush(self._heap, (now + timeout, self._serial, fd))
        return 0

    def harvest(self, out: list) -> int:
        """Append ``(token, errno)`` for every finished connect; returns how many."""
        total = 0
        slots = self._slots
        while self._epoll is not None:
            events = self._epoll.poll(0, _BATCH)
            for fd, _ in events:
                slot = slots.pop(fd, None)
                if slot is None:
                    continue
                token, sock, _ = slot
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                sock.close()  # also leaves the epoll set
                out.append((token, err))
                total += 1
            if len(events) < _BATCH:
                break
        return total

    def _live(self, serial: int, fd: int) -> bool:
        slot = self._slots.get(fd)
        return slot is not None and slot[2] == serial

    def expire(self, now: float, out: list) -> None:
        """Fail every connect whose deadline is <= ``now`` with ETIMEDOUT (appended to ``out``)."""
        heap = self._heap
        while heap:
            at, serial, fd = heap[0]
            if not self._live(serial, fd):
                heapq.heappop(heap)
                continue
            if at > now:
                break
            heapq.heappop(heap)
            token, sock, _ = self._slots.pop(fd)
            sock.close()
            out.append((token, errno.ETIMEDOUT))

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or None."""
        heap = self._heap
        while heap:
            at, serial, fd = heap[0]
            if self._live(serial, fd):
                return at
            heapq.heappop(heap)
        return None

    def close(self) -> None:
        """Abandon every pending connect and release the epoll descriptor."""
        for _, sock, _ in self._slots.values():
            sock.close()
        self._slots.clear()
        self._heap.clear()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
