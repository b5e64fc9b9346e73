"""The checks themselves: TCP connect, HTTP/HTTPS fetch (a bare protocol on the loop),
MISC script. genhash's fetch, run once by a person, keeps asyncio streams.

Each probe returns ``(ok, reason)``; the reason is what the log line says on a change, e.g.
"status 503 not in 200-299". A probe never raises for the server's behaviour: resets, silence,
trickling and garbage are all just a failed check, bounded by ``connect_timeout``.
"""
from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Sequence

from lvsfast.check.http_answer import MAX_BODY, Answer, response
from lvsfast.config.model import HttpCheck, MiscCheck, StatusRange, Url
from lvsfast.scripts import ScriptError, check_script, run_script


# The TLS session the current attempt offers. create_connection takes no session, but asyncio and
# uvloop make the SSL object in a callback run in the connecting task's context copy, so a
# context variable (per task, not shared state) reaches wrap_bio.
_RESUME: contextvars.ContextVar[ssl.SSLSession | None] = contextvars.ContextVar("lvsfast_tls_resume", default=None)


class ResumingContext(ssl.SSLContext):
    """The checker's client context: each connection offers the session its task set (TlsMemo)."""

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None, session=None):  # type: ignore[override]
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session or _RESUME.get())


@dataclass(slots=True, eq=False)
class TlsMemo:
    """One SSL_GET check's TLS memory: the last session its server gave, offered on the next
    attempt (keepalived makes a full handshake every time), and how many handshakes resumed."""

    context: ssl.SSLContext | None = None  # a session only resumes with the context that made it
    session: ssl.SSLSession | None = None
    full_at: float = 0.0  # loop time of the last full (verifying) handshake
    handshakes: int = 0
    resumed: int = 0

    def offer(self, ctx: ssl.SSLContext, now: float) -> ssl.SSLSession | None:
        """The session to offer through ``ctx``, if any. With a CA configured, a resumed handshake
        shows no certificate: a full one at least every REVERIFY_S sees a changed or expired one."""
        if self.context is not ctx or (ctx.verify_mode == ssl.CERT_REQUIRED and now - self.full_at >= REVERIFY_S):
            return None
        return self.session


REVERIFY_S = 60.0


def _ranges(ranges: Sequence[StatusRange]) -> str:
    return ", ".join(f"{r.low}" if r.low == r.high else f"{r.low}-{r.high}" for r in ranges)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def client_socket(ip: str, kind: int, bind: tuple[str, int] | None, ifname: str | None) -> socket.socket:
    """A non-blocking socket towards ``ip``: bound to ``bind`` (bindto, bind_port) and, with
    ``ifname`` (bind_if), to that interface (SO_BINDTODEVICE), so the check leaves by it only."""
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, kind)
    try:
        sock.setblocking(False)
        if ifname:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        if bind is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(bind)
    except OSError:
        sock.close()
        raise
    return sock


async def tcp(ip: str, port: int, timeout: float, bind: tuple[str, int] | None = None,
              ifname: str | None = None) -> tuple[bool, str]:
    # A bare non-blocking socket: no transport, stream or extra task per check (thousands a second).
    loop = asyncio.get_running_loop()
    try:
        sock = client_socket(ip, socket.SOCK_STREAM, bind, ifname)
    except OSError as exc:
        return False, f"socket failed: {exc.strerror or exc}"
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (ip, port))
    except TimeoutError:
        return False, f"connect timed out after {timeout:g}s"
    except OSError as exc:
        return False, f"connect failed: {exc.strerror or exc}"
    finally:
        sock.close()
    return True, "connected"


async def _fetch_raw(r: asyncio.StreamReader, w: asyncio.StreamWriter, request: bytes) -> tuple[bytes, bytes]:
    """(raw header, de-chunked body) of one request; genhash shows both."""
    w.write(request)
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    _, headers, body = await _body(r, head)
    return head, body


async def _fetch(r: asyncio.StreamReader, w: asyncio.StreamWriter, request: bytes) -> tuple[int, dict, bytes]:
    w.write(request)
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    return await _body(r, head)


async def _body(r: asyncio.StreamReader, head: bytes) -> tuple[int, dict, bytes]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    length = headers.get("content-length")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(r)
    elif length is not None and length.isdigit():
        body = await r.readexactly(min(int(length), MAX_BODY))
    else:
        body = await _read_to_eof(r)
    return int(parts[1]), headers, body


