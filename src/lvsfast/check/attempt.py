"""One check attempt on the asyncio path, and the words for the prober's results. I/O: the
driver (:mod:`lvsfast.check.service`) calls these and hands the verdicts to the core.

TCP_CHECK, and HTTP_GET over plain HTTP with one url, run in the compiled prober
(:mod:`lvsfast.check.tcp_probe`); every other kind, and those when the prober does not take
them, run here, a task per attempt (:mod:`lvsfast.check.probes`, :mod:`lvsfast.check.protocols`).
"""
from __future__ import annotations

import errno
import logging
import os
import random
import socket
import ssl

from lvsfast.check import probes, protocols
from lvsfast.check.core import Check, host
from lvsfast.config.model import (BfdCheck, Config, DnsCheck, FileCheck, HttpCheck, MiscCheck, PingCheck, SmtpCheck, TcpCheck,
                                  UdpCheck, Url)

log = logging.getLogger("lvsfast.check")


def ssl_context(config: Config) -> ssl.SSLContext:
    # Resuming: each SSL_GET check offers the session its server last gave (probes.TlsMemo).
    ctx = probes.ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
    s = config.ssl
    if s is not None and getattr(s, "ca", None):
        ctx.load_verify_locations(s.ca)
        # The chain is verified here; the name (virtualhost) by probes.http, since SNI is optional.
        ctx.check_hostname = False
    else:
        # keepalived's SSL_GET does not verify the server unless a CA is configured.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if s is not None and getattr(s, "certificate", None):
        ctx.load_cert_chain(s.certificate, getattr(s, "key", None), getattr(s, "password", None))
    return ctx


def tcp_verdict(c: Check, err: int) -> tuple[bool, str]:
    """A prober connect's result as the asyncio path words it."""
    if err == 0:
        return True, c.label + ": connected"
    chk = c.config
    why = (f"connect timed out after {chk.connect_timeout:g}s" if err == errno.ETIMEDOUT
           else f"connect failed: {os.strerror(err)}")
    return False, f"TCP_CHECK {host(chk.connect_ip or c.real.rs.address)}:{chk.connect_port or c.real.rs.port or 0}: {why}"


def http_verdict(c: Check, err: int, response: bytes | None) -> tuple[bool, str]:
    """A prober exchange's result as the asyncio path words it: the answer judged, or what failed."""
    chk, url = c.config, c.exchange
    ip = chk.connect_ip or c.real.rs.address
    what = probes.http_what(chk, url, ip, chk.connect_port or c.real.rs.port or 0)
    if err == 0:
        return probes.judge(url, what, response)
    if err == errno.ETIMEDOUT:
        return False, f"{what}: connect timed out after {chk.connect_timeout:g}s"
    if err == errno.ETIME:
        return False, f"{what}: no complete answer within {chk.connect_timeout:g}s"
    exc = OSError(err, os.strerror(err))
    if err in (errno.ECONNRESET, errno.EPIPE):
        return False, f"{what}: {exc.__class__.__name__}: {exc}"
    return False, f"{what}: connect failed: {exc.strerror}"


async def probe(c: Check, config: Config | None, ssl_ctx: ssl.SSLContext | None,
                rng: random.Random) -> tuple[bool, str]:
    """Run one attempt of ``c``; (passed, why). A checker bug is a failed check, not a crash."""
    real = c.real
    chk = c.config
    ip = chk.connect_ip or real.rs.address
    port = chk.connect_port or real.rs.port or 0
    try:
        if isinstance(chk, TcpCheck):
            bind = (chk.bindto, chk.bind_port or 0) if chk.bindto else None
            ok, why = await probes.tcp(ip, port, chk.connect_timeout, bind, chk.bind_if)
            return ok, f"TCP_CHECK {host(ip)}:{port}: {why}"
        if isinstance(chk, HttpCheck):
            ctx = ssl_ctx if chk.tls else None
            if ctx is not None and c.tls is None:
                c.tls = probes.TlsMemo()
            tls = c.tls if ctx is not None else None
            urls = chk.urls or (Url(),)
            if not c.state.up and not chk.fast_recovery and len(urls) > 1:
                # keepalived recovers one url per delay_loop; fast_recovery checks them all at once.
                ok, why = await probes.http(chk, urls[c.url_index], ip, port, ctx, tls)
                if not ok:
                    c.url_index = 0
                    return ok, why
                c.url_index += 1
                if c.url_index < len(urls):
                    return False, f"{why} (recovering: url {c.url_index} of {len(urls)} passed)"
                c.url_index = 0
                return ok, why
            for url in urls:
                ok, why = await probes.http(chk, url, ip, port, ctx, tls)
                if not ok:
                    return ok, why
            return True, why
        if isinstance(chk, MiscCheck):
            g = config.global_defs if config else None
            ok, why, weight = await probes.misc(chk, bool(g and g.enable_script_security), g.script_user if g else None)
            if weight is not None:  # exit 0 leaves the weight as it was (keepalived: "unchanged")
                c.dynamic_weight = weight
            return ok, why
        bind = (chk.bindto, chk.bind_port or 0) if chk.bindto else None
        if isinstance(chk, DnsCheck):
            return await protocols.dns(chk, ip, port, rng.randrange(1 << 16), bind)
        if isinstance(chk, UdpCheck):
            return await protocols.udp(chk, ip, port, rng.randbytes(16), bind)
        if isinstance(chk, SmtpCheck):
            helo = chk.helo_name or socket.gethostname()
            for h in chk.hosts or (None,):
                h_ip = (h.connect_ip if h and h.connect_ip else ip)
                h_port = (h.connect_port if h and h.connect_port else port)
                h_bind = (h.bindto, h.bind_port or 0) if h and h.bindto else bind
                ok, why = await protocols.smtp(chk, h_ip, h_port, helo, h_bind, h.bind_if if h else None)
                if not ok:
                    return ok, why
            return True, why
        if isinstance(chk, PingCheck):
            c.seq = (c.seq + 1) & 0xFFFF
            return await protocols.ping(ip, chk.connect_timeout, rng.randrange(1 << 16), c.seq, chk.bind_if)
        if isinstance(chk, BfdCheck):
            # Its verdict comes from the session's events (CheckerService.bfd_event); the periodic
            # run only says it again.
            return c.state.up, c.state.last_reason or f"BFD {chk.name}"
        if isinstance(chk, FileCheck):
            files = config.vrrp_track_files if config else ()
            track = protocols.find_track_file(files, chk.track_file)
            ok, why, offset = protocols.file_verdict(chk, track, protocols.read_track_file(track.path if track else None))
            c.dynamic_weight = None if offset is None else max(0, real.rs.weight + offset)
            return ok, why
    except Exception as exc:  # a checker bug must not kill the loop; it is a failed check
        log.exception("%s: checker error", c.label)
        return False, f"{c.label}: internal error {exc!r}"
    return False, "unsupported checker"
