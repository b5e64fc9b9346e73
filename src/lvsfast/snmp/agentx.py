"""The AgentX protocol (RFC 2741) as a subagent speaks it, sans-IO: PDUs to bytes and back.

Only what a read-only subagent needs: Open, Close, Register, Notify, Ping and Response going
out; Get, GetNext, GetBulk, Close and Response coming in (set requests are answered
``notWritable``). Our PDUs are written in network byte order (the header says so); the master's
are read in whichever order its header announces (net-snmp writes the host's).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

OID = tuple[int, ...]

# PDU types (RFC 2741 6.1).
OPEN, CLOSE, REGISTER, UNREGISTER, GET, GETNEXT, GETBULK = 1, 2, 3, 4, 5, 6, 7
TESTSET, COMMITSET, UNDOSET, CLEANUPSET, NOTIFY, PING = 8, 9, 10, 11, 12, 13
RESPONSE = 18
# Header flags.
INSTANCE_REGISTRATION, NEW_INDEX, ANY_INDEX, NON_DEFAULT_CONTEXT, NETWORK_BYTE_ORDER = 1, 2, 4, 8, 16
# VarBind types (RFC 2741 5.4).
INTEGER, OCTET_STRING, NULL, OBJECT_IDENTIFIER = 2, 4, 5, 6
IP_ADDRESS, COUNTER32, GAUGE32, TIME_TICKS, OPAQUE, COUNTER64 = 64, 65, 66, 67, 68, 70
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 128, 129, 130
# Close reasons and response errors.
REASON_OTHER, REASON_PARSE_ERROR, REASON_PROTOCOL_ERROR, REASON_SHUTDOWN = 1, 2, 3, 5
NO_ERROR, NOT_WRITABLE, PARSE_ERROR, PROCESSING_ERROR = 0, 17, 266, 268

HEADER = 20
INTERNET = (1, 3, 6, 1)


class AgentXError(ValueError):
    """Bytes that are no AgentX PDU we can read."""


@dataclass(frozen=True, slots=True)
class Header:
    type: int
    flags: int
    session: int
    transaction: int
    packet: int
    length: int


@dataclass(frozen=True, slots=True)
class VarBind:
    oid: OID
    type: int
    value: object = None


@dataclass(frozen=True, slots=True)
class SearchRange:
    start: OID
    end: OID
    include: bool


@dataclass(frozen=True, slots=True)
class Pdu:
    """A PDU from the master: its header and what its payload says for its type."""

    header: Header
    ranges: tuple[SearchRange, ...] = ()
    non_repeaters: int = 0
    max_repetitions: int = 0
    error: int = 0
    index: int = 0
    reason: int = 0
    varbinds: tuple[VarBind, ...] = ()


# ---- encoding ------------------------------------------------------------------------------

def encode_oid(oid: OID, include: bool = False) -> bytes:
    prefix = 0
    if len(oid) > 4 and oid[:4] == INTERNET and 0 < oid[4] < 256:
        prefix, oid = oid[4], oid[5:]
    return struct.pack(f"!BBBx{len(oid)}I", len(oid), prefix, int(include), *oid)


def encode_string(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data + b"\0" * (-len(data) % 4)


def encode_varbind(vb: VarBind) -> bytes:
    out = struct.pack("!HH", vb.type, 0) + encode_oid(vb.oid)
    t, v = vb.type, vb.value
    if t in (INTEGER,):
        return out + struct.pack("!i", int(v))  # type: ignore[arg-type]
    if t in (COUNTER32, GAUGE32, TIME_TICKS):
        return out + struct.pack("!I", int(v) & 0xFFFFFFFF)  # type: ignore[arg-type]
    if t == COUNTER64:
        return out + struct.pack("!Q", int(v) & 0xFFFFFFFFFFFFFFFF)  # type: ignore[arg-type]
    if t in (OCTET_STRING, OPAQUE, IP_ADDRESS):
        data = v.encode() if isinstance(v, str) else bytes(v)  # type: ignore[arg-type]
        return out + encode_string(data)
    if t == OBJECT_IDENTIFIER:
        return out + encode_oid(tuple(v))  # type: ignore[arg-type]
    return out  # NULL and the exceptions carry no data


def _pdu(kind: int, session: int, transaction: int, packet: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack("!BBBxIIII", 1, kind, flags | NETWORK_BYTE_ORDER, session, transaction, packet,
                       len(payload)) + payload


def open_pdu(packet: int, oid: OID, description: str, timeout: int = 0) -> bytes:
    payload = struct.pack("!B3x", timeout) + encode_oid(oid) + encode_string(description.encode())
    return _pdu(OPEN, 0, 0, packet, payload)


def close_pdu(session: int, packet: int, reason: int = REASON_SHUTDOWN) -> bytes:
    return _pdu(CLOSE, session, 0, packet, struct.pack("!B3x", reason))


def register_pdu(session: int, packet: int, subtree: OID, priority: int = 127, timeout: int = 0) -> bytes:
    return _pdu(REGISTER, session, 0, packet, struct.pack("!BBBx", timeout, priority, 0) + encode_oid(subtree))


def ping_pdu(session: int, packet: int) -> bytes:
    return _pdu(PING, session, 0, packet, b"")


def notify_pdu(session: int, packet: int, varbinds: list[VarBind]) -> bytes:
    return _pdu(NOTIFY, session, 0, packet, b"".join(encode_varbind(v) for v in varbinds))


def response_pdu(request: Header, varbinds: list[VarBind], error: int = NO_ERROR, index: int = 0) -> bytes:
    payload = struct.pack("!IHH", 0, error, index) + b"".join(encode_varbind(v) for v in varbinds)
    return _pdu(RESPONSE, request.session, request.transaction, request.packet, payload)


# ---- decoding ------------------------------------------------------------------------------

def parse_header(data: bytes) -> Header:
    if len(data) < HEADER:
        raise AgentXError("short AgentX header")
    version, kind, flags = data[0], data[1], data[2]
    if version != 1:
        raise AgentXError(f"AgentX version {version}")
    order = "!" if flags & NETWORK_BYTE_ORDER else "<"
    session, transaction, packet, length = struct.unpack_from(f"{order}IIII", data, 4)
    if length % 4:
        raise AgentXError(f"AgentX payload length {length} is not a multiple of 4")
    return Header(kind, flags, session, transaction, packet, length)


class _Reader:
    def __init__(self, data: bytes, order: str) -> None:
        self.data, self.at, self.order = data, 0, order

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(self.order + fmt)
        if self.at + size > len(self.data):
            raise AgentXError("AgentX payload cut short")
        out = struct.unpack_from(self.order + fmt, self.data, self.at)
        self.at += size
        return out

    def oid(self) -> tuple[OID, bool]:
        n, prefix, include = self.take("BBBx")
        subids = self.take(f"{n}I") if n else ()
        return ((*INTERNET, prefix, *subids) if prefix else tuple(subids)), bool(include)

    def string(self) -> bytes:
        (n,) = self.take("I")
        if self.at + n > len(self.data):
            raise AgentXError("AgentX string cut short")
        out = self.data[self.at:self.at + n]
        self.at += n + (-n % 4)
        return out

    def varbind(self) -> VarBind:
        t, _ = self.take("HH")
        name, _ = self.oid()
        if t in (INTEGER,):
            value: object = self.take("i")[0]
        elif t in (COUNTER32, GAUGE32, TIME_TICKS):
            value = self.take("I")[0]
        elif t == COUNTER64:
            value = self.take("Q")[0]
        elif t in (OCTET_STRING, OPAQUE, IP_ADDRESS):
            value = self.string()
        elif t == OBJECT_IDENTIFIER:
            value = self.oid()[0]
        else:
            value = None
        return VarBind(name, t, value)

    def more(self) -> bool:
        return self.at < len(self.data)


def parse_pdu(header: Header, payload: bytes) -> Pdu:
    """The payload of one PDU whose header was read with :func:`parse_header`."""
    r = _Reader(payload, "!" if header.flags & NETWORK_BYTE_ORDER else "<")
    if header.flags & NON_DEFAULT_CONTEXT and header.type in (GET, GETNEXT, GETBULK, TESTSET, PING, NOTIFY):
        r.string()  # we serve the default context only; the master sends none for it
    if header.type == RESPONSE:
        _, error, index = r.take("IHH")
        vbs = []
        while r.more():
            vbs.append(r.varbind())
        return Pdu(header, error=error, index=index, varbinds=tuple(vbs))
    if header.type == CLOSE:
        return Pdu(header, reason=r.take("B3x")[0])
    non_rep = max_rep = 0
    if header.type == GETBULK:
        non_rep, max_rep = r.take("HH")
    if header.type in (GET, GETNEXT, GETBULK):
        ranges = []
        while r.more():
            start, include = r.oid()
            end, _ = r.oid()
            ranges.append(SearchRange(start, end, include))
        return Pdu(header, ranges=tuple(ranges), non_repeaters=non_rep, max_repetitions=max_rep)
    return Pdu(header)


def split(buffer: bytearray) -> list[tuple[Header, bytes]]:
    """Whole PDUs at the front of ``buffer`` (removed from it); a partial one stays."""
    out = []
    while len(buffer) >= HEADER:
        h = parse_header(bytes(buffer[:HEADER]))
        if len(buffer) < HEADER + h.length:
            break
        out.append((h, bytes(buffer[HEADER:HEADER + h.length])))
        del buffer[:HEADER + h.length]
    return out
