"""An HTTP check's answer: when it is complete, and what it says.

Shared by the two ways an HTTP_GET runs: the asyncio protocol (TLS, several urls) and the
compiled prober's exchanges (plain HTTP, one url), so both stop reading at the same byte and
judge the same bytes the same way.
"""
from __future__ import annotations

import functools
import re

MAX_BODY = 1 << 20
_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d+)")


class Answer:
    """The bytes of one answer so far; :meth:`feed` says when no more are needed: the header
    and Content-Length bytes of body, the last chunk, or more than :data:`MAX_BODY`. (The
    server's close ends it too; the caller sees that.)"""

    __slots__ = ("buf", "head_end", "length", "chunked", "framed")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.head_end = -1
        self.length: int | None = None
        self.chunked = False
        self.framed = False  # one Content-Length header, no chunking: see steady()

    def feed(self, data: bytes) -> bool:
        buf = self.buf
        buf += data
        if self.head_end < 0:
            self.head_end = buf.find(b"\r\n\r\n")
            if self.head_end < 0:
                return len(buf) > MAX_BODY
            self.head_end += 4
            head = bytes(buf[:self.head_end]).lower().replace(b"\r\n", b"\n")
            self.chunked = b"\ntransfer-encoding: chunked" in head
            m = _LENGTH.search(head)
            if m and not self.chunked:
                self.length = int(m.group(1))
                self.framed = _LENGTH.search(head, m.end()) is None
        body = len(buf) - self.head_end
        return ((self.length is not None and body >= min(self.length, MAX_BODY)) or body > MAX_BODY
                or (self.chunked and buf.endswith(b"\r\n\r\n") and chunks(bytes(buf[self.head_end:])) is not None))


def steady(answer: Answer, statuses: bytes) -> bool:
    """Whether a complete answer passes on its status alone, for a url with neither digest nor
    regex: ``statuses[code]`` is 1 for each code the url accepts. Only the plain case is
    decided here (one Content-Length, all of it read, a well-formed status line); anything else
    goes to :func:`response` and the full verdict, which accepts everything this accepts."""
    if not answer.framed or answer.length is None or answer.length > MAX_BODY:
        return False
    buf = answer.buf
    if len(buf) - answer.head_end < answer.length or not buf.startswith(b"HTTP/"):
        return False
    sp = buf.find(b" ", 5, 24)
    if sp < 0 or buf[sp + 4:sp + 5] not in (b" ", b"\r"):
        return False
    code = bytes(buf[sp + 1:sp + 4])
    if not code.isdigit():
        return False
    n = int(code)
    return n < len(statuses) and statuses[n] == 1


@functools.lru_cache(maxsize=64)
def status_map(ranges: tuple) -> bytes:
    """:func:`steady`'s table for a url's ``status_code`` ranges."""
    return bytes(1 if any(code in r for r in ranges) else 0 for code in range(600))


def chunks(body: bytes) -> bytes | None:
    """The de-chunked body, or None while the last chunk has not arrived."""
    out = bytearray()
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = body[pos:eol].split(b";")[0].strip() or b"0"
        size = int(size_text, 16)
        if size == 0:
            return bytes(out)
        if len(out) + size > MAX_BODY:
            raise ValueError(f"chunked body over {MAX_BODY} bytes")
        if eol + 2 + size + 2 > len(body):
            return None
        out += body[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


def response(raw: bytes) -> tuple[int, bytes]:
    """(status, body) of a complete answer; ValueError for what is not HTTP."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        first = raw.split(b"\r\n", 1)[0][:60]
        raise ValueError(f"no complete header: {first!r}" if raw else "connection closed without an answer")
    head = raw[:head_end].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    body = raw[head_end + 4:]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        dechunked = chunks(body)
        if dechunked is None:
            raise ValueError("chunked body cut short")
        return int(parts[1]), dechunked
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        if len(body) < min(int(length), MAX_BODY):
            raise ValueError(f"body cut short: {len(body)} of {length} bytes")
        body = body[:int(length)]
    return int(parts[1]), body[:MAX_BODY]
