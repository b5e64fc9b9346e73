"""A real SMTP server for the alert tests (aiosmtpd), run as its own process so it can live in a
namespace: ``python smtp_sink.py HOST PORT OUT [CERT KEY]``. Each message becomes one JSON line
in OUT (envelope, whether it came over TLS, the raw data). With CERT and KEY it offers STARTTLS."""
from __future__ import annotations

import asyncio
import json
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out: str) -> None:
        self.out = out

    async def handle_DATA(self, server, session, envelope) -> str:
        record = {"from": envelope.mail_from, "to": envelope.rcpt_tos, "helo": session.host_name,
                  "tls": session.ssl is not None, "data": envelope.content.decode("utf-8", "replace")}
        with open(self.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


async def main(host: str, port: int, out: str, cert: str | None, key: str | None) -> None:
    ctx = None
    if cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
    sink = Sink(out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, tls_context=ctx, require_starttls=False,
                                                   hostname="sink.test"), host, port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(a[0], int(a[1]), a[2], a[3] if len(a) > 3 else None, a[4] if len(a) > 4 else None))
