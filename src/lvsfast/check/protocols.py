"""The other keepalived checkers' probes: DNS_CHECK, SMTP_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK.

Same contract as :mod:`lvsfast.check.probes`: each returns ``(ok, reason)`` (FILE_CHECK also a
dynamic weight) and never raises for the server's behaviour; every wait is bounded by
``connect_timeout``. The wire formats (DNS query/answer, ICMP echo) are pure functions so tests
can feed them bytes without sockets.
"""
from __future__ import annotations

import asyncio
import socket
import struct
from typing import Sequence

from lvsfast.check.probes import client_socket
from lvsfast.config.model import DnsCheck, FileCheck, SmtpCheck, UdpCheck, VrrpTrackFile

DNS_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


# ---- DNS -------------------------------------------------------------------------------------

def dns_query(qid: int, name: str, qtype: str) -> bytes:
    """A recursion-desired query for ``name``/``qtype`` (keepalived sends one question)."""
    labels = [p for p in name.strip(".").split(".") if p]
    qname = b"".join(bytes([len(p)]) + p.encode("idna") for p in labels) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", DNS_TYPES[qtype.upper()], 1)


def dns_verdict(qid: int, reply: bytes) -> tuple[bool, str]:
    """keepalived's rule: the reply must be ours, a response, RCODE 0, with at least one answer."""
    if len(reply) < 12:
        return False, f"short reply ({len(reply)} bytes)"
    rid, flags, _qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", reply)
    if rid != qid:
        return False, f"reply id {rid} is not query id {qid}"
    if not flags & 0x8000:
        return False, "reply is not a response"
    rcode = flags & 0xF
    if rcode:
        names = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
        return False, f"rcode {names.get(rcode, rcode)}"
    if an == 0:
        return False, "no answer records"
    return True, f"{an} answer(s)"


class _Datagram(asyncio.DatagramProtocol):
    """One connected UDP exchange: the first reply or the first ICMP error wins."""

    def __init__(self) -> None:
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        if not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def _udp_exchange(ip: str, port: int, payload: bytes, timeout: float,
                        bind: tuple[str, int] | None, ifname: str | None = None) -> bytes | None:
    """The reply, or None after ``timeout`` of silence; OSError for an ICMP error."""
    loop = asyncio.get_running_loop()
    if ifname:  # bind_if: a socket of our own, pinned to the interface
        sock = client_socket(ip, socket.SOCK_DGRAM, bind, ifname)
        try:
            sock.connect((ip, port))
        except OSError:
            sock.close()
            raise
        transport, proto = await loop.create_datagram_endpoint(_Datagram, sock=sock)
    else:
        transport, proto = await loop.create_datagram_endpoint(_Datagram, remote_addr=(ip, port), local_addr=bind,
                                                               family=_family(ip))
    try:
        transport.sendto(payload)
        try:
            return await asyncio.wait_for(proto.done, timeout)
        except asyncio.TimeoutError:
            return None
    finally:
        transport.close()


async def dns(check: DnsCheck, ip: str, port: int, qid: int, bind: tuple[str, int] | None = None) -> tuple[bool, str]:
    what = f"DNS_CHECK {_host(ip)}:{port} {check.type} {check.name}"
    try:
        reply = await _udp_exchange(ip, port, dns_query(qid, check.name, check.type), check.connect_timeout, bind,
                                    check.bind_if)
    except OSError as exc:
        return False, f"{what}: {exc.strerror or exc}"
    if reply is None:
        return False, f"{what}: no reply within {check.connect_timeout:g}s"
    ok, why = dns_verdict(qid, reply)
    return ok, f"{what}: {why}"


# ---- UDP -------------------------------------------------------------------------------------

