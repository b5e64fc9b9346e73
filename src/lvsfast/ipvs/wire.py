"""IPVS generic-netlink messages, encoded and decoded with ``struct`` (sans-IO).

Attribute numbers and semantics are the kernel's (``include/uapi/linux/ip_vs.h``); names follow
pyroute2's ``pyroute2/netlink/generic/ipvs.py``. We encode ourselves because pyroute2's
objects cost ~250 µs per NEW_DEST; a message here is a few ``struct.pack`` calls. Where pyroute2
and the kernel disagree, the kernel wins: ``IPVS_DEST_ATTR_TUN_PORT`` is big-endian, the IPv6
``IPVS_SVC_ATTR_NETMASK`` is a prefix length in host order, and the sync-daemon attributes exist.

Nothing here touches a socket: :func:`service_msg`, :func:`dest_msg` and friends return the
bytes of one complete netlink message, :func:`parse_messages` splits a receive buffer and
:func:`decode_service` / :func:`decode_dest` turn dump replies into model objects.
"""
from __future__ import annotations

import functools
import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Iterator

from lvsfast.ipvs.bulk import DestMessages
from lvsfast.dataplane.backend import SyncDaemon, Timeouts  # noqa: F401 (the messages' payloads, named here too)
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey

GENL_NAME = "IPVS"
GENL_VERSION = 1

# Commands (enum ipvs_cmd_attributes' commands).
IPVS_CMD_NEW_SERVICE = 1
IPVS_CMD_SET_SERVICE = 2
IPVS_CMD_DEL_SERVICE = 3
IPVS_CMD_GET_SERVICE = 4
IPVS_CMD_NEW_DEST = 5
IPVS_CMD_SET_DEST = 6
IPVS_CMD_DEL_DEST = 7
IPVS_CMD_GET_DEST = 8
IPVS_CMD_NEW_DAEMON = 9
IPVS_CMD_DEL_DAEMON = 10
IPVS_CMD_GET_DAEMON = 11
IPVS_CMD_SET_CONFIG = 12
IPVS_CMD_GET_CONFIG = 13
IPVS_CMD_FLUSH = 17

# Top-level attributes.
IPVS_CMD_ATTR_SERVICE = 1
IPVS_CMD_ATTR_DEST = 2
IPVS_CMD_ATTR_DAEMON = 3
IPVS_CMD_ATTR_TIMEOUT_TCP = 4
IPVS_CMD_ATTR_TIMEOUT_TCP_FIN = 5
IPVS_CMD_ATTR_TIMEOUT_UDP = 6

IPVS_SVC_ATTR_AF = 1
IPVS_SVC_ATTR_PROTOCOL = 2
IPVS_SVC_ATTR_ADDR = 3
IPVS_SVC_ATTR_PORT = 4
IPVS_SVC_ATTR_FWMARK = 5
IPVS_SVC_ATTR_SCHED_NAME = 6
IPVS_SVC_ATTR_FLAGS = 7
IPVS_SVC_ATTR_TIMEOUT = 8
IPVS_SVC_ATTR_NETMASK = 9
IPVS_SVC_ATTR_STATS = 10
IPVS_SVC_ATTR_PE_NAME = 11

IPVS_DEST_ATTR_ADDR = 1
IPVS_DEST_ATTR_PORT = 2
IPVS_DEST_ATTR_FWD_METHOD = 3
IPVS_DEST_ATTR_WEIGHT = 4
IPVS_DEST_ATTR_U_THRESH = 5
IPVS_DEST_ATTR_L_THRESH = 6
IPVS_DEST_ATTR_ACTIVE_CONNS = 7
IPVS_DEST_ATTR_INACT_CONNS = 8
IPVS_DEST_ATTR_PERSIST_CONNS = 9
IPVS_DEST_ATTR_ADDR_FAMILY = 11
IPVS_DEST_ATTR_TUN_TYPE = 13
IPVS_DEST_ATTR_TUN_PORT = 14
IPVS_DEST_ATTR_TUN_FLAGS = 15

