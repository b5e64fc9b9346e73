"""Raw nf_tables netlink for the hot update: one service's real servers changed.

libnftables fetches every set's elements before it adds one element, so its cost grows with
the whole table (tens of ms at 10,000 real servers). A weight change only needs, in one batch:
the weight set edited element by element, the slot map refilled, and the service's rule
rewritten if the modulus changed. This module encodes exactly those messages (pure bytes,
checked against what libnftables writes by the tests) and :class:`NlSocket` sends a batch.
Everything else (new services, persistence, scheduler changes) goes through libnftables.
"""
from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Iterable, Mapping

from lvsfast.dataplane.model import Dest, DestKey, Service
from lvsfast.netlink import attr as _attr
from lvsfast.nft import render

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFT_MSG_NEWRULE, NFT_MSG_DELRULE = 6, 8
NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM = 12, 14
NFT_MSG_NEWGEN, NFT_MSG_GETGEN = 15, 16
NFTA_GEN_ID = 1
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE, NLM_F_APPEND = 1, 4, 0x400, 0x800
NLA_F_NESTED = 0x8000
NLMSG_ERROR = 2
AF_INET = 2
PROTO = {"tcp": 6, "udp": 17, "sctp": 132}

SO_SNDBUFFORCE = 32
SNDBUF = 8 << 20

# registers as nf_tables numbers them: 16-byte NFT_REG_1, 4-byte NFT_REG32_00 + n
REG1, REG2, REG32_01 = 1, 2, 9


def _nest(kind: int, *parts: bytes) -> bytes:
    return _attr(kind | NLA_F_NESTED, b"".join(parts))


def _str(kind: int, s: str) -> bytes:
    return _attr(kind, s.encode() + b"\0")


def _u32(kind: int, v: int) -> bytes:
    return _attr(kind, struct.pack(">I", v))


def _expr(name: str, *attrs: bytes) -> bytes:
    return _nest(1, _str(1, name), _nest(2, *attrs))  # NFTA_LIST_ELEM { NAME, DATA }


def _data(kind: int, raw: bytes) -> bytes:
    return _nest(kind, _attr(1, raw))  # { NFTA_DATA_VALUE }


def _msg(mtype: int, flags: int, seq: int, body: bytes, family: int = AF_INET, res_id: int = 0) -> bytes:
    payload = struct.pack("=BBH", family, 0, socket.htons(res_id)) + body
    return struct.pack("=IHHII", 16 + len(payload), mtype, flags, seq, 0) + payload


def _nft(mtype: int) -> int:
    return (NFNL_SUBSYS_NFTABLES << 8) | mtype


def ip4(addr: str) -> bytes:
    return socket.inet_aton(addr)


def dest_key(d: Dest) -> bytes:
    """Key of the S_d set: ipv4_addr . inet_service . mark (port big-endian in 4 bytes, mark host order)."""
    return ip4(d.key.address) + struct.pack(">H2x", d.key.port) + struct.pack("=I", d.weight)


def target(fwmark: bool, k: DestKey) -> bytes:
    return ip4(k.address) if fwmark else ip4(k.address) + struct.pack(">H2x", k.port)


# Elements per message: a netlink attribute (the element list) holds at most 64 KiB, and an
# mh table of 4093+ slots is more than that.
CHUNK = 1024


def elems(table: str, setname: str, items: Iterable[bytes]) -> bytes:
    return _str(1, table) + _str(2, setname) + _nest(3, *items)


def chunks(table: str, setname: str, items: Iterable[bytes]) -> list[bytes]:
    """:func:`elems` bodies of at most CHUNK elements each."""
    items = list(items)
    return [elems(table, setname, items[i:i + CHUNK]) for i in range(0, len(items), CHUNK)]


def elem(key: bytes, data: bytes | None = None, flags: int = 0) -> bytes:
    parts = [_data(1, key)]
    if data is not None:
        parts.append(_data(2, data))
    if flags:
        parts.append(_u32(3, flags))
    return _nest(1, *parts)


