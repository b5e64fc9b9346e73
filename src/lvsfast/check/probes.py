"""The checks themselves, on asyncio streams: TCP connect, HTTP/HTTPS fetch, MISC script.

Each probe returns ``(ok, reason)``; the reason is what the log line says on a change, e.g.
"status 503 not in 200-299". A probe never raises for the server's behaviour: resets, silence,
trickling and garbage are all just a failed check, bounded by ``connect_timeout``.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
from typing import Sequence

from lvsfast.config.model import HttpCheck, MiscCheck, StatusRange, Url
from lvsfast.scripts import ScriptError, check_script, run_script

MAX_BODY = 1 << 20


def _ranges(ranges: Sequence[StatusRange]) -> str:
    return ", ".join(f"{r.low}" if r.low == r.high else f"{r.low}-{r.high}" for r in ranges)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


async def tcp(ip: str, port: int, timeout: float, bind: tuple[str, int] | None = None) -> tuple[bool, str]:
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection(ip, port, local_addr=bind), timeout)
    except asyncio.TimeoutError:
        return False, f"connect timed out after {timeout:g}s"
    except OSError as exc:
        return False, f"connect failed: {exc.strerror or exc}"
    w.close()
    return True, "connected"


def _dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return bytes(out)
        size = int(body[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


async def _fetch(r: asyncio.StreamReader, w: asyncio.StreamWriter, request: bytes) -> tuple[int, dict, bytes]:
    w.write(request)
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        body = await r.readexactly(min(int(length), MAX_BODY))
    else:
        body = await r.read(MAX_BODY)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return int(parts[1]), headers, body


async def http(check: HttpCheck, url: Url, ip: str, port: int, ssl_ctx: ssl.SSLContext | None) -> tuple[bool, str]:
    host = url.virtualhost or check.virtualhost or ip
    version = "1.1" if check.http_protocol == "1.1" else "1.0"
    conn = "Connection: close\r\n" if version == "1.1" or check.http_protocol == "1.0C" else ""
    request = (f"GET {url.path} HTTP/{version}\r\nHost: {_host(host) if host == ip else host}\r\n"
               f"User-Agent: lvsfast\r\n{conn}\r\n").encode()
    what = f"{check.kind} {_host(ip)}:{port} {url.path}"
    try:
        sni = host if (ssl_ctx is not None and check.enable_sni) else None
        r, w = await asyncio.wait_for(asyncio.open_connection(ip, port, ssl=ssl_ctx, server_hostname=sni if ssl_ctx else None),
                                      check.connect_timeout)
    except asyncio.TimeoutError:
        return False, f"{what}: connect timed out after {check.connect_timeout:g}s"
    except ssl.SSLError as exc:
        return False, f"{what}: TLS failed: {exc.reason or exc}"
    except OSError as exc:
        return False, f"{what}: connect failed: {exc.strerror or exc}"
    try:
        status, _, body = await asyncio.wait_for(_fetch(r, w, request), check.connect_timeout)
    except asyncio.TimeoutError:
        return False, f"{what}: no complete answer within {check.connect_timeout:g}s"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        return False, f"{what}: {exc.__class__.__name__}: {exc}"
    finally:
        w.close()
    if not url.status_ok(status):
        return False, f"{what}: status {status} not in {_ranges(url.status_code)}"
    if url.digest is not None:
        got = hashlib.md5(body).hexdigest()
        if got != url.digest.lower():
            return False, f"{what}: digest {got} differs from {url.digest}"
    if url.regex is not None:
        found = re.search(url.regex.encode(), body) is not None
        if found == url.regex_no_match:
            return False, f"{what}: body {'matches' if found else 'does not match'} /{url.regex}/"
    return True, f"{what}: status {status}"


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