IPVS_DAEMON_ATTR_STATE = 1
IPVS_DAEMON_ATTR_MCAST_IFN = 2
IPVS_DAEMON_ATTR_SYNC_ID = 3
IPVS_DAEMON_ATTR_SYNC_MAXLEN = 4
IPVS_DAEMON_ATTR_MCAST_GROUP = 5
IPVS_DAEMON_ATTR_MCAST_GROUP6 = 6
IPVS_DAEMON_ATTR_MCAST_PORT = 7
IPVS_DAEMON_ATTR_MCAST_TTL = 8

IP_VS_STATE_MASTER = 1
IP_VS_STATE_BACKUP = 2

IP_VS_SVC_F_PERSISTENT = 0x1
IP_VS_SVC_F_HASHED = 0x2
IP_VS_SVC_F_ONEPACKET = 0x4
IP_VS_SVC_F_SCHED1 = 0x8
IP_VS_SVC_F_SCHED2 = 0x10
IP_VS_SVC_F_SCHED3 = 0x20

FWD = {"nat": 0, "tun": 2, "dr": 3}
FWD_NAMES = {v: k for k, v in FWD.items()}
TUN = {"ipip": 0, "gue": 1, "gre": 2}
TUN_NAMES = {v: k for k, v in TUN.items()}
# IP_VS_TUNNEL_ENCAP_FLAG_*: "nocsum" is the absence of the other two, not a bit of its own.
TUN_F_CSUM, TUN_F_REMCSUM = 0x1, 0x2
PROTO = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "sctp": 132}
PROTO_NAMES = {v: k for k, v in PROTO.items()}
AF = {4: socket.AF_INET, 6: socket.AF_INET6}
AF_FAMILY = {socket.AF_INET: 4, socket.AF_INET6: 6}

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

_HDR = struct.Struct("=IHHII")  # nlmsghdr
_GENL = struct.Struct("=BBH")  # genlmsghdr
_NLA = struct.Struct("=HH")

_FLAG_BITS = {"flag-1": IP_VS_SVC_F_SCHED1, "flag-2": IP_VS_SVC_F_SCHED2, "flag-3": IP_VS_SVC_F_SCHED3,
              "sh-fallback": IP_VS_SVC_F_SCHED1, "mh-fallback": IP_VS_SVC_F_SCHED1,
              "sh-port": IP_VS_SVC_F_SCHED2, "mh-port": IP_VS_SVC_F_SCHED2, "ops": IP_VS_SVC_F_ONEPACKET}


class WireError(ValueError):
    """A value the kernel's encoding cannot carry (unknown scheduler flag, bad address...)."""


def _u16(t: int, v: int) -> bytes:
    return struct.pack("=HHH2x", 6, t, v)


def _be16(t: int, v: int) -> bytes:
    return struct.pack("=HH", 6, t) + struct.pack("!H2x", v)


def _u8(t: int, v: int) -> bytes:
    return struct.pack("=HHB3x", 5, t, v)


def _u32(t: int, v: int) -> bytes:
    return struct.pack("=HHI", 8, t, v)


def _raw(t: int, data: bytes) -> bytes:
    n = 4 + len(data)
    return struct.pack("=HH", n, t) + data + b"\0" * (-n & 3)


def _str(t: int, s: str) -> bytes:
    return _raw(t, s.encode() + b"\0")


def _nest(t: int, body: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(body), t) + body


