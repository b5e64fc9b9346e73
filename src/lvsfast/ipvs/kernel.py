"""The IPVS generic-netlink socket: batched sends and dumps.

The kernel handles a netlink request inside ``sendmsg`` and fills a dump inside ``recvmsg``,
so nothing here waits on the kernel: a batch is many messages in one ``send``, sent without
NLM_F_ACK except the last one. The kernel still answers every failing message with an error
(netlink_rcv_skb acks on error whatever the flags), and the final ACK tells us the batch is
done, so a batch of 100,000 messages costs a handful of syscalls, not 100,000 round trips.
"""
from __future__ import annotations

import asyncio
import errno
import os
import queue
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from lvsfast.ipvs import wire

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
# One sendmsg must fit the send buffer (212992 bytes unforced); every failure answer of a chunk
# must fit the receive buffer.
CHUNK = 128 * 1024
T = TypeVar("T")


class IPVSUnavailable(OSError):
    """The running kernel has no IPVS generic-netlink family (ip_vs not loaded or not built)."""


GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2


def lookup_family_id(name: str = wire.GENL_NAME) -> int:
    """The generic-netlink family id of ``name``, asked of the kernel's controller directly.

    A plain blocking socket and one round trip: pyroute2's asyncio socket cannot open on
    uvloop (the daemon's loop), and this answer never waits on anything but the kernel.
    Raises :class:`IPVSUnavailable` when the family does not exist.
    """
    attr = name.encode() + b"\0"
    body = struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + struct.pack("=HH", 4 + len(attr), CTRL_ATTR_FAMILY_NAME) \
        + attr + b"\0" * (-len(attr) & 3)
    msg = struct.pack("=IHHII", 16 + len(body), GENL_ID_CTRL, wire.NLM_F_REQUEST, 1, 0) + body
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC) as sock:
        sock.settimeout(5.0)
        sock.bind((0, 0))
        sock.send(msg)
        while True:
            data = sock.recv(65536)
            for r in wire.parse_messages(memoryview(data)):
                if r.seq != 1:
                    continue
                if r.type == wire.NLMSG_ERROR:
                    code = wire.error_code(r)
                    raise IPVSUnavailable(errno.ENOTSUP, f"no {name} generic-netlink family in this kernel "
                                                         f"({os.strerror(-code) if code else 'no answer'}); "
                                                         "is ip_vs available?")
                payload = bytes(r.payload)
                off = 4  # after the genlmsghdr
                while off + 4 <= len(payload):
                    alen, atype = struct.unpack_from("=HH", payload, off)
                    if atype & 0x3FFF == CTRL_ATTR_FAMILY_ID and alen >= 6:
                        return struct.unpack_from("=H", payload, off + 4)[0]
                    off += (alen + 3) & ~3
                raise IPVSUnavailable(errno.EPROTO, f"the {name} family answer carries no id")


