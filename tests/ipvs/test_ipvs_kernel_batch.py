"""IPVSSocket's batching against a stand-in netlink peer: one ACK per chunk, an error answer for
each refused message, the same answers whether a batch is sent whole or streamed from a thread."""
from __future__ import annotations

import errno
import struct
import threading

import pytest

from lvsfast.ipvs import kernel, wire
from lvsfast.ipvs.kernel import IPVSSocket


class Peer:
    """Answers like the kernel: an NLMSG_ERROR for every message it refuses (here: those whose
    weight attribute is 13), and one ACK for the message that asked for it."""

    def __init__(self, fail_send_at: int | None = None) -> None:
        self.got: list[int] = []  # weights, in the order they arrived
        self.threads: set[str] = set()
        self.pending = bytearray()
        self.sends = 0
        self.fail_send_at = fail_send_at

    def send(self, buf: bytes) -> int:
        self.sends += 1
        if self.fail_send_at is not None and self.sends >= self.fail_send_at:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        self.threads.add(threading.current_thread().name)
        for r in wire.parse_messages(buf):
            weight = struct.unpack_from("=I", r.payload, 4)[0]  # our test messages carry it first
            self.got.append(weight)
            refused = weight == 13
            if refused or r.flags & wire.NLM_F_ACK:
                code = -errno.EINVAL if refused else 0
                self.pending += struct.pack("=IHHIIi", 20, wire.NLMSG_ERROR, 0, r.seq, 0, code)
        return len(buf)

    def recv_into(self, buf: bytearray) -> int:
        n = len(self.pending)
        buf[:n] = self.pending
        self.pending.clear()
        return n

    def close(self) -> None:
        pass


def sock_with(peer: Peer) -> IPVSSocket:
    s = IPVSSocket.__new__(IPVSSocket)
    s.family_id = 0x23
    s._sock = peer  # type: ignore[assignment]
    s._seq = 0x7FFFFFF0  # the sequence numbers wrap inside the batch
    s._rbuf = bytearray(1 << 18)
    s.messages_sent = 0
    return s


def msgs(n: int) -> list[bytes]:
    # 2 + 4 + 1200 bytes of padding each: about 100 to a chunk.
    return [wire.message(0x23, 1, struct.pack("=I", w) + b"\0" * 1200) for w in range(n)]


@pytest.mark.parametrize("n", [1, 99, 1000])
def test_streamed_batch_answers_like_the_whole_batch(n: int) -> None:
    m = msgs(n)
    whole, streamed = Peer(), Peer()
    a = sock_with(whole).batch(m)
    chunks = [m[i:i + 37] for i in range(0, n, 37)]
    b = sock_with(streamed).batch_streamed(iter(chunks))
    assert a.errors == b.errors
    assert [i for i, e in enumerate(b.errors) if e] == ([13] if n > 13 else [])
    assert whole.got == streamed.got == list(range(n))
    assert streamed.threads == {"ipvs-batch"}
    assert len(a.errors) == n


def test_streamed_batch_splits_a_chunk_larger_than_one_send() -> None:
    m = msgs(500)
    peer = Peer()
    r = sock_with(peer).batch_streamed(iter([m]))
    assert peer.sends >= 500 * 1226 // kernel.CHUNK
    assert peer.got == list(range(500)) and len(r.errors) == 500


def test_a_failed_send_stops_the_stream_and_raises() -> None:
    m = msgs(1000)
    peer = Peer(fail_send_at=3)
    made = []

    def chunks():
        for i in range(0, 1000, 50):
            made.append(i)
            yield m[i:i + 50]

    with pytest.raises(OSError, match="No buffer space"):
        sock_with(peer).batch_streamed(chunks())
    assert peer.got == list(range(100))  # the first two sends, nothing after the failed one