def _addr(address: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
    except (OSError, ValueError):
        raise WireError(f"bad address {address!r}") from None


def service_flags(svc: Service) -> int:
    """IPVS service flags for ``svc``: persistence, one-packet scheduling, SCHED1..3."""
    bits = IP_VS_SVC_F_PERSISTENT if svc.persistence_timeout else 0
    for f in svc.flags:
        try:
            bits |= _FLAG_BITS[f]
        except KeyError:
            raise WireError(f"unknown scheduler flag {f!r}") from None
    return bits


def flag_names(scheduler: str, bits: int) -> frozenset[str]:
    """The model's names for a kernel flag word (sh/mh name SCHED1 and SCHED2 themselves)."""
    names = set()
    if bits & IP_VS_SVC_F_ONEPACKET:
        names.add("ops")
    named = scheduler in ("sh", "mh")
    if bits & IP_VS_SVC_F_SCHED1:
        names.add(f"{scheduler}-fallback" if named else "flag-1")
    if bits & IP_VS_SVC_F_SCHED2:
        names.add(f"{scheduler}-port" if named else "flag-2")
    if bits & IP_VS_SVC_F_SCHED3:
        names.add("flag-3")
    return frozenset(names)


def netmask_bytes(family: int, prefix: int) -> bytes:
    """IPVS_SVC_ATTR_NETMASK payload: an IPv4 mask in network order, or an IPv6 prefix length."""
    if family == 4:
        if not 0 <= prefix <= 32:
            raise WireError(f"IPv4 persistence granularity /{prefix} out of range")
        return struct.pack("!I", (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF)
    if not 1 <= prefix <= 128:
        raise WireError(f"IPv6 persistence granularity /{prefix} out of range")
    return struct.pack("=I", prefix)


@functools.lru_cache(maxsize=1 << 16)
def service_key_attrs(key: ServiceKey) -> bytes:
    """The attributes that identify a service: AF and FWMARK, or AF, PROTOCOL, ADDR and PORT."""
    if key.fwmark:
        return _u16(IPVS_SVC_ATTR_AF, AF[key.family]) + _u32(IPVS_SVC_ATTR_FWMARK, key.fwmark)
    try:
        proto = PROTO[key.protocol]
    except KeyError:
        raise WireError(f"unknown protocol {key.protocol!r}") from None
    return (_u16(IPVS_SVC_ATTR_AF, AF[key.family]) + _u16(IPVS_SVC_ATTR_PROTOCOL, proto)
            + _raw(IPVS_SVC_ATTR_ADDR, _addr(key.address or ""))
            + _be16(IPVS_SVC_ATTR_PORT, key.port))


def service_attrs(svc: Service) -> bytes:
    """A full service entry, as NEW_SERVICE and SET_SERVICE need it (the kernel wants all four
    of scheduler, flags, timeout and netmask)."""
    key = svc.key
    body = (service_key_attrs(key) + _str(IPVS_SVC_ATTR_SCHED_NAME, svc.scheduler)
            + _raw(IPVS_SVC_ATTR_FLAGS, struct.pack("=II", service_flags(svc), 0xFFFFFFFF))
            + _u32(IPVS_SVC_ATTR_TIMEOUT, svc.persistence_timeout)
            + _raw(IPVS_SVC_ATTR_NETMASK, netmask_bytes(key.family, svc.persistence_granularity)))
    if svc.persistence_engine:
        body += _str(IPVS_SVC_ATTR_PE_NAME, svc.persistence_engine)
    return body


def dest_attrs(dest: Dest, family: int | None = None) -> bytes:
    """A full real-server entry (NEW_DEST/SET_DEST); ``family`` defaults to the address's."""
    d = dest
    packed = _addr(d.key.address)
    af = AF[family or (4 if len(packed) == 4 else 6)]
    try:
        fwd = FWD[d.forward]
        tun = TUN[d.tun_type]
    except KeyError:
        raise WireError(f"unknown forwarding method {d.forward!r} or tunnel type {d.tun_type!r}") from None
    tflags = (TUN_F_CSUM if d.tun_csum else 0) | (TUN_F_REMCSUM if d.tun_remcsum else 0)
    body = (_raw(IPVS_DEST_ATTR_ADDR, packed) + _be16(IPVS_DEST_ATTR_PORT, d.key.port)
            + _u32(IPVS_DEST_ATTR_FWD_METHOD, fwd) + _u32(IPVS_DEST_ATTR_WEIGHT, d.weight)
            + _u32(IPVS_DEST_ATTR_U_THRESH, d.u_threshold) + _u32(IPVS_DEST_ATTR_L_THRESH, d.l_threshold)
            + _u16(IPVS_DEST_ATTR_ADDR_FAMILY, af))
    if fwd == FWD["tun"]:
        body += (_u8(IPVS_DEST_ATTR_TUN_TYPE, tun) + _be16(IPVS_DEST_ATTR_TUN_PORT, d.tun_port)
                 + _u16(IPVS_DEST_ATTR_TUN_FLAGS, tflags))
    return body


def dest_key_attrs(key: DestKey) -> bytes:
    packed = _addr(key.address)
    return (_raw(IPVS_DEST_ATTR_ADDR, packed) + _be16(IPVS_DEST_ATTR_PORT, key.port)
            + _u16(IPVS_DEST_ATTR_ADDR_FAMILY, AF[4 if len(packed) == 4 else 6]))


def message(family_id: int, cmd: int, attrs: bytes, *, seq: int = 0, flags: int = NLM_F_REQUEST | NLM_F_ACK) -> bytes:
    """One complete netlink message: nlmsghdr + genlmsghdr + attributes."""
    return _HDR.pack(20 + len(attrs), family_id, flags, seq, 0) + _GENL.pack(cmd, GENL_VERSION, 0) + attrs


def service_msg(family_id: int, cmd: int, svc: Service, seq: int = 0) -> bytes:
    """NEW_SERVICE/SET_SERVICE with the full entry."""
    timeout = svc.persistence_timeout
    if not svc.persistence_engine and type(timeout) is int and 0 <= timeout <= 0xFFFFFFFF:
        # A load of 10,000 services: one pack per message (the same bytes as service_attrs
        # builds attribute by attribute), with the key's attributes and the netmask cached.
        key = svc.key
        key_attrs = service_key_attrs(key)
        sched = svc.scheduler.encode()
        n_key, n_sched = len(key_attrs), len(sched) + 1
        padded = (n_sched + 3) & ~3
        body = n_key + 4 + padded + 12 + 8 + 8
        return _service_struct(n_key, padded).pack(
            20 + 4 + body, family_id, NLM_F_REQUEST | NLM_F_ACK, seq, 0, cmd, GENL_VERSION, 0,
            4 + body, IPVS_CMD_ATTR_SERVICE, key_attrs,
            4 + n_sched, IPVS_SVC_ATTR_SCHED_NAME, sched,
            12, IPVS_SVC_ATTR_FLAGS, service_flags(svc), 0xFFFFFFFF,
            8, IPVS_SVC_ATTR_TIMEOUT, timeout,
            8, IPVS_SVC_ATTR_NETMASK, _netmask(key.family, svc.persistence_granularity))
    return message(family_id, cmd, _nest(IPVS_CMD_ATTR_SERVICE, service_attrs(svc)), seq=seq)


@functools.lru_cache(maxsize=64)
def _service_struct(n_key: int, n_sched: int) -> struct.Struct:
    """nlmsghdr, genlmsghdr and a service nest without a persistence engine, as one layout;
    ``n_sched``: the scheduler's name with its NUL, padded to 4 (struct pads with zeros)."""
    return struct.Struct(f"=IHHIIBBH HH{n_key}s HH{n_sched}s HHII HHI HH4s")


@functools.lru_cache(maxsize=512)
def _netmask(family: int, prefix: int) -> bytes:
    return netmask_bytes(family, prefix)


def del_service_msg(family_id: int, key: ServiceKey, seq: int = 0) -> bytes:
    return message(family_id, IPVS_CMD_DEL_SERVICE, _nest(IPVS_CMD_ATTR_SERVICE, service_key_attrs(key)), seq=seq)


def struct_dest_msg(family_id: int, cmd: int, key: ServiceKey, dest: Dest, seq: int = 0) -> bytes:
    """NEW_DEST/SET_DEST: the service's key, then the full real-server entry (the pure encoder;
    :data:`dest_msg` is the one to call)."""
    if dest.forward != "tun":
        # Loading 100,000 real servers makes this the hot path: one pack per message, with
        # the service's attributes and the address cached, instead of one pack per attribute.
        key_attrs = service_key_attrs(key)
        packed = _packed_addr(dest.key.address)
        try:
            fwd = FWD[dest.forward]
        except KeyError:
            raise WireError(f"unknown forwarding method {dest.forward!r}") from None
        n_key, n_addr = len(key_attrs), len(packed)
        return _dest_struct(n_key, n_addr).pack(
            20 + 4 + n_key + 56 + n_addr, family_id, NLM_F_REQUEST | NLM_F_ACK, seq, 0, cmd, GENL_VERSION, 0,
            4 + n_key, IPVS_CMD_ATTR_SERVICE, key_attrs,
            56 + n_addr, IPVS_CMD_ATTR_DEST,
            4 + n_addr, IPVS_DEST_ATTR_ADDR, packed,
            6, IPVS_DEST_ATTR_PORT, socket.htons(dest.key.port),
            8, IPVS_DEST_ATTR_FWD_METHOD, fwd, 8, IPVS_DEST_ATTR_WEIGHT, dest.weight,
            8, IPVS_DEST_ATTR_U_THRESH, dest.u_threshold, 8, IPVS_DEST_ATTR_L_THRESH, dest.l_threshold,
            6, IPVS_DEST_ATTR_ADDR_FAMILY, AF[4 if n_addr == 4 else 6])
    return message(family_id, cmd, _nest(IPVS_CMD_ATTR_SERVICE, service_key_attrs(key))
                   + _nest(IPVS_CMD_ATTR_DEST, dest_attrs(dest)), seq=seq)


@functools.lru_cache(maxsize=65536)
def _packed_addr(address: str) -> bytes:
    return _addr(address)


#: NEW_DEST/SET_DEST ``dest_msg(family_id, cmd, key, dest, seq=0)``: compiled
#: (``lvsfast._core.ipvs_dest``) for the common non-tunnel real server, else :func:`struct_dest_msg`.
dest_msg = DestMessages(service_key_attrs, _packed_addr, FWD, struct_dest_msg)


@functools.lru_cache(maxsize=16)
def _dest_struct(n_key: int, n_addr: int) -> struct.Struct:
    """nlmsghdr, genlmsghdr, the service nest, and a non-tunnel dest nest, as one layout
    (the same bytes :func:`dest_attrs` builds attribute by attribute)."""
    return struct.Struct(f"=IHHIIBBH HH{n_key}s HH HH{n_addr}s HHH2x HHI HHI HHI HHI HHH2x")


def del_dest_msg(family_id: int, key: ServiceKey, dkey: DestKey, seq: int = 0) -> bytes:
    return message(family_id, IPVS_CMD_DEL_DEST, _nest(IPVS_CMD_ATTR_SERVICE, service_key_attrs(key))
                   + _nest(IPVS_CMD_ATTR_DEST, dest_key_attrs(dkey)), seq=seq)


def dump_services_msg(family_id: int, seq: int = 0) -> bytes:
    return message(family_id, IPVS_CMD_GET_SERVICE, b"", seq=seq, flags=NLM_F_REQUEST | NLM_F_DUMP)


def dump_dests_msg(family_id: int, key: ServiceKey, seq: int = 0) -> bytes:
    return message(family_id, IPVS_CMD_GET_DEST, _nest(IPVS_CMD_ATTR_SERVICE, service_key_attrs(key)),
                   seq=seq, flags=NLM_F_REQUEST | NLM_F_DUMP)


def daemon_msg(family_id: int, cmd: int, d: SyncDaemon, seq: int = 0) -> bytes:
    """NEW_DAEMON with every attribute set, or DEL_DAEMON (which needs only the state)."""
    state = IP_VS_STATE_MASTER if d.state == "master" else IP_VS_STATE_BACKUP
    body = _u32(IPVS_DAEMON_ATTR_STATE, state)
    if cmd == IPVS_CMD_NEW_DAEMON:
        body += _str(IPVS_DAEMON_ATTR_MCAST_IFN, d.interface) + _u32(IPVS_DAEMON_ATTR_SYNC_ID, d.sync_id)
        if d.maxlen:
            body += _u16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, d.maxlen)
        if d.mcast_group:
            packed = _addr(d.mcast_group)
            body += (_raw(IPVS_DAEMON_ATTR_MCAST_GROUP, packed) if len(packed) == 4
                     else _raw(IPVS_DAEMON_ATTR_MCAST_GROUP6, packed))
        if d.mcast_port:
            # Host order, unlike every other port in IPVS (ip_vs_ctl.c reads it with nla_get_u16).
            body += _u16(IPVS_DAEMON_ATTR_MCAST_PORT, d.mcast_port)
        if d.mcast_ttl:
            body += _u8(IPVS_DAEMON_ATTR_MCAST_TTL, d.mcast_ttl)
    return message(family_id, cmd, _nest(IPVS_CMD_ATTR_DAEMON, body), seq=seq)


def timeouts_msg(family_id: int, t: Timeouts, seq: int = 0) -> bytes:
    return message(family_id, IPVS_CMD_SET_CONFIG, _u32(IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp)
                   + _u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcpfin) + _u32(IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp), seq=seq)


