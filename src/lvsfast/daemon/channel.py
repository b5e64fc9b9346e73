"""Framed messages between the parent and a child over a socketpair.

Each frame is a 4-byte big-endian length and a pickled dict. Both ends are processes of one
lvsfast tree (the socketpair is created before fork and never exposed), so pickle is safe here
and lets the parent hand children the exact validated config model.

Requests carry ``id`` and ``op`` and get one reply with the same ``id``; frames without ``id``
are events (for example a VRRP state change the parent relays to the checker).
"""
from __future__ import annotations

import asyncio
import itertools
import pickle
import socket
import struct
from typing import Any, Awaitable, Callable

_LEN = struct.Struct(">I")
MAX_FRAME = 64 << 20

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class ChannelClosed(ConnectionError):
    pass


class Channel:
    """One end of the socketpair, driven by the running asyncio loop."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._task: asyncio.Task | None = None
        self.closed = asyncio.Event()

    async def start(self, on_request: Handler, on_event: Callable[[dict[str, Any]], None]) -> None:
        self._reader, self._writer = await asyncio.open_connection(sock=self._sock)
        self._task = asyncio.create_task(self._read_loop(on_request, on_event))

    def _write(self, msg: dict[str, Any]) -> None:
        if self._writer is None or self._writer.is_closing():
            raise ChannelClosed("channel closed")
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_LEN.pack(len(data)) + data)

    async def request(self, op: str, timeout: float = 10.0, **args: Any) -> Any:
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._write({"id": rid, "op": op, **args})
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error", "request failed"))
        return reply.get("result")

    def event(self, name: str, **data: Any) -> None:
        try:
            self._write({"event": name, **data})
        except ChannelClosed:
            pass

    async def _read_loop(self, on_request: Handler, on_event: Callable[[dict[str, Any]], None]) -> None:
        assert self._reader is not None
        try:
            while True:
                head = await self._reader.readexactly(_LEN.size)
                (n,) = _LEN.unpack(head)
                if n > MAX_FRAME:
                    raise ChannelClosed(f"frame of {n} bytes")
                msg = pickle.loads(await self._reader.readexactly(n))
                if "op" in msg:
                    asyncio.create_task(self._serve(msg, on_request))
                elif "id" in msg:
                    fut = self._pending.get(msg["id"])
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                else:
                    on_event(msg)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ChannelClosed("peer went away"))
            self.closed.set()

    async def _serve(self, msg: dict[str, Any], on_request: Handler) -> None:
        try:
            result = await on_request(msg)
            reply = {"id": msg["id"], "ok": True, "result": result}
        except Exception as exc:  # the reply carries the failure; the child keeps running
            reply = {"id": msg["id"], "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        try:
            self._write(reply)
        except ChannelClosed:
            pass

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        else:
            self._sock.close()
        if self._task is not None:
            self._task.cancel()
