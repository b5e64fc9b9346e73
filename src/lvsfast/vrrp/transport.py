"""VRRP sockets on one interface: raw protocol-112 receive and send, multicast or unicast.

Receive and send use two sockets on purpose. The send socket is bound to the source address so
the kernel writes exactly the address our checksum's pseudo-header used; a raw IPv4 socket
bound to an address would only receive packets sent to that address, so the receive socket
stays unbound (but tied to the interface) and the send socket gets a drop-all filter.
Batch receive goes through the compiled ``recvmmsg`` core (or its twin).
"""
from __future__ import annotations

import ctypes
import socket
import struct
from typing import TYPE_CHECKING

from lvsfast.vrrp.ah import AH_PROTO
from lvsfast.vrrp.wire_types import MCAST_V4, MCAST_V6, VRRP_PROTO

if TYPE_CHECKING:
    from lvsfast.vrrp._socket_py import recv_batch
else:
    from lvsfast._native import load as _load

    recv_batch = _load("vrrp_socket").recv_batch

IP_PKTINFO = 8
SO_ATTACH_FILTER = 26
_DROP_ALL = (ctypes.c_uint64 * 1)(0x06)  # one BPF instruction: "ret #0" (code 0x06, k 0)


class TransportError(OSError):
    pass


def _drop_everything(sock: socket.socket) -> None:
    prog = struct.pack("HL", 1, ctypes.addressof(_DROP_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)


class VrrpTransport:
    """Raw VRRP I/O for one (interface, family). ``fileno()`` is for ``loop.add_reader``."""

    def __init__(self, family: int, ifname: str, src: str, *, multicast: bool = True, ttl: int = 255,
                 ah: bool = False, group: str | None = None, unicast_ttl: int = 255) -> None:
        if ah and family != 4:
            raise TransportError("IPsec-AH authentication is VRRPv2, IPv4 only")
        self.family = family
        self.ifname = ifname
        self.src = src
        self.multicast = multicast
        self.groups: set[str] = set()
        try:
            self.ifindex = socket.if_nametoindex(ifname)
        except OSError:
            raise TransportError(f"interface {ifname} does not exist") from None
        af = socket.AF_INET if family == 4 else socket.AF_INET6
        self.rx = socket.socket(af, socket.SOCK_RAW, VRRP_PROTO)
        self.tx = socket.socket(af, socket.SOCK_RAW, VRRP_PROTO)
        # AH adverts are IP protocol 51 and their ICV covers the IP header, so they are sent whole
        # (IP_HDRINCL) and received on a socket of their own.
        self.rx_ah = socket.socket(af, socket.SOCK_RAW, AH_PROTO) if ah else None
        self.tx_ah = socket.socket(af, socket.SOCK_RAW, AH_PROTO) if ah else None
        try:
            for s in self._all():
                s.setblocking(False)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            _drop_everything(self.tx)
            if family == 4:
                self._setup_v4(ttl, unicast_ttl)
            else:
                self._setup_v6(ttl, unicast_ttl)
            self.join(group or (MCAST_V4 if family == 4 else MCAST_V6))
        except OSError:
            self.close()
            raise

    def _setup_v4(self, ttl: int, unicast_ttl: int) -> None:
        rx, tx = self.rx, self.tx
        rx.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        mreqn = struct.pack("4s4si", socket.inet_aton(MCAST_V4), b"\0" * 4, self.ifindex)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, unicast_ttl)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        tx.bind((self.src, 0))
        if self.rx_ah is not None and self.tx_ah is not None:
            self.rx_ah.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            self.tx_ah.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            self.tx_ah.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            self.tx_ah.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            _drop_everything(self.tx_ah)

    def _setup_v6(self, ttl: int, unicast_ttl: int) -> None:
        rx, tx = self.rx, self.tx
        rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
        tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
        tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, unicast_ttl)
        tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        tx.bind((self.src, 0, 0, self.ifindex))

    def join(self, group: str) -> None:
        """Receive adverts sent to ``group`` (vrrp_mcast_group4/6, or an instance's mcast_dst_ip).

        The kernel hands a raw socket only the multicast groups someone joined on the interface,
        so a peer advertising to another group is never heard unless we join it too.
        """
        if not self.multicast or group in self.groups:
            return
        for s in (self.rx, self.rx_ah):
            if s is None:
                continue
            if self.family == 4:
                mreqn = struct.pack("4s4si", socket.inet_aton(group), b"\0" * 4, self.ifindex)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            else:
                mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("I", self.ifindex)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        self.groups.add(group)

    def _all(self) -> list[socket.socket]:
        return [s for s in (self.rx, self.tx, self.rx_ah, self.tx_ah) if s is not None]

    def fileno(self) -> int:
        return self.rx.fileno()

    def filenos(self) -> list[int]:
        """Every descriptor to watch for adverts (the AH socket too, when there is one)."""
        return [s.fileno() for s in (self.rx, self.rx_ah) if s is not None]

    def recv(self, max_packets: int = 64) -> list[tuple[bytes, bytes | None, bytes | None, int, int]]:
        """Waiting packets as (packet, src, dst, ttl, ifindex); see ``recv_batch``."""
        out = recv_batch(self.rx.fileno(), self.family, max_packets)
        if self.rx_ah is not None:
            out += recv_batch(self.rx_ah.fileno(), self.family, max_packets)
        return out

    def send_ip(self, packet: bytes, dst: str) -> int:
        """Send a whole IPv4 packet (an AH-wrapped advert from ``lvsfast.vrrp.ah.wrap``)."""
        if self.tx_ah is None:
            raise TransportError("this transport was not opened for AH")
        return self.tx_ah.sendto(packet, (dst, 0))

    def send(self, payload: bytes, dst: str | None = None) -> int:
        """Send one advert to ``dst`` (default: the VRRP multicast group)."""
        if dst is None:
            dst = MCAST_V4 if self.family == 4 else MCAST_V6
        addr = (dst, 0) if self.family == 4 else (dst, 0, 0, self.ifindex)
        return self.tx.sendto(payload, addr)

    def close(self) -> None:
        for s in self._all():
            try:
                s.close()
            except OSError:
                pass


class FrameSender:
    """Sends ready-made Ethernet frames (gratuitous ARP, unsolicited NA) on one interface."""

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.setblocking(False)
        self.sock.bind((ifname, 0))

    def mac(self) -> bytes:
        return self.sock.getsockname()[4]

    def send(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
        except BlockingIOError:
            pass  # a full queue drops one announcement; the repeats cover it

    def close(self) -> None:
        self.sock.close()
