"""The control socket: JSON lines over a root-only UNIX socket, served by the parent.

Requests are one JSON object per line with an ``op``; each gets one JSON line back with ``ok``
and either ``result`` or ``error``. ``lvsfastctl`` is the client.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from typing import Any, Awaitable, Callable

from lvsfast.paths import DEFAULT_CONTROL_SOCKET

log = logging.getLogger("lvsfast.control")

DEFAULT_SOCKET = DEFAULT_CONTROL_SOCKET  # one place for every default path: lvsfast.paths
MAX_LINE = 1 << 20

Dispatcher = Callable[[dict[str, Any]], Awaitable[Any]]


class ControlServer:
    def __init__(self, path: str, dispatch: Dispatcher) -> None:
        self.path = path
        self._dispatch = dispatch
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        p = self.path
        os.makedirs(os.path.dirname(p) or ".", mode=0o700, exist_ok=True)  # os, not pathlib: see pidfile
        if os.path.lexists(p):
            if not stat.S_ISSOCK(os.lstat(p).st_mode):
                raise RuntimeError(f"{p} exists and is not a socket")
            if await _alive(self.path):
                raise RuntimeError(f"{p}: another lvsfast is already listening there")
            os.unlink(p)
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            self._server = await asyncio.start_unix_server(self._client, path=self.path, limit=MAX_LINE)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        try:
            os.unlink(self.path)
        except OSError:
            pass

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict) or not isinstance(req.get("op"), str):
                        raise ValueError("a request is a JSON object with an 'op'")
                    reply = {"ok": True, "result": await self._dispatch(req)}
                except Exception as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write(json.dumps(reply, default=str).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()


async def _alive(path: str) -> bool:
    try:
        _, w = await asyncio.wait_for(asyncio.open_unix_connection(path), 1)
    except (OSError, asyncio.TimeoutError):
        return False
    w.close()
    return True


def request(path: str, op: str, timeout: float = 130.0, **args: Any) -> Any:
    """Blocking client call used by lvsfastctl; raises RuntimeError with the daemon's message."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
        except OSError as exc:
            raise RuntimeError(f"cannot reach lvsfast at {path}: {exc.strerror or exc}") from None
        s.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    if not buf:
        raise RuntimeError("lvsfast closed the control connection without answering")
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise RuntimeError(reply.get("error", "request failed"))
    return reply.get("result")