def slot_elems(svc: Service, dests: Mapping[DestKey, Dest], s: render.Slots) -> list[bytes]:
    fw = bool(svc.key.fwmark)
    out = []
    for lo, hi, k in s.elems:
        if s.interval:
            # Interval maps hold big-endian keys: a start with data, then an end mark at hi+1.
            out.append(elem(struct.pack(">I", lo), target(fw, k)))
            out.append(elem(struct.pack(">I", hi + 1), None, 1))
        else:
            out.append(elem(struct.pack("=I", lo), target(fw, k)))
    return out


def rule_exprs(svc: Service, s: render.Slots, mapname: str) -> bytes:
    """The scheduling rule :func:`render._rules` writes for a non-persistent service."""
    key = svc.key
    parts = []
    if not key.fwmark:
        parts.append(_expr("meta", _u32(2, 16), _u32(1, REG1)))  # meta l4proto -> reg 1
        parts.append(_expr("cmp", _u32(1, REG1), _u32(2, 0), _data(3, bytes([PROTO[key.protocol]]))))
    sched = svc.scheduler
    if sched in ("rr", "wrr", "random"):
        parts.append(_expr("numgen", _u32(1, REG1), _u32(2, s.mod), _u32(3, 1 if sched == "random" else 0),
                           _u32(4, 0)))
    else:
        off = 16 if sched == "dh" else 12
        parts.append(_expr("payload", _u32(1, REG2), _u32(2, 1), _u32(3, off), _u32(4, 4)))
        parts.append(_expr("hash", _u32(1, REG2), _u32(2, REG1), _u32(3, 4), _u32(4, s.mod),
                           _u32(5, render.SEED), _u32(6, 0), _u32(7, 0)))
    if s.interval:
        parts.append(_expr("byteorder", _u32(1, REG1), _u32(2, REG1), _u32(3, 1), _u32(4, 4), _u32(5, 4)))
    parts.append(_expr("lookup", _str(1, mapname), _u32(2, REG1), _u32(3, REG1)))
    nat = [_u32(1, 1), _u32(2, AF_INET), _u32(3, REG1)]
    if not key.fwmark:
        nat.append(_u32(5, REG32_01))
    parts.append(_expr("nat", *nat))
    return b"".join(parts)


def comment_udata(svc: Service) -> bytes:
    text = render._comment(svc).split(" ", 1)[1].strip('"').encode() + b"\0"
    return bytes([0, len(text)]) + text


def eligible(old_svc: Service, svc: Service) -> bool:
    return (not render.differs(old_svc, svc) and not svc.persistence_timeout and svc.key.family == 4
            and not any(f.endswith("-port") for f in svc.flags) and not render.is_dr(svc))


def update_batch(table: str, svc: Service, old: Mapping[DestKey, Dest], new: Mapping[DestKey, Dest],
                 seq: int) -> list[bytes]:
    """Messages (without batch begin/end) for a dests-only change of one non-persistent service."""
    c = render.chain_name(svc.key)
    msgs: list[bytes] = []

    def add(mtype: int, body: bytes, flags: int = 0) -> None:
        msgs.append(_msg(_nft(mtype), NLM_F_REQUEST | flags, seq + len(msgs), body))

    def add_elems(mtype: int, setname: str, items: Iterable[bytes], flags: int = 0) -> None:
        for body in chunks(table, setname, items):
            add(mtype, body, flags)

    gone = [d for k, d in old.items() if new.get(k) != d]
    came = [d for k, d in new.items() if old.get(k) != d]
    if gone:
        add_elems(NFT_MSG_DELSETELEM, f"{c}_d", (elem(dest_key(d)) for d in gone))
    if came:
        add_elems(NFT_MSG_NEWSETELEM, f"{c}_d", (elem(dest_key(d)) for d in came), NLM_F_CREATE)
    s_old, s_new = render.slots(svc, old), render.slots(svc, new)
    m = f"{c}_m"
    if not s_new.interval and s_old.mod == s_new.mod:
        changed = [(o, n) for o, n in zip(s_old.elems, s_new.elems) if o != n]
        if changed:
            add_elems(NFT_MSG_DELSETELEM, m, (elem(struct.pack("=I", o[0])) for o, _ in changed))
            add_elems(NFT_MSG_NEWSETELEM, m, slot_elems(svc, new, render.Slots(
                s_new.mod, False, tuple(n for _, n in changed))), NLM_F_CREATE)
    elif s_old.elems != s_new.elems:
        add(NFT_MSG_DELSETELEM, _str(1, table) + _str(2, m))  # no element list: flush
        if s_new.elems:
            add_elems(NFT_MSG_NEWSETELEM, m, slot_elems(svc, new, s_new), NLM_F_CREATE)
    if s_old.mod != s_new.mod:
        add(NFT_MSG_DELRULE, _str(1, table) + _str(2, c))  # no handle: every rule of the chain
        if s_new.mod:
            body = _str(1, table) + _str(2, c) + _nest(4, rule_exprs(svc, s_new, m)) + _attr(7, comment_udata(svc))
        else:
            body = _str(1, table) + _str(2, c) + _nest(4, _expr("immediate", _u32(1, 0), _nest(2, _nest(2, _u32(1, 0))))) + _attr(7, comment_udata(svc))
        add(NFT_MSG_NEWRULE, body, NLM_F_CREATE | NLM_F_APPEND)
    return msgs


