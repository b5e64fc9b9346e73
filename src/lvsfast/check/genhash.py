"""``lvsfast-genhash``: the MD5 digest of a URL's body, printed as keepalived's genhash does, so
users can fill in an HTTP_GET/SSL_GET ``digest``. Same flags (-s -p -u -S -I -V -v -P -t -m).

Unlike keepalived's genhash (which exits 0 even when the connection fails), a failure exits 1.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import socket
import ssl
import sys
import time
from typing import Sequence

from lvsfast.check.probes import _fetch_raw

_D = "-----------------------"
RULE = {
    "head": _D + "[    HTTP Header Buffer    ]" + _D,
    "ascii": _D + "[ HTTP Header Ascii Buffer ]" + _D,
    "html": _D + "[        HTML Buffer        ]" + _D,
    "hash": _D + "[    HTML hash resulting    ]" + _D,
    "final": _D + "[ HTML hash final resulting ]" + _D,
}


def hexdump(data: bytes) -> str:
    """keepalived's dump: decimal offset, 8 bytes - 8 bytes, then the printable characters."""
    lines = []
    for off in range(0, len(data), 16):
        row = data[off:off + 16]
        cells = []
        for i in range(16):
            if i == 8:
                cells.append("- ")
            cells.append(f"{row[i]:02x} " if i < len(row) else "   ")
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{off:04d}  {''.join(cells)}  {text:<16}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genhash", add_help=False)
    p.add_argument("-S", "--use-ssl", action="store_true")
    p.add_argument("-I", "--use-sni", action="store_true")
    p.add_argument("-s", "--server")
    p.add_argument("-p", "--port", type=int)
    p.add_argument("-u", "--url", default="/")
    p.add_argument("-V", "--use-virtualhost")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("-m", "--fwmark", type=int)
    p.add_argument("-P", "--protocol", default="1.0", choices=["1.0", "1.0c", "1.0C", "1.1"])
    p.add_argument("-t", "--timeout", type=float, default=5.0)
    return p


USAGE = """Usage: genhash COMMAND [OPTIONS]
Commands:
   -s server-address -p port -u url
   -S -s server-address -p port -u url
   -h

Options:
Either long or short options are allowed.
   --use-ssl         -S       Use SSL connection to remote server.
   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).
   --server          -s       Use the specified remote server address.
   --port            -p       Use the specified remote server port.
   --url             -u       Use the specified remote server url.
   --use-virtualhost -V       Use the specified virtualhost in GET query.
   --verbose         -v       Use verbose mode output.
   --help            -h       Display this short inlined help screen.
   --fwmark          -m       Use the specified FW mark.
   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.
                                1.0c means 1.0 with 'Connection: close'
   --timeout         -t       Timeout in seconds
"""


async def fetch(server: str, port: int, url: str, *, tls: bool, sni: bool, vhost: str | None, protocol: str,
                timeout: float, fwmark: int | None = None) -> tuple[bytes, bytes]:
    """(header bytes, body bytes) of one GET; raises OSError/ssl.SSLError/TimeoutError/ValueError."""
    ctx = None
    if tls:
        # genhash does not verify the server: it is run against servers being set up.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    host = vhost or server
    sock = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_STREAM)
    if fwmark:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, fwmark)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.sock_connect(sock, (server, port)), timeout)
    r, w = await asyncio.wait_for(asyncio.open_connection(sock=sock, ssl=ctx,
                                                          server_hostname=(host if sni else "") if tls else None),
                                  timeout)
    version = "1.1" if protocol == "1.1" else "1.0"
    conn = "Connection: close\r\n" if protocol != "1.0" else ""
    hostline = f"[{host}]" if ":" in host else host
    request = (f"GET {url} HTTP/{version}\r\nUser-Agent: KeepAliveClient\r\nHost: {hostline}:{port}\r\n"
               f"{conn}\r\n").encode()
    try:
        return await asyncio.wait_for(_fetch_raw(r, w, request), timeout)
    finally:
        w.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        a = _parser().parse_args(argv)
    except SystemExit:
        sys.stdout.write(USAGE)
        return 1
    if a.help or not a.server or not a.port:
        sys.stdout.write(USAGE)
        return 0 if a.help else 1
    t0 = time.monotonic()
    try:
        head, body = asyncio.run(fetch(a.server, a.port, a.url, tls=a.use_ssl, sni=a.use_sni, vhost=a.use_virtualhost,
                                       protocol=a.protocol.lower().replace("c", "C"), timeout=a.timeout,
                                       fwmark=a.fwmark))
    except (OSError, ssl.SSLError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
        print("Connection failed")
        if a.verbose:
            print(f"\nGlobal response time for [{a.url}] = {int((time.monotonic() - t0) * 1e6)} usecs")
        return 1
    digest = hashlib.md5(body)
    if not a.verbose:
        print(digest.hexdigest())
        return 0
    out = [RULE["head"], hexdump(head), RULE["ascii"],
           head.decode("latin-1"), RULE["html"], hexdump(body), "",
           RULE["hash"], hexdump(digest.digest()), RULE["final"],
           digest.hexdigest(), "", f"Global response time for [{a.url}] = {int((time.monotonic() - t0) * 1e6)} usecs"]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