def udp_verdict(check: UdpCheck, reply: bytes | None) -> tuple[bool, str]:
    """Silence passes unless a reply is required; a required reply's length and prefix must fit."""
    need = check.reply_required or check.require_reply is not None
    if reply is None:
        return (False, "no reply") if need else (True, "no ICMP error")
    if not need:
        return True, f"reply of {len(reply)} bytes"
    if not check.min_reply_length <= len(reply) <= check.max_reply_length:
        return False, (f"reply of {len(reply)} bytes outside "
                       f"{check.min_reply_length}-{check.max_reply_length}")
    want = check.require_reply or b""
    n = min(len(want), len(reply))
    mask = check.require_reply_mask
    if mask is None:
        differs = reply[:n] != want[:n]
    else:  # X nibbles of require_reply match anything
        differs = any((r ^ w) & k for r, w, k in zip(reply[:n], want[:n], mask))
    if differs:
        shown = want[:n].hex() if mask is None else "".join(
            ("x" if not k & 0xF0 else f"{w >> 4:x}") + ("x" if not k & 0x0F else f"{w & 15:x}")
            for w, k in zip(want[:n], mask))
        return False, f"reply {reply[:n].hex()} differs from {shown}"
    return True, f"reply of {len(reply)} bytes"


async def udp(check: UdpCheck, ip: str, port: int, payload: bytes,
              bind: tuple[str, int] | None = None) -> tuple[bool, str]:
    """``payload`` is check.payload or the caller's random bytes (keepalived sends random data)."""
    what = f"UDP_CHECK {_host(ip)}:{port}"
    try:
        reply = await _udp_exchange(ip, port, check.payload or payload, check.connect_timeout, bind, check.bind_if)
    except OSError as exc:
        return False, f"{what}: {exc.strerror or exc}"
    ok, why = udp_verdict(check, reply)
    return ok, f"{what}: {why}"


# ---- SMTP ------------------------------------------------------------------------------------

async def _smtp_reply(r: asyncio.StreamReader) -> int:
    """The code of one (possibly multi-line, ``250-...``) reply."""
    while True:
        line = await r.readline()
        if len(line) < 4 or not line[:3].isdigit():
            raise ValueError(f"not an SMTP reply: {line[:60]!r}")
        if line[3:4] != b"-":
            return int(line[:3])


