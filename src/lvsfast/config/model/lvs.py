"""LVS: virtual servers, their real and sorry servers, groups, and the health checkers."""
from __future__ import annotations

from lvsfast.config.model.common import (DEFAULT_DRAIN_TIMEOUT, Extra, Family, KeywordLines, Located,
                                         Script)
from lvsfast.frozen import field, record

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Literal, Union


@record
class StatusRange:
    low: int
    high: int

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high


@record
class Url:
    path: str = "/"
    digest: str | None = None  # lower-case hex MD5
    status_code: tuple[StatusRange, ...] = (StatusRange(200, 299),)
    virtualhost: str | None = None
    regex: str | None = None
    regex_no_match: bool = False
    regex_options: tuple[str, ...] = ()
    regex_min_offset: int | None = None
    regex_max_offset: int | None = None
    regex_stack: tuple[int, int] | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def status_ok(self, code: int) -> bool:
        return any(code in r for r in self.status_code)


@record
class Checker(Located):
    """The options every checker shares, resolved against its real and virtual server.

    ``connect_ip``/``connect_port`` are resolved to the real server's address and port when the
    checker does not set them (None only for FILE_CHECK and BFD_CHECK, or a port-less service).
    """

    connect_ip: str | None = None
    connect_port: int | None = None
    bindto: str | None = None
    bind_if: str | None = None
    bind_port: int | None = None
    fwmark: int | None = None
    alpha: bool = False
    connect_timeout: float = 5.0
    retry: int = 1
    delay_before_retry: float = 1.0
    warmup: float = 60.0
    delay_loop: float = 60.0
    log_all_failures: bool = False
    extra: Extra = ()
    keyword_lines: KeywordLines = field(default=(), compare=False, repr=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class TcpCheck(Checker):
    kind: Literal["TCP_CHECK"] = "TCP_CHECK"


@record
class HttpCheck(Checker):
    kind: Literal["HTTP_GET", "SSL_GET"] = "HTTP_GET"
    urls: tuple[Url, ...] = ()
    http_protocol: str = "1.0"  # "1.0", "1.0C" or "1.1"
    virtualhost: str | None = None
    enable_sni: bool = False
    fast_recovery: bool = False

    @property
    def tls(self) -> bool:
        return self.kind == "SSL_GET"


@record
class SmtpHost:
    """An SMTP_CHECK ``host { }`` block: one more server to check (connect_ip defaults to the RS)."""

    connect_ip: str | None = None
    connect_port: int | None = None
    bindto: str | None = None
    bind_if: str | None = None
    bind_port: int | None = None
    fwmark: int | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class SmtpCheck(Checker):
    kind: Literal["SMTP_CHECK"] = "SMTP_CHECK"
    helo_name: str | None = None  # None: keepalived uses the local host name
    hosts: tuple[SmtpHost, ...] = ()  # keepalived 1.x's host blocks, each checked like the checker itself


@record
class DnsCheck(Checker):
    kind: Literal["DNS_CHECK"] = "DNS_CHECK"
    type: str = "SOA"
    name: str = "."


@record
class MiscCheck(Checker):
    kind: Literal["MISC_CHECK"] = "MISC_CHECK"
    misc_path: Script | None = None
    misc_timeout: float | None = None  # None: delay_loop
    misc_dynamic: bool = False


@record
class UdpCheck(Checker):
    kind: Literal["UDP_CHECK"] = "UDP_CHECK"
    payload: bytes | None = None
    require_reply: bytes | None = None
    require_reply_mask: bytes | None = None  # None: every bit counts; else 0 bits are X wildcards
    reply_required: bool = False
    min_reply_length: int = 0
    max_reply_length: int = 255


@record
class PingCheck(Checker):
    kind: Literal["PING_CHECK"] = "PING_CHECK"


@record
class FileCheck(Checker):
    kind: Literal["FILE_CHECK"] = "FILE_CHECK"
    track_file: str | None = None
    dynamic: bool = False
    weight: int | None = None
    weight_reverse: bool = False


@record
class BfdCheck(Checker):
    kind: Literal["BFD_CHECK"] = "BFD_CHECK"
    name: str | None = None


if TYPE_CHECKING:
    AnyChecker = Union[TcpCheck, HttpCheck, SmtpCheck, DnsCheck, MiscCheck, UdpCheck, PingCheck, FileCheck,
                       BfdCheck]
else:
    AnyChecker = Checker


@record
class ForwardingMethod:
    """``lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]``."""

    kind: Literal["NAT", "DR", "TUN"] = "NAT"
    tun_type: str | None = None
    tun_port: int | None = None
    tun_csum: str | None = None


@record
class RealServer(Located):
    address: str
    port: int | None
    family: Family
    weight: int = 1
    forwarding: ForwardingMethod | None = None  # None: the virtual server's
    inhibit_on_failure: bool = False  # resolved against the virtual server's
    notify_up: Script | None = None
    notify_down: Script | None = None
    uthreshold: int = 0
    lthreshold: int = 0
    smtp_alert: bool | None = None
    virtualhost: str | None = None
    alpha: bool = False
    # The real server's own checker timings (None: the virtual server's); every checker below
    # already carries the resolved values.
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    warmup: float | None = None
    delay_loop: float | None = None
    checkers: tuple[AnyChecker, ...] = ()
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT  # lvsfast's own; resolved against the VS
    extra: Extra = ()
    keyword_lines: KeywordLines = field(default=(), compare=False, repr=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class SorryServer:
    address: str
    port: int | None
    family: Family
    forwarding: ForwardingMethod | None = None
    inhibit: bool = False
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class VsgEntry:
    """One line of a virtual_server_group: an address (range) with port, or a fwmark."""

    address: str | None = None
    last: str | None = None  # end of an address range (inclusive)
    port: int | None = None
    fwmark: int | None = None
    family: Family = 4
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class VirtualServerGroup:
    name: str
    entries: tuple[VsgEntry, ...] = ()
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class VirtualServer(Located):
    """One ``virtual_server``: exactly one of (address, port), ``fwmark`` or ``group`` is set."""

    address: str | None = None
    port: int | None = None
    fwmark: int | None = None
    group: str | None = None
    family: Family = 4
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    lb_algo: str = "wlc"
    forwarding: ForwardingMethod = ForwardingMethod()
    sched_flags: tuple[str, ...] = ()  # flag-1.. / sh-port, sh-fallback, mh-port, mh-fallback
    ops: bool = False
    persistence_timeout: int | None = None
    persistence_granularity: str | None = None
    persistence_engine: str | None = None
    ha_suspend: bool = False
    virtualhost: str | None = None
    alpha: bool = False
    omega: bool = False
    announce_route: bool = False  # lvsfast: the address on announce_interface while quorum holds
    announce_track_script: tuple[str, ...] = ()  # vrrp_script names: any failing, this one is not announced
    quorum: int = 1
    quorum_up: Script | None = None
    quorum_down: Script | None = None
    hysteresis: int = 0
    delay_loop: float = 60.0
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    warmup: float | None = None
    inhibit_on_failure: bool = False
    sorry_server: SorryServer | None = None
    smtp_alert: bool | None = None
    ip_family: Family | None = None
    real_servers: tuple[RealServer, ...] = ()
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT  # lvsfast's own
    extra: Extra = ()
    keyword_lines: KeywordLines = field(default=(), compare=False, repr=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def name(self) -> str:
        """How keepalived names the service in its logs."""
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        if self.group is not None:
            return f"group {self.group}"
        host = f"[{self.address}]" if self.family == 6 else str(self.address)
        return f"{host}:{self.protocol}:{self.port if self.port is not None else 0}"
