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
        try:
            # close() alone leaves a thread blocked in accept() listening; shutdown wakes it.
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
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


# ---- certificates and TLS ------------------------------------------------------------------

def make_pki(directory: str, name: str = "www.test") -> dict[str, str]:
    """A CA and leaves in ``directory``: ``valid`` (CA-signed, ``name``), ``expired``, ``wrongname``
    (CA-signed for another name), ``selfsigned`` (no CA), and a ``client`` cert; returns paths."""
    import datetime
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def subject(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, cert: x509.Certificate, key) -> None:
        with open(os.path.join(directory, stem + ".crt"), "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(directory, stem + ".key"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(subject("lvsfast test CA")).issuer_name(subject("lvsfast test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - day).not_valid_after(now + 30 * day)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    write("ca", ca, ca_key)

    def leaf(stem: str, cn: str, start, end, signer=None) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(subject(cn))
             .issuer_name(ca.subject if signer is None else subject(cn)).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False))
        write(stem, b.sign(ca_key if signer is None else key, hashes.SHA256()), key)

    leaf("valid", name, now - day, now + 30 * day)
    leaf("expired", name, now - 30 * day, now - day)
    leaf("wrongname", "other.test", now - day, now + 30 * day)
    leaf("selfsigned", name, now - day, now + 30 * day, signer="self")
    leaf("client", "checker.test", now - day, now + 30 * day)
    return {stem: os.path.join(directory, stem) for stem in
            ("ca", "valid", "expired", "wrongname", "selfsigned", "client")}


class TlsHTTP:
    """An HTTPS server on loopback with a switchable certificate; records the SNI and client cert."""

    @classmethod
    async def start(cls, pki: dict[str, str], cert: str = "valid", require_client: bool = False,
                    tickets: bool = True, port: int = 0):
        import ssl

        self = cls()
        self.pki, self.sni, self.client_cn = pki, [], []
        self.cert = cert

        def ctx_for(stem: str) -> ssl.SSLContext:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(pki[stem] + ".crt", pki[stem] + ".key")
            if not tickets:  # no way to resume: no tickets, no session cache
                ctx.options |= ssl.OP_NO_TICKET
                ctx.num_tickets = 0
            if require_client:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(pki["ca"] + ".crt")
            return ctx

        self.contexts = {stem: ctx_for(stem) for stem in ("valid", "expired", "wrongname", "selfsigned")}
        outer = self._ssl_dispatch()
        if not tickets:  # no way to resume: no tickets, no session cache
            outer.options |= ssl.OP_NO_TICKET
            outer.num_tickets = 0
        if require_client:
            outer.verify_mode = ssl.CERT_REQUIRED
            outer.load_verify_locations(pki["ca"] + ".crt")
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port, ssl=outer, reuse_address=True)
        self.host, self.port = self.server.sockets[0].getsockname()[:2]
        return self

    def _ssl_dispatch(self):
        import ssl

        outer = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        outer.load_cert_chain(self.pki["valid"] + ".crt", self.pki["valid"] + ".key")

        def pick(obj, name, _ctx):
            obj.context = self.contexts[self.cert]
            self.sni.append(name)
        outer.sni_callback = pick
        return outer

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            peer = w.get_extra_info("peercert")
            if peer:
                self.client_cn.append(dict(x[0] for x in peer["subject"])["commonName"])
            await r.readuntil(b"\r\n\r\n")
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n3\r\nlo\n\r\n0\r\n\r\n")
            await w.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            w.close()

    def close(self) -> None:
        self.server.close()


# ---- nginx ---------------------------------------------------------------------------------

class Nginx:
    """Debian's nginx with its own prefix and config (``daemon off``), serving ``files`` on loopback."""

    def __init__(self, prefix: str, files: dict[str, bytes], port: int | None = None) -> None:
        import os
        import subprocess

        root = os.path.join(prefix, "html")
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        os.makedirs(root, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(root, name.lstrip("/")), "wb") as f:
                f.write(data)
        if port is None:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
        self.host, self.port = "127.0.0.1", port
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /status503 {{ return 503; }}
    }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", prefix], stderr=subprocess.PIPE)
        for _ in range(100):
            try:
                socket.create_connection((self.host, port), timeout=0.2).close()
                return
            except OSError:
                threading.Event().wait(0.05)
        self.close()
        raise RuntimeError("nginx did not start: " + self.proc.stderr.read().decode(errors="replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