async def resolve_family_id(*, load_module: bool = True) -> int:
    """IPVS's generic-netlink family id (``modprobe ip_vs`` once if it is absent)."""
    try:
        return lookup_family_id()
    except IPVSUnavailable:
        if not load_module:
            raise
    proc = await asyncio.create_subprocess_exec("modprobe", "ip_vs", stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)
    await proc.wait()
    return lookup_family_id()


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Per message of a batch: 0, or the negative errno the kernel answered."""

    errors: list[int]
    syscalls: int


def _fitting(messages: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    """``messages`` in consecutive runs of at most CHUNK bytes (a larger message alone)."""
    i, n = 0, len(messages)
    while i < n:
        j = i + 1
        size = len(messages[i])
        while j < n and size + len(messages[j]) <= CHUNK:
            size += len(messages[j])
            j += 1
        yield messages[i:j] if i or j < n else messages
        i = j


class IPVSSocket:
    """A raw NETLINK_GENERIC socket speaking to IPVS with pre-encoded messages (see wire.py)."""

    def __init__(self, family_id: int) -> None:
        self.family_id = family_id
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self._sock.bind((0, 0))
        for force, plain, size in ((SO_RCVBUFFORCE, socket.SO_RCVBUF, 4 << 20),
                                   (SO_SNDBUFFORCE, socket.SO_SNDBUF, 1 << 20)):
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, force, size)
            except OSError:  # not root: the capped limit still works, in smaller batches
                self._sock.setsockopt(socket.SOL_SOCKET, plain, size)
        try:
            # Error answers carry only the header of the failed request, not all of it.
            self._sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except OSError:
            pass
        self._sock.settimeout(10.0)
        self._seq = 1
        self._rbuf = bytearray(1 << 18)  # dump replies come in skbs of up to a page or two
        self.messages_sent = 0  # every request message, for tests and counters

    def close(self) -> None:
        self._sock.close()

    def _next_seq(self, n: int) -> int:
        first = self._seq
        self._seq = (self._seq + n) & 0x7FFFFFFF or 1
        return first

    def batch(self, messages: Sequence[bytes]) -> BatchResult:
        """Send ``messages`` (each a complete request; flags NLM_F_REQUEST|NLM_F_ACK) in as few
        sendmsg calls as fit, and return each one's kernel answer."""
        errors: list[int] = []
        syscalls = 0
        for part in _fitting(messages):
            errs, calls = self._exchange(*self._frame(part))
            errors += errs
            syscalls += calls
        return BatchResult(errors, syscalls)

    def batch_streamed(self, chunks: Iterable[Sequence[bytes]]) -> BatchResult:
        """As :meth:`batch`, for messages still being made: each chunk goes to the kernel from a
        helper thread while the caller's iterator encodes the next. The kernel does its work
        inside that thread's sendmsg, without the GIL, so a large load costs the larger of the
        encoding and the kernel's time rather than their sum. Chunks should fit CHUNK bytes
        (a larger one is split); the answers keep the messages' order."""
        todo: queue.SimpleQueue[tuple[bytearray, int, int, int] | None] = queue.SimpleQueue()
        errors: list[int] = []
        syscalls = [0]
        failed: list[BaseException] = []

        def send() -> None:
            while (item := todo.get()) is not None:
                if failed:
                    continue  # drain: what follows a failed send is not sent, as in batch()
                try:
                    errs, calls = self._exchange(*item)
                except BaseException as exc:
                    failed.append(exc)
                    continue
                errors.extend(errs)
                syscalls[0] += calls

        sender = threading.Thread(target=send, name="ipvs-batch", daemon=True)
        sender.start()
        try:
            for chunk in chunks:
                if failed:
                    break
                for part in _fitting(chunk):
                    todo.put(self._frame(part))
        finally:
            todo.put(None)
            sender.join()
        if failed:
            raise failed[0]
        return BatchResult(errors, syscalls[0])

    def _frame(self, messages: Sequence[bytes]) -> tuple[bytearray, int, int, int]:
        """One sendmsg's worth: the messages with their sequence numbers, and an ACK asked for
        the last only (errors come back for every failure anyway)."""
        buf = bytearray()
        first = self._next_seq(0)
        pack_into = struct.pack_into
        off = 0
        for m in messages:
            off = len(buf)
            buf += m
            pack_into("=HI", buf, off + 6, wire.NLM_F_REQUEST, self._seq)
            self._seq = (self._seq + 1) & 0x7FFFFFFF or 1
        pack_into("=H", buf, off + 6, wire.NLM_F_REQUEST | wire.NLM_F_ACK)
        last_seq = struct.unpack_from("=I", buf, off + 8)[0]
        return buf, first, last_seq, len(messages)

    def _exchange(self, buf: bytearray, first: int, last_seq: int, count: int) -> tuple[list[int], int]:
        """Send one framed chunk and collect its answers: per message 0 or the negative errno."""
        errors = [0] * count
        self._sock.send(buf)
        syscalls = 1
        self.messages_sent += count
        while True:
            n = self._sock.recv_into(self._rbuf)
            syscalls += 1
            done = False
            for r in wire.parse_messages(memoryview(self._rbuf)[:n]):
                if r.type != wire.NLMSG_ERROR:
                    continue
                idx = (r.seq - first) & 0x7FFFFFFF
                if idx < count:
                    errors[idx] = wire.error_code(r)
                if r.seq == last_seq:
                    done = True
            if done:
                return errors, syscalls

    def request(self, message: bytes) -> int:
        """One message; its (negative) errno or 0."""
        return self.batch([message]).errors[0]

    def dump(self, message: bytes, decode: Callable[[memoryview], T]) -> list[T]:
        """Send a dump request and decode every reply up to NLMSG_DONE; raises OSError on error.

        ``decode`` sees each reply's payload in a reused receive buffer, so it must copy what
        it keeps (the decoders in wire.py build new objects).
        """
        seq = self._next_seq(1)
        buf = bytearray(message)
        struct.pack_into("=I", buf, 8, seq)
        self._sock.send(buf)
        self.messages_sent += 1
        out: list[T] = []
        rbuf = self._rbuf
        while True:
            n = self._sock.recv_into(rbuf)
            for r in wire.parse_messages(memoryview(rbuf)[:n]):
                if r.seq != seq:
                    continue
                if r.type == wire.NLMSG_DONE:
                    return out
                if r.type == wire.NLMSG_ERROR:
                    code = wire.error_code(r)
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return out
                out.append(decode(r.payload))