class NlSocket:
    """A NETLINK_NETFILTER socket sending batches and waiting for their acks."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        # A batch is one datagram: refilling an mh table of 16381 slots is about 0.5 MB, past
        # the default send buffer. FORCE (root, as the daemon is) may pass net.core.wmem_max.
        for opt in (SO_SNDBUFFORCE, socket.SO_SNDBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, SNDBUF)
                break
            except OSError:
                continue
        self.sock.settimeout(5.0)
        self.seq = int.from_bytes(os.urandom(2), "little") << 8

    def batch(self, build) -> None:
        """``build(seq)`` returns the messages; they go between batch begin and end, the last acked."""
        begin_seq = self.seq
        msgs = build(begin_seq + 1)
        if not msgs:
            return
        last = msgs[-1]
        ln, mtype, flags, lseq, pid = struct.unpack_from("=IHHII", last)
        msgs[-1] = struct.pack("=IHHII", ln, mtype, flags | NLM_F_ACK, lseq, pid) + last[16:]
        end_seq = lseq + 1
        data = (_msg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, begin_seq, b"", 0, NFNL_SUBSYS_NFTABLES)
                + b"".join(msgs)
                + _msg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, end_seq, b"", 0, NFNL_SUBSYS_NFTABLES))
        self.seq = end_seq + 1
        self.sock.send(data)
        while True:
            buf = self.sock.recv(65536)
            off = 0
            while off < len(buf):
                ln, mtype, flags, seq, pid = struct.unpack_from("=IHHII", buf, off)
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", buf, off + 16)
                    if code != 0:
                        raise OSError(-code, f"nf_tables refused message {seq - begin_seq}: {os.strerror(-code)}")
                    if seq == lseq:
                        return
                off += (ln + 3) & ~3

    def generation(self) -> int:
        """The ruleset generation: nf_tables counts every committed transaction in this netns,
        so an unchanged number means nobody (us included) changed any table since."""
        seq = self.seq
        self.seq += 1
        self.sock.send(_msg(_nft(NFT_MSG_GETGEN), NLM_F_REQUEST, seq, b"", family=0))
        while True:
            buf = self.sock.recv(65536)
            off = 0
            while off < len(buf):
                ln, mtype, flags, mseq, pid = struct.unpack_from("=IHHII", buf, off)
                if mseq == seq:
                    if mtype == NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", buf, off + 16)
                        raise OSError(-code, f"nf_tables generation: {os.strerror(-code)}")
                    if mtype == _nft(NFT_MSG_NEWGEN):
                        a = off + 20
                        while a + 4 <= off + ln:
                            alen, atype = struct.unpack_from("=HH", buf, a)
                            if atype & 0x3FFF == NFTA_GEN_ID:
                                return struct.unpack_from("!I", buf, a + 4)[0]
                            a += (alen + 3) & ~3
                        raise OSError(errno.EPROTO, "nf_tables generation: no id in the answer")
                off += (ln + 3) & ~3

    def close(self) -> None:
        self.sock.close()