# ---- decoding -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Reply:
    """One netlink message from the kernel: its header fields and payload after nlmsghdr."""

    type: int
    flags: int
    seq: int
    payload: memoryview


def parse_messages(buf: bytes | memoryview) -> Iterator[Reply]:
    mv = memoryview(buf)
    off, end = 0, len(mv)
    while off + 16 <= end:
        length, mtype, flags, seq, _pid = _HDR.unpack_from(mv, off)
        if length < 16 or off + length > end:
            break
        yield Reply(mtype, flags, seq, mv[off + 16: off + length])
        off += (length + 3) & ~3


def error_code(reply: Reply) -> int:
    """The (negative) errno of an NLMSG_ERROR, 0 for an ACK."""
    return struct.unpack_from("=i", reply.payload, 0)[0]


def attrs(buf: memoryview) -> dict[int, memoryview]:
    out: dict[int, memoryview] = {}
    off, end = 0, len(buf)
    while off + 4 <= end:
        n, t = _NLA.unpack_from(buf, off)
        if n < 4 or off + n > end:
            break
        out[t & NLA_TYPE_MASK] = buf[off + 4: off + n]
        off += (n + 3) & ~3
    return out


def _ip(family: int, raw: memoryview) -> str:
    if family == 4:
        return str(ipaddress.IPv4Address(bytes(raw[:4])))
    return str(ipaddress.IPv6Address(bytes(raw[:16])))