async def _connect(ip: str, port: int, bind: tuple[str, int] | None,
                   ifname: str | None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if not ifname:
        return await asyncio.open_connection(ip, port, local_addr=bind)
    sock = client_socket(ip, socket.SOCK_STREAM, bind, ifname)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (ip, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def smtp(check: SmtpCheck, ip: str, port: int, helo: str,
               bind: tuple[str, int] | None = None, ifname: str | None = None) -> tuple[bool, str]:
    what = f"SMTP_CHECK {_host(ip)}:{port}"
    t = check.connect_timeout
    try:
        r, w = await asyncio.wait_for(_connect(ip, port, bind, ifname or check.bind_if), t)
    except asyncio.TimeoutError:
        return False, f"{what}: connect timed out after {t:g}s"
    except OSError as exc:
        return False, f"{what}: connect failed: {exc.strerror or exc}"
    try:
        async def talk() -> tuple[bool, str]:
            code = await _smtp_reply(r)
            if code != 220:
                return False, f"greeting {code}, not 220"
            w.write(f"HELO {helo}\r\n".encode())
            code = await _smtp_reply(r)
            if code != 250:
                return False, f"HELO answered {code}, not 250"
            w.write(b"QUIT\r\n")
            return True, "220 and HELO 250"
        ok, why = await asyncio.wait_for(talk(), t)
    except asyncio.TimeoutError:
        return False, f"{what}: no complete answer within {t:g}s"
    except (OSError, ValueError) as exc:
        return False, f"{what}: {exc.__class__.__name__}: {exc}"
    finally:
        w.close()
    return ok, f"{what}: {why}"


# ---- PING ------------------------------------------------------------------------------------

def icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_request(v6: bool, ident: int, seq: int, payload: bytes) -> bytes:
    kind = 128 if v6 else 8  # the kernel fills in ICMPv6's checksum (it needs the pseudo-header)
    head = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    if v6:
        return head + payload
    return struct.pack("!BBHHH", kind, 0, icmp_checksum(head + payload), ident, seq) + payload


def echo_reply_matches(v6: bool, raw: bool, data: bytes, ident: int | None, seq: int) -> bool:
    """An echo reply with our sequence (and id, on raw sockets where the kernel keeps ours)."""
    if raw and not v6 and data and data[0] >> 4 == 4:
        data = data[(data[0] & 0xF) * 4:]
    if len(data) < 8:
        return False
    kind, _code, _ck, rid, rseq = struct.unpack_from("!BBHHH", data)
    if kind != (129 if v6 else 0) or rseq != seq:
        return False
    return ident is None or rid == ident


def _icmp_socket(v6: bool) -> tuple[socket.socket, bool]:
    """A datagram ICMP socket when ping_group_range allows it, else a raw one (root)."""
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    try:
        return socket.socket(fam, socket.SOCK_DGRAM, proto), False
    except OSError:
        return socket.socket(fam, socket.SOCK_RAW, proto), True


async def ping(ip: str, timeout: float, ident: int, seq: int, ifname: str | None = None) -> tuple[bool, str]:
    what = f"PING_CHECK {ip}"
    v6 = ":" in ip
    loop = asyncio.get_running_loop()
    try:
        sock, raw = _icmp_socket(v6)
    except OSError as exc:
        return False, f"{what}: no ICMP socket: {exc.strerror or exc}"
    try:
        sock.setblocking(False)
        if v6 and raw:
            # Only echo replies reach this socket (ICMP6_FILTER: block all but type 129).
            filt = bytearray(b"\xff" * 32)
            filt[129 >> 5 << 2:(129 >> 5 << 2) + 4] = struct.pack("=I", 0xFFFFFFFF & ~(1 << (129 & 31)))
            sock.setsockopt(socket.IPPROTO_ICMPV6, 1, bytes(filt))
        if ifname:  # bind_if
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.connect((ip, 0))
        await loop.sock_sendall(sock, echo_request(v6, ident, seq, b"lvsfast-ping"))
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return False, f"{what}: no echo reply within {timeout:g}s"
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 2048), left)
            except asyncio.TimeoutError:
                return False, f"{what}: no echo reply within {timeout:g}s"
            if echo_reply_matches(v6, raw, data, ident if raw else None, seq):
                return True, f"{what}: echo reply"
    except OSError as exc:
        return False, f"{what}: {exc.strerror or exc}"
    finally:
        sock.close()


# ---- FILE ------------------------------------------------------------------------------------

def file_verdict(check: FileCheck, track: VrrpTrackFile | None, text: str | None) -> tuple[bool, str, int | None]:
    """(up, reason, weight offset or None) from the file's contents.

    Without a weight, any non-zero value is down. With one, value x weight (negated by
    ``reverse``) at or below -254 is down; with ``dynamic`` the product adjusts the weight.
    """
    name = check.track_file or "?"
    if text is None:
        return False, f"FILE_CHECK {name}: file unreadable", None
    try:
        value = int(text.split()[0]) if text.split() else 0
    except ValueError:
        return False, f"FILE_CHECK {name}: not a number: {text[:20]!r}", None
    weight = check.weight if check.weight is not None else (track.weight if track and track.weight != 1 else 0)
    reverse = check.weight_reverse or bool(track and track.weight_reverse and check.weight is None)
    if not weight:
        return value == 0, f"FILE_CHECK {name}: value {value}", None
    product = -value * weight if reverse else value * weight
    if product <= -254:
        return False, f"FILE_CHECK {name}: value {value} x weight {weight} = {product}", None
    return True, f"FILE_CHECK {name}: value {value}", product if check.dynamic else None


def read_track_file(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(64)
    except OSError:
        return None


def find_track_file(files: Sequence[VrrpTrackFile], name: str | None) -> VrrpTrackFile | None:
    return next((f for f in files if f.name == name), None)