async def _read_to_eof(r: asyncio.StreamReader) -> bytes:
    # read(n) returns whatever has arrived; a body in several segments needs the loop.
    out = bytearray()
    while len(out) < MAX_BODY:
        part = await r.read(MAX_BODY - len(out))
        if not part:
            break
        out += part
    return bytes(out)


async def _read_chunked(r: asyncio.StreamReader) -> bytes:
    """Chunks as they arrive (a keep-alive 1.1 server never closes, so EOF cannot end it)."""
    out = bytearray()
    while True:
        line = await r.readuntil(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        if len(out) + size > MAX_BODY:
            raise ValueError(f"chunked body over {MAX_BODY} bytes")
        out += await r.readexactly(size)
        await r.readexactly(2)


def cert_matches(cert: dict, name: str) -> bool:
    """RFC 6125 in short: a DNS subjectAltName equal to ``name``, or a leftmost-label wildcard;
    IP names against an IP. The common name only when the certificate has no DNS names."""
    name = name.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        ip = None
    sans = cert.get("subjectAltName", ())
    if ip is not None:
        return any(k == "IP Address" and ipaddress.ip_address(v.strip()) == ip for k, v in sans)
    dns = [v.lower().rstrip(".") for k, v in sans if k == "DNS"]
    if not dns:
        dns = [v.lower() for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
    for pattern in dns:
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


class _Fetch(asyncio.Protocol):
    """One HTTP exchange on a bare transport: send the request, gather the answer until it is
    complete (Content-Length met, the last chunk, or the server's close). Thousands of checks
    a second make streams too dear: no reader, writer or extra task per check here."""

    def __init__(self, request: bytes, done: asyncio.Future) -> None:
        self.request = request
        self.done = done
        self.answer = Answer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.answer.feed(data):
            self._finish()

    def eof_received(self) -> bool:
        self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None and not self.answer.buf:
                self.done.set_exception(exc)
            else:
                self.done.set_result(bytes(self.answer.buf))

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(bytes(self.answer.buf))
        if self.transport is not None:
            self.transport.close()


def http_request(check: HttpCheck, url: Url, ip: str) -> bytes:
    """The GET an HTTP_GET/SSL_GET sends. Every form asks the server to close when done
    (HTTP/1.0, or Connection: close), so the close ends an answer of any kind."""
    host = url.virtualhost or check.virtualhost or ip
    version = "1.1" if check.http_protocol == "1.1" else "1.0"
    conn = "Connection: close\r\n" if version == "1.1" or check.http_protocol == "1.0C" else ""
    return (f"GET {url.path} HTTP/{version}\r\nHost: {_host(host) if host == ip else host}\r\n"
            f"User-Agent: lvsfast\r\n{conn}\r\n").encode()


def http_what(check: HttpCheck, url: Url, ip: str, port: int) -> str:
    """How log lines name one url's check: 'HTTP_GET 10.0.0.11:80 /healthz'."""
    return f"{check.kind} {_host(ip)}:{port} {url.path}"


def judge(url: Url, what: str, raw: bytes) -> tuple[bool, str]:
    """The verdict on a complete answer: status range, digest, regex, as keepalived checks them."""
    try:
        status, body = response(raw)
    except ValueError as exc:
        return False, f"{what}: {exc.__class__.__name__}: {exc}"
    if not url.status_ok(status):
        return False, f"{what}: status {status} not in {_ranges(url.status_code)}"
    if url.digest is not None:
        import hashlib  # only for a digest: a checker with none never loads it

        got = hashlib.md5(body).hexdigest()
        if got != url.digest.lower():
            return False, f"{what}: digest {got} differs from {url.digest}"
    if url.regex is not None:
        found = re.search(url.regex.encode(), body) is not None
        if found == url.regex_no_match:
            return False, f"{what}: body {'matches' if found else 'does not match'} /{url.regex}/"
    return True, f"{what}: status {status}"


async def http(check: HttpCheck, url: Url, ip: str, port: int, ssl_ctx: ssl.SSLContext | None,
               tls: TlsMemo | None = None) -> tuple[bool, str]:
    """One url of an HTTP_GET/SSL_GET; ``bind_if`` pins the connection to that interface.
    With ``tls`` (and a :class:`ResumingContext`), the server's last session is offered."""
    ok, why, obj = await _http(check, url, ip, port, ssl_ctx, tls)
    if tls is not None and ssl_ctx is not None:
        if obj is None or not ok:
            tls.session = None  # a failed server may come back as another one: start afresh
        else:
            tls.handshakes += 1
            if obj.session_reused:
                tls.resumed += 1
            else:
                tls.full_at = asyncio.get_running_loop().time()
            session = obj.session
            # Kept only when the server offered to resume (a ticket, or a TLS 1.2 session id).
            tls.session = session if session is not None and (session.has_ticket or session.id) else None
            tls.context = ssl_ctx
    return ok, why


async def _http(check: HttpCheck, url: Url, ip: str, port: int, ssl_ctx: ssl.SSLContext | None,
                tls: TlsMemo | None) -> tuple[bool, str, ssl.SSLObject | None]:
    host = url.virtualhost or check.virtualhost or ip
    request = http_request(check, url, ip)
    what = http_what(check, url, ip, port)
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    resume = _RESUME.set(tls.offer(ssl_ctx, loop.time()) if tls is not None and ssl_ctx is not None else None)
    try:
        sni = host if (ssl_ctx is not None and check.enable_sni) else None
        bind = (check.bindto, check.bind_port or 0) if check.bindto else None
        async with asyncio.timeout(check.connect_timeout):
            if check.bind_if:
                sock = client_socket(ip, socket.SOCK_STREAM, bind, check.bind_if)
                try:
                    await loop.sock_connect(sock, (ip, port))
                except BaseException:
                    sock.close()
                    raise
                transport, _ = await loop.create_connection(
                    lambda: _Fetch(request, done), sock=sock, ssl=ssl_ctx,
                    server_hostname=(sni or "") if ssl_ctx else None)
            else:
                transport, _ = await loop.create_connection(
                    lambda: _Fetch(request, done), ip, port, ssl=ssl_ctx,
                    server_hostname=(sni or "") if ssl_ctx else None, local_addr=bind)
    except TimeoutError:
        return False, f"{what}: connect timed out after {check.connect_timeout:g}s", None
    except ssl.SSLCertVerificationError as exc:
        return False, f"{what}: certificate not accepted: {exc.verify_message or exc.reason}", None
    except ssl.SSLError as exc:
        return False, f"{what}: TLS failed: {exc.reason or exc}", None
    except OSError as exc:
        return False, f"{what}: connect failed: {exc.strerror or exc}", None
    finally:
        _RESUME.reset(resume)
    obj = transport.get_extra_info("ssl_object") if ssl_ctx is not None else None
    try:
        name = url.virtualhost or check.virtualhost
        if ssl_ctx is not None and ssl_ctx.verify_mode == ssl.CERT_REQUIRED and name:
            cert = transport.get_extra_info("peercert") or {}
            if not cert_matches(cert, name):
                return False, f"{what}: certificate does not match {name}", None
        try:
            async with asyncio.timeout(check.connect_timeout):
                raw = await done
        except TimeoutError:
            return False, f"{what}: no complete answer within {check.connect_timeout:g}s", None
        except OSError as exc:
            return False, f"{what}: {exc.__class__.__name__}: {exc}", None
    finally:
        transport.close()
    # The session after the answer: a TLS 1.3 server sends its ticket after the handshake.
    return (*judge(url, what, raw), obj)


async def misc(check: MiscCheck, security: bool, default_user: str | None) -> tuple[bool, str, int | None]:
    """(ok, reason, dynamic weight or None): misc_dynamic exit 0 up, 1 down, 2-255 weight code-2."""
    if check.misc_path is None:
        return False, "MISC_CHECK without misc_path", None
    try:
        argv, run_as = check_script(check.misc_path.command, user=check.misc_path.user or default_user,
                                    group=check.misc_path.group, security=security)
    except ScriptError as exc:
        return False, f"MISC_CHECK refused: {exc}", None
    res = await run_script(argv, run_as=run_as, timeout=check.misc_timeout or check.delay_loop)
    what = f"MISC_CHECK {check.misc_path.command}"
    if res.timed_out:
        return False, f"{what}: timed out", None
    code = res.returncode or 0
    if check.misc_dynamic and code >= 2:
        return True, f"{what}: exit {code}, weight {code - 2}", code - 2
    return code == 0, f"{what}: exit {code}", None