def _get_u32(a: dict[int, memoryview], t: int, default: int = 0) -> int:
    v = a.get(t)
    return struct.unpack_from("=I", v)[0] if v is not None else default


def _get_u16(a: dict[int, memoryview], t: int, default: int = 0) -> int:
    v = a.get(t)
    return struct.unpack_from("=H", v)[0] if v is not None else default


def _get_be16(a: dict[int, memoryview], t: int) -> int:
    v = a.get(t)
    return struct.unpack_from("!H", v)[0] if v is not None else 0


def _get_str(a: dict[int, memoryview], t: int) -> str:
    v = a.get(t)
    return bytes(v).split(b"\0", 1)[0].decode() if v is not None else ""


def decode_service(genl_payload: memoryview) -> Service:
    """A GET_SERVICE dump entry (payload after nlmsghdr) as a model Service.

    fwmark services come back with protocol TCP (the kernel's choice); the backend maps them
    onto the desired key.
    """
    top = attrs(genl_payload[4:])
    a = attrs(top[IPVS_CMD_ATTR_SERVICE])
    family = AF_FAMILY[_get_u16(a, IPVS_SVC_ATTR_AF)]
    proto = PROTO_NAMES.get(_get_u16(a, IPVS_SVC_ATTR_PROTOCOL), "tcp")
    fwmark = _get_u32(a, IPVS_SVC_ATTR_FWMARK)
    if fwmark:
        key = ServiceKey(family, proto, None, 0, fwmark)
    else:
        key = ServiceKey(family, proto, _ip(family, a[IPVS_SVC_ATTR_ADDR]), _get_be16(a, IPVS_SVC_ATTR_PORT))
    sched = _get_str(a, IPVS_SVC_ATTR_SCHED_NAME)
    fl = a.get(IPVS_SVC_ATTR_FLAGS)
    bits = struct.unpack_from("=I", fl)[0] if fl is not None else 0
    nm = a.get(IPVS_SVC_ATTR_NETMASK)
    if nm is None:
        gran = 32 if family == 4 else 128
    elif family == 4:
        gran = bin(struct.unpack_from("!I", nm)[0]).count("1")
    else:
        gran = struct.unpack_from("=I", nm)[0]
    timeout = _get_u32(a, IPVS_SVC_ATTR_TIMEOUT) if bits & IP_VS_SVC_F_PERSISTENT else 0
    return Service(key, sched, flag_names(sched, bits), timeout, gran, _get_str(a, IPVS_SVC_ATTR_PE_NAME))


