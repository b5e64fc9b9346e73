"""A small asyncio SMTP client and the parent's alert mailer: a bounded queue, bounded retries.

The mailer runs in the parent, apart from the children's loops, so a mail server that is down,
slow or refusing costs adverts and checks nothing. Every failure and every dropped alert is
logged. ``smtp_connect_timeout`` bounds each step (connect, and each reply), as keepalived's.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import deque
from typing import Any

from lvsfast.daemon.alerts import Alert, MailSettings, render

log = logging.getLogger("lvsfast.alerts")

QUEUE_LIMIT = 100  # alerts waiting; past it the oldest is dropped, and logged
ATTEMPTS = 3  # per alert; keepalived makes one
RETRY_DELAYS = (1.0, 5.0)  # before the second and the third attempt


class SmtpError(Exception):
    pass


async def _reply(reader: asyncio.StreamReader, timeout: float) -> tuple[int, list[str]]:
    lines = []
    while True:
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line:
            raise SmtpError("the server closed the connection")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(text[4:])
        if len(text) < 4 or text[3] != "-":
            try:
                return int(text[:3]), lines
            except ValueError:
                raise SmtpError(f"not an SMTP reply: {text!r}") from None


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, expect: int,
                   timeout: float) -> list[str]:
    writer.write(line.encode() + b"\r\n")
    await asyncio.wait_for(writer.drain(), timeout)
    code, lines = await _reply(reader, timeout)
    if code != expect:
        raise SmtpError(f"{line.split(' ')[0].split(':')[0]}: {code} {' '.join(lines)}")
    return lines


async def send(settings: MailSettings, message: str) -> None:
    """One delivery: EHLO (HELO if refused), STARTTLS when offered, MAIL, RCPT each, DATA, QUIT."""
    t = settings.timeout
    reader, writer = await asyncio.wait_for(asyncio.open_connection(settings.server, settings.port), t)
    try:
        code, lines = await _reply(reader, t)
        if code != 220:
            raise SmtpError(f"greeting: {code} {' '.join(lines)}")
        writer.write(f"EHLO {settings.helo}\r\n".encode())
        code, lines = await _reply(reader, t)
        if code != 250:
            await _command(reader, writer, f"HELO {settings.helo}", 250, t)
            lines = []
        if any(x.upper().startswith("STARTTLS") for x in lines):
            import ssl  # only for a server that offers it

            await _command(reader, writer, "STARTTLS", 220, t)
            # An alert relay is usually internal with a private CA: encrypt, as the server asks,
            # without refusing its certificate (keepalived sends in clear text).
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            await asyncio.wait_for(writer.start_tls(ctx, server_hostname=settings.server), t)
            await _command(reader, writer, f"EHLO {settings.helo}", 250, t)
        await _command(reader, writer, f"MAIL FROM:<{settings.sender}>", 250, t)
        for rcpt in settings.recipients:
            await _command(reader, writer, f"RCPT TO:<{rcpt}>", 250, t)
        await _command(reader, writer, "DATA", 354, t)
        # Dot-stuffing: a body line starting with "." gets another.
        data = "\r\n".join("." + x if x.startswith(".") else x for x in message.split("\r\n"))
        # keepalived's end: the body, CRLF, then an empty line before the dot.
        await _command(reader, writer, data + "\r\n.", 250, t)
        try:
            await _command(reader, writer, "QUIT", 221, t)
        except (SmtpError, OSError, asyncio.TimeoutError):
            pass  # the mail is accepted already
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except (OSError, asyncio.TimeoutError, Exception):
            pass


class Mailer:
    """Queues alerts and sends them one at a time from a task of the parent's loop."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self.queue: deque[tuple[Alert, str]] = deque()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._task: asyncio.Task | None = None
        self._sending: Alert | None = None

    def submit(self, alert: Alert) -> None:
        if len(self.queue) >= QUEUE_LIMIT:
            old, _ = self.queue.popleft()
            self.dropped += 1
            log.error("SMTP alert dropped (queue of %d full): %s", QUEUE_LIMIT, old.subject)
        # Dated when it happened, not when a slow server finally takes it.
        self.queue.append((alert, email.utils.formatdate(time.time(), localtime=True)))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.queue:
            alert, date = self.queue.popleft()
            self._sending = alert
            message = render(alert, self.settings, date)
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    await send(self.settings, message)
                except Exception as exc:  # any failure is this alert's, logged; the next still goes
                    why = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
                    if attempt < ATTEMPTS:
                        log.warning("SMTP alert to %s:%d failed (attempt %d of %d, retrying): %s",
                                    self.settings.server, self.settings.port, attempt, ATTEMPTS, why)
                        await asyncio.sleep(RETRY_DELAYS[min(attempt - 1, len(RETRY_DELAYS) - 1)])
                        continue
                    self.failed += 1
                    log.error("SMTP alert not sent after %d attempts to %s:%d: %s (%s)", ATTEMPTS,
                              self.settings.server, self.settings.port, alert.subject, why)
                else:
                    self.sent += 1
                    log.info("SMTP alert sent: %s", alert.subject)
                break
            self._sending = None

    def status(self) -> dict[str, Any]:
        return {"queued": len(self.queue), "sent": self.sent, "failed": self.failed, "dropped": self.dropped}

    def close(self) -> None:
        """At stop (keepalived drops them too): what was not sent yet is logged, not lost silently."""
        if self._task is not None:
            self._task.cancel()
        unsent = ([self._sending] if self._sending is not None else []) + [a for a, _ in self.queue]
        if unsent:
            log.error("%d SMTP alert(s) not sent before stopping: %s", len(unsent),
                      "; ".join(a.subject for a in unsent[:5]) + ("; ..." if len(unsent) > 5 else ""))
        self.queue.clear()
        self._sending = None
