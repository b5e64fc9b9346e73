"""Real servers for checker tests, on loopback addresses: good, failing and misbehaving ones."""
from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | status:503 | body:text | silent | reset | trickle | closed
    body: bytes = b"hello\n"


class MiniHTTP:
    """A threaded TCP server whose behaviour a test can switch at any time."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.behaviour = Behaviour()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.host, self.port = self.sock.getsockname()[:2]
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        b = self.behaviour
        try:
            if b.mode == "closed":
                conn.close()
                return
            if b.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
                return
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            if b.mode == "silent":
                threading.Event().wait(30)
                return
            status = b.mode.split(":", 1)[1] if b.mode.startswith("status:") else "200"
            body = b.mode.split(":", 1)[1].encode() if b.mode.startswith("body:") else b.body
            resp = f"HTTP/1.0 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            if b.mode == "trickle":
                for i in range(len(resp)):
                    conn.sendall(resp[i:i + 1])
                    threading.Event().wait(1)
            else:
                conn.sendall(resp)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()