@dataclass(frozen=True, slots=True)
class DestState:
    """A real server as a GET_DEST dump reports it: the model entry plus live counters."""

    dest: Dest
    active_conns: int
    inactive_conns: int
    persist_conns: int


def decode_dest(genl_payload: memoryview, service_family: int) -> DestState:
    top = attrs(genl_payload[4:])
    a = attrs(top[IPVS_CMD_ATTR_DEST])
    af = _get_u16(a, IPVS_DEST_ATTR_ADDR_FAMILY)
    family = AF_FAMILY.get(af, service_family)
    fwd_code = _get_u32(a, IPVS_DEST_ATTR_FWD_METHOD) & 0x7
    fwd = FWD_NAMES.get(fwd_code, "nat")
    tflags = _get_u16(a, IPVS_DEST_ATTR_TUN_FLAGS)
    tun = fwd == "tun"
    tv = a.get(IPVS_DEST_ATTR_TUN_TYPE)
    tun_type = TUN_NAMES.get(tv[0] if (tun and tv is not None) else 0, "ipip")
    # Checksum options only mean something for gue and gre (see canonical form in backend.py).
    csum_capable = tun and tun_type != "ipip"
    d = Dest(
        key=DestKey(_ip(family, a[IPVS_DEST_ATTR_ADDR]), _get_be16(a, IPVS_DEST_ATTR_PORT)),
        weight=_get_u32(a, IPVS_DEST_ATTR_WEIGHT),
        forward=fwd,
        tun_type=tun_type,
        tun_port=_get_be16(a, IPVS_DEST_ATTR_TUN_PORT) if tun_type == "gue" else 0,
        tun_nocsum=csum_capable and not tflags & (TUN_F_CSUM | TUN_F_REMCSUM),
        tun_csum=csum_capable and bool(tflags & TUN_F_CSUM),
        tun_remcsum=csum_capable and bool(tflags & TUN_F_REMCSUM),
        u_threshold=_get_u32(a, IPVS_DEST_ATTR_U_THRESH),
        l_threshold=_get_u32(a, IPVS_DEST_ATTR_L_THRESH),
    )
    return DestState(d, _get_u32(a, IPVS_DEST_ATTR_ACTIVE_CONNS), _get_u32(a, IPVS_DEST_ATTR_INACT_CONNS),
                     _get_u32(a, IPVS_DEST_ATTR_PERSIST_CONNS))
