"""Real servers for checker tests, on loopback addresses: good, failing and misbehaving ones."""
from __future__ import annotations

import asyncio
import socket
import struct
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


class _UdpProto(asyncio.DatagramProtocol):
    def __init__(self, owner) -> None:
        self.owner = owner

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        reply = self.owner.answer(data)
        if reply is not None:
            self.transport.sendto(reply, addr)


class UdpEcho:
    """Echoes each datagram back, or stays silent when ``silent`` is set."""

    silent = False

    @classmethod
    async def start(cls, host: str = "127.0.0.1"):
        self = cls()
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProto(self), local_addr=(host, 0))
        self.host, self.port = self.transport.get_extra_info("sockname")[:2]
        return self

    def answer(self, data: bytes) -> bytes | None:
        return None if self.silent else data

    def close(self) -> None:
        self.transport.close()


class DnsServer(UdpEcho):
    """Answers every query with its question and one A record, with ``rcode`` in the flags."""

    rcode = 0

    def answer(self, data: bytes) -> bytes | None:
        if self.silent or len(data) < 12:
            return None
        qid = int.from_bytes(data[:2], "big")
        question = data[12:]
        if self.rcode:
            head = struct.pack("!HHHHHH", qid, 0x8180 | self.rcode, 1, 0, 0, 0)
            return head + question
        head = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
        return head + question + struct.pack("!HHHIH4s", 0xC00C, 1, 1, 60, 4, bytes([192, 0, 2, 1]))


class SmtpServer:
    """Greets with ``greeting`` (None: accepts and never speaks), answers HELO with 250."""

    greeting: bytes | None = b"220 test ESMTP\r\n"

    @classmethod
    async def start(cls, host: str = "127.0.0.1"):
        self = cls()
        self.helos: list[str] = []
        self.server = await asyncio.start_server(self._client, host, 0)
        self.host, self.port = self.server.sockets[0].getsockname()[:2]
        return self

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            if self.greeting is None:
                await asyncio.sleep(30)
                return
            w.write(self.greeting)
            line = await r.readline()
            if line.upper().startswith(b"HELO "):
                self.helos.append(line[5:].strip().decode())
                w.write(b"250-test\r\n250 OK\r\n")
                await r.readline()
                w.write(b"221 bye\r\n")
            await w.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    def close(self) -> None:
        self.server.close()
