"""The lines keepalived 2.2.7's checker writes on ``notify_fifo`` / ``lvs_notify_fifo`` (sans-IO).

keepalived writes one line wherever it runs a real server's notify_up/notify_down or a virtual
server's quorum_up/quorum_down script:

    RS [10.0.0.11]:tcp:80 [10.0.0.100]:tcp:80 DOWN
    VS [10.0.0.100]:tcp:80 UP

A virtual server is ``[ADDR]:proto:PORT`` (the address always in brackets, IPv4 too, the
protocol in lower case), ``FWM <mark>`` for a fwmark service and ``[<group name>]:0`` for a
virtual_server_group; a real server is ``[ADDR]:proto:PORT`` with its virtual server's protocol.

It lives with the parent, which writes these lines from the checker's events: the parent holds
none of the checker's code.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lvsfast.config.model import VirtualServer

PROTO = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


def vs_text(vs: "VirtualServer") -> str:
    if vs.group is not None:
        return f"[{vs.group}]:0"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return f"[{vs.address}]:{PROTO.get(vs.protocol, '?')}:{vs.port or 0}"


def rs_text(vs: "VirtualServer", address: str, port: int | None) -> str:
    return f"[{address}]:{PROTO.get(vs.protocol, '?')}:{port or 0}"


def split_real_name(name: str) -> tuple[str, int]:
    """(address, port) from the checker's real-server name, ``ADDR:PORT`` or ``[ADDR]:PORT``."""
    host, _, port = name.rpartition(":")
    return host.strip("[]"), int(port)


def vs_line(vs: "VirtualServer", up: bool) -> str:
    return f"VS {vs_text(vs)} {'UP' if up else 'DOWN'}\n"


def rs_line(vs: "VirtualServer", address: str, port: int | None, up: bool) -> str:
    return f"RS {rs_text(vs, address, port)} {vs_text(vs)} {'UP' if up else 'DOWN'}\n"
