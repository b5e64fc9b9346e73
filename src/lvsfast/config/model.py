"""The typed, immutable configuration model: what a keepalived.conf means.

Every class is a frozen, slotted dataclass. Defaults equal keepalived 2.2.7's; where keepalived
derives a default from another setting (a checker's ``delay_before_retry``, ``warmup``...), the
builder resolves it, so consumers read final values. Every block keeps the ``file`` and ``line``
of its opening statement. Keywords that are accepted but not modelled field by field are kept,
in order, in ``extra`` as ``(keyword, args)`` pairs.

Equality and hashing ignore where a block was written (``file``, ``line``, ``keyword_lines``): two
loads of a file that only moved lines give equal objects, which is what reload diffs want.

Addresses are kept as normalised strings (``ipaddress`` compressed form) with their family
(4 or 6), which is what pyroute2 and the netlink encoders take. Times are seconds (float).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from operator import attrgetter
from typing import Literal, Union

from lvsfast.config.diagnostics import Diagnostic
from lvsfast.frozen import quick, rebuild

Extra = tuple[tuple[str, tuple[str, ...]], ...]
KeywordLines = tuple[tuple[str, int], ...]


class Located:
    """A block that remembers the line of each keyword in it (``keyword_lines``; a virtual
    server's leaves out its real_server blocks, which remember their own)."""

    __slots__ = ()

    def line_of(self, keyword: str) -> int:
        """The line of the last ``keyword`` statement in this block, else the block's own line."""
        found = 0
        for k, ln in self.keyword_lines:  # type: ignore[attr-defined]
            if k == keyword:
                found = ln
        return found or self.line  # type: ignore[attr-defined]

Family = Literal[4, 6]

#: Schedulers IPVS knows (keepalived's ``lb_algo``/``lvs_sched`` values).
IPVS_SCHEDULERS = frozenset({"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq",
                             "fo", "ovf", "mh", "twos"})
#: Schedulers lvsfast's nftables backend implements statelessly ("random" is lvsfast's own).
NFTABLES_SCHEDULERS = frozenset({"rr", "wrr", "sh", "dh", "mh", "random"})
LB_KINDS = frozenset({"NAT", "DR", "TUN"})
SCHED_FLAG_NAMES = frozenset({"flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback"})
PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
DEFAULT_DRAIN_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Script:
    """A command line to run (notify, misc_path...), with the user/group to run it as."""

    command: str
    user: str | None = None
    group: str | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


# ---------------------------------------------------------------------------------------------
# global_defs and top-level helpers


@dataclass(frozen=True, slots=True)
class LvsSyncDaemon:
    """``lvs_sync_daemon <INTERFACE> <VRRP_INSTANCE> [id N] [maxlen N] [port N] [ttl N] [group IP]``."""

    interface: str
    vrrp_instance: str
    sync_id: int | None = None
    maxlen: int | None = None
    port: int | None = None
    ttl: int | None = None
    group: str | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class LvsTimeouts:
    """``lvs_timeouts [tcp N] [tcpfin N] [udp N]``; None leaves the kernel's value."""

    tcp: int | None = None
    tcpfin: int | None = None
    udp: int | None = None


@dataclass(frozen=True, slots=True)
class SslConfig:
    """The top-level ``SSL { password ca certificate key }`` block used by SSL_GET."""

    password: str | None = None
    ca: str | None = None
    certificate: str | None = None
    key: str | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


LvsBackend = Literal["ipvs", "nftables", "auto"]


@dataclass(frozen=True, slots=True)
class GlobalDefs(Located):
    router_id: str | None = None  # None: keepalived uses the host name
    notification_email: tuple[str, ...] = ()
    notification_email_from: str | None = None
    smtp_server: str | None = None
    smtp_server_port: int = 25
    smtp_helo_name: str | None = None
    smtp_connect_timeout: float = 30.0
    smtp_alert: bool | None = None
    smtp_alert_vrrp: bool | None = None
    smtp_alert_checker: bool | None = None
    no_email_faults: bool = False
    enable_script_security: bool = False
    script_user: str | None = None
    script_group: str | None = None
    default_interface: str | None = None
    dynamic_interfaces: bool = False
    vrrp_mcast_group4: str = "224.0.0.18"
    vrrp_mcast_group6: str = "ff02::12"
    vrrp_garp_master_delay: float = 5.0
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: float = 0.0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_lower_prio_delay: float | None = None  # None: vrrp_garp_master_delay
    vrrp_garp_lower_prio_repeat: int | None = None  # None: vrrp_garp_master_repeat
    vrrp_garp_interval: float = 0.0
    vrrp_gna_interval: float = 0.0
    vrrp_min_garp: bool = False
    vrrp_garp_extra_if: tuple[str, ...] = ()
    vrrp_down_timer_adverts: int = 3
    vrrp_lower_prio_no_advert: bool = False
    vrrp_higher_prio_send_advert: bool = False
    vrrp_version: int = 2
    vrrp_check_unicast_src: bool = False
    vrrp_skip_check_adv_addr: bool = False
    vrrp_strict: bool = False
    vrrp_iptables: tuple[str, ...] | None = None
    nftables: str | None = None
    vrrp_startup_delay: float = 0.0
    vrrp_notify_fifo: Script | None = None
    vrrp_notify_fifo_script: Script | None = None
    lvs_notify_fifo: Script | None = None
    lvs_notify_fifo_script: Script | None = None
    notify_fifo: Script | None = None
    notify_fifo_script: Script | None = None
    startup_script: Script | None = None
    startup_script_timeout: float = 10.0  # keepalived's default, [1, 1000] s
    shutdown_script: Script | None = None
    shutdown_script_timeout: float = 10.0
    vrrp_notify_priority_changes: bool = False
    lvs_sync_daemon: LvsSyncDaemon | None = None
    lvs_timeouts: LvsTimeouts | None = None
    lvs_flush: bool = False
    lvs_flush_on_stop: str | None = None  # None, "VS" or "RS" (bare keyword: "VS")
    checker_log_all_failures: bool = False
    max_auto_priority: int | None = None
    net_namespace: str | None = None
    # lvsfast's own
    lvs_backend: LvsBackend = "auto"
    drift_repair: bool = True
    v3_checksum_as_v2: bool = False  # send VRRPv3/IPv4 without the pseudo-header (RFC 9568's form)
    extra: Extra = ()
    keyword_lines: KeywordLines = field(default=(), compare=False, repr=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def garp_lower_prio_delay(self) -> float:
        return self.vrrp_garp_master_delay if self.vrrp_garp_lower_prio_delay is None else self.vrrp_garp_lower_prio_delay

    @property
    def garp_lower_prio_repeat(self) -> int:
        return self.vrrp_garp_master_repeat if self.vrrp_garp_lower_prio_repeat is None else self.vrrp_garp_lower_prio_repeat


# ---------------------------------------------------------------------------------------------
# VRRP


@dataclass(frozen=True, slots=True)
class VrrpScript(Located):
    name: str
    script: Script | None = None
    interval: float = 1.0
    timeout: float | None = None  # None: the script may run for up to ``interval``
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False
    keyword_lines: KeywordLines = field(default=(), compare=False, repr=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class VrrpTrackFile:
    name: str
    path: str | None = None
    weight: int = 1
    weight_reverse: bool = False
    init_file: int | None = None  # value written when the file is created
    init_file_overwrite: bool = False
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class VrrpTrackProcess:
    name: str
    process: str | None = None
    param_match: str | None = None  # None, "initial" or "partial"
    weight: int = 0
    weight_reverse: bool = False
    quorum: int = 1
    quorum_max: int | None = None
    delay: float = 0.0
    terminate_delay: float = 0.0
    fork_delay: float = 0.0
    full_command: bool = False
    extra: Extra = ()
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Tracked:
    """One line of track_interface / track_script / track_file / track_process / track_bfd.

    ``weight`` None means: the tracked object's own weight (scripts, files, processes) or, for
    interfaces, going to FAULT.
    """

    name: str
    weight: int | None = None
    reverse: bool = False
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class VirtualAddress:
    """One line of virtual_ipaddress / virtual_ipaddress_excluded / static_ipaddress."""

    address: str
    prefix: int
    family: Family
    dev: str | None = None
    brd: str | None = None
    scope: str | None = None
    label: str | None = None
    peer: str | None = None
    use_vmac: bool = False
    no_track: bool = False
    home: bool = False
    nodad: bool = False
    mngtmpaddr: bool = False
    noprefixroute: bool = False
    autojoin: bool = False
    preferred_lft: int | None = None  # None: keepalived's default (0 only for IPv6 /128)
    track_group: str | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefix}"


@dataclass(frozen=True, slots=True)
class VirtualRoute:
    """One line of virtual_routes / static_routes; options modelled loosely beyond the usual ones."""

    destination: str  # "a.b.c.d/n" or "default"
    family: Family
    via: tuple[str, ...] = ()  # several with "or" / nexthop
    dev: str | None = None
    src: str | None = None
    table: str | None = None
    scope: str | None = None
    metric: int | None = None
    route_type: str | None = None  # blackhole, unreachable, prohibit, ...
    no_track: bool = False
    options: tuple[str, ...] = ()  # the whole line, for options not modelled above
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class VirtualRule:
    """One line of virtual_rules / static_rules."""

    from_: str | None = None
    to: str | None = None
    family: Family = 4
    table: str | None = None
    preference: int | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: str | None = None
    action: str | None = None  # goto, no_action, blackhole, ...
    no_track: bool = False
    options: tuple[str, ...] = ()
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class UnicastPeer:
    address: str
    family: Family
    min_ttl: int | None = None
    max_ttl: int | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Authentication:
    auth_type: Literal["PASS", "AH"]
    auth_pass: str = ""  # only the first 8 characters are used, as in keepalived


@dataclass(frozen=True, slots=True)
class Vmac:
    """``use_vmac [NAME] [MAC]``."""

    name: str | None = None
    mac: str | None = None


@dataclass(frozen=True, slots=True)
class VrrpInstance(Located):
    name: str
    state: Literal["MASTER", "BACKUP"] | None = None  # None: BACKUP (keepalived starts as backup)
    interface: str | None = None
    vrf: str | None = None
    virtual_router_id: int | None = None
    priority: int = 100
    advert_int: float = 1.0
    version: int | None = None  # None: global vrrp_version (IPv6 always 3)
    authentication: Authentication | None = None
    virtual_ipaddress: tuple[VirtualAddress, ...] = ()
    virtual_ipaddress_excluded: tuple[VirtualAddress, ...] = ()
    virtual_routes: tuple[VirtualRoute, ...] = ()
    virtual_rules: tuple[VirtualRule, ...] = ()
    mcast_src_ip: str | None = None
    unicast_src_ip: str | None = None
    mcast_dst_ip: str | None = None
    unicast_peer: tuple[UnicastPeer, ...] = ()
    unicast_fault_no_peer: bool = False
    unicast_ttl: int | None = None
    check_unicast_src: bool | None = None  # None: global vrrp_check_unicast_src
    track_src_ip: bool = False
    old_unicast_checksum: str | None = None  # None, "" (on) or "never"
    track_interface: tuple[Tracked, ...] = ()
    track_script: tuple[Tracked, ...] = ()
    track_file: tuple[Tracked, ...] = ()
    track_process: tuple[Tracked, ...] = ()
    track_bfd: tuple[Tracked, ...] = ()
    dont_track_primary: bool = False
    nopreempt: bool = False
    preempt_delay: float = 0.0
    accept: bool | None = None  # None: accept unless strict mode
    strict_mode: bool | None = None  # None: global vrrp_strict
    skip_check_adv_addr: bool | None = None  # None: global vrrp_skip_check_adv_addr
    use_vmac: Vmac | None = None
    use_vmac_addr: bool = False
    vmac_xmit_base: bool = False
    use_ipvlan: tuple[str, ...] | None = None
    native_ipv6: bool = False
    promote_secondaries: bool = False
    garp_master_delay: float | None = None  # None: the vrrp_garp_* globals
    garp_master_repeat: int | None = None
    garp_lower_prio_delay: float | None = None
    garp_lower_prio_repeat: int | None = None
    garp_master_refresh: float | None = None
    garp_master_refresh_repeat: int | None = None
    garp_extra_if: tuple[str, ...] | None = None
    down_timer_adverts: int | None = None
    lower_prio_no_advert: bool | None = None
    higher_prio_send_advert: bool | None = None
    v3_checksum_as_v2: bool | None = None  # lvsfast's own; None: the global
    notify_master: Script | None = None
    notify_backup: Script | None = None
    notify_fault: Script | None = None
    notify_stop: Script | None = None
    notify_deleted: Script | None = None
    notify: Script | None = None
    notify_master_rx_lower_pri: Script | None = None
    notify_priority_changes: bool | None = None
    smtp_alert: bool | None = None
    debug: int = 0
    kernel_rx_buf_size: int | None = None
    linkbeat_use_polling: bool = False
    lvs_sync_daemon_interface: str | None = None  # deprecated; global lvs_sync_daemon
    extra: Extra = ()
    keyword_lines: KeywordLines = field(default=(), compare=False, repr=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def family(self) -> Family:
        """The instance's address family, as keepalived derives it from the first VIP."""
        if self.native_ipv6:
            return 6
        if self.virtual_ipaddress:
            return self.virtual_ipaddress[0].family
        return 4


@dataclass(frozen=True, slots=True)
class VrrpSyncGroup(Located):
    name: str
    group: tuple[str, ...] = ()
    track_interface: tuple[Tracked, ...] = ()
    track_script: tuple[Tracked, ...] = ()
    track_file: tuple[Tracked, ...] = ()
    track_process: tuple[Tracked, ...] = ()
    track_bfd: tuple[Tracked, ...] = ()
    notify_master: Script | None = None
    notify_backup: Script | None = None
    notify_fault: Script | None = None
    notify_stop: Script | None = None
    notify_deleted: Script | None = None
    notify: Script | None = None
    notify_priority_changes: bool | None = None
    smtp_alert: bool | None = None
    global_tracking: bool = False
    sync_group_tracking_weight: bool = False
    extra: Extra = ()
    keyword_lines: KeywordLines = field(default=(), compare=False, repr=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


# ---------------------------------------------------------------------------------------------
# LVS


@dataclass(frozen=True, slots=True)
class StatusRange:
    low: int
    high: int

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class TcpCheck(Checker):
    kind: Literal["TCP_CHECK"] = "TCP_CHECK"


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class SmtpCheck(Checker):
    kind: Literal["SMTP_CHECK"] = "SMTP_CHECK"
    helo_name: str | None = None  # None: keepalived uses the local host name
    hosts: tuple[SmtpHost, ...] = ()  # keepalived 1.x's host blocks, each checked like the checker itself


@dataclass(frozen=True, slots=True)
class DnsCheck(Checker):
    kind: Literal["DNS_CHECK"] = "DNS_CHECK"
    type: str = "SOA"
    name: str = "."


@dataclass(frozen=True, slots=True)
class MiscCheck(Checker):
    kind: Literal["MISC_CHECK"] = "MISC_CHECK"
    misc_path: Script | None = None
    misc_timeout: float | None = None  # None: delay_loop
    misc_dynamic: bool = False


@dataclass(frozen=True, slots=True)
class UdpCheck(Checker):
    kind: Literal["UDP_CHECK"] = "UDP_CHECK"
    payload: bytes | None = None
    require_reply: bytes | None = None
    require_reply_mask: bytes | None = None  # None: every bit counts; else 0 bits are X wildcards
    reply_required: bool = False
    min_reply_length: int = 0
    max_reply_length: int = 255


@dataclass(frozen=True, slots=True)
class PingCheck(Checker):
    kind: Literal["PING_CHECK"] = "PING_CHECK"


@dataclass(frozen=True, slots=True)
class FileCheck(Checker):
    kind: Literal["FILE_CHECK"] = "FILE_CHECK"
    track_file: str | None = None
    dynamic: bool = False
    weight: int | None = None
    weight_reverse: bool = False


@dataclass(frozen=True, slots=True)
class BfdCheck(Checker):
    kind: Literal["BFD_CHECK"] = "BFD_CHECK"
    name: str | None = None


AnyChecker = Union[TcpCheck, HttpCheck, SmtpCheck, DnsCheck, MiscCheck, UdpCheck, PingCheck, FileCheck, BfdCheck]


@dataclass(frozen=True, slots=True)
class ForwardingMethod:
    """``lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]``."""

    kind: Literal["NAT", "DR", "TUN"] = "NAT"
    tun_type: str | None = None
    tun_port: int | None = None
    tun_csum: str | None = None


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class SorryServer:
    address: str
    port: int | None
    family: Family
    forwarding: ForwardingMethod | None = None
    inhibit: bool = False
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class VsgEntry:
    """One line of a virtual_server_group: an address (range) with port, or a fwmark."""

    address: str | None = None
    last: str | None = None  # end of an address range (inclusive)
    port: int | None = None
    fwmark: int | None = None
    family: Family = 4
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class VirtualServerGroup:
    name: str
    entries: tuple[VsgEntry, ...] = ()
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
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


# ---------------------------------------------------------------------------------------------
# The root


@dataclass(frozen=True, slots=True)
class Config:
    """A whole configuration; ``warnings`` are the non-fatal diagnostics found loading it."""

    path: str = ""
    config_id: str = ""
    global_defs: GlobalDefs = GlobalDefs()
    ssl: SslConfig | None = None
    static_ipaddress: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[VirtualRoute, ...] = ()
    static_rules: tuple[VirtualRule, ...] = ()
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    vrrp_track_files: tuple[VrrpTrackFile, ...] = ()
    vrrp_track_processes: tuple[VrrpTrackProcess, ...] = ()
    vrrp_sync_groups: tuple[VrrpSyncGroup, ...] = ()
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    extra: Extra = ()
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)
    # The files this model was read from (see Diagnostics.source_digest): a child that read the
    # same digest itself built the same model, and needs no copy of it.
    source_digest: str = field(default="", compare=False, repr=False)

    def instance(self, name: str) -> VrrpInstance | None:
        return next((i for i in self.vrrp_instances if i.name == name), None)

    def script(self, name: str) -> VrrpScript | None:
        return next((s for s in self.vrrp_scripts if s.name == name), None)

    def group(self, name: str) -> VirtualServerGroup | None:
        return next((g for g in self.virtual_server_groups if g.name == name), None)


# ---------------------------------------------------------------------------------------------
# Pickling: the daemon hands every reload's Config to its children. A frozen slotted dataclass
# pickles through dataclasses' own __getstate__/__setstate__, which look its fields up again
# for every object (10 us per real server, a quarter of a 10,000-server reload); reducing each
# object to its class and field values costs one C-level attrgetter, and loading calls __init__.


def _reduce_by_fields(cls: type) -> None:
    names = [f.name for f in fields(cls)]
    get = attrgetter(*names)
    if len(names) == 1:  # attrgetter of one name returns the value, not a tuple
        def reduce(self: object) -> tuple:
            return rebuild, (cls, (get(self),))
    else:
        def reduce(self: object) -> tuple:
            return rebuild, (cls, get(self))
    cls.__reduce__ = reduce  # type: ignore[method-assign]


for _cls in [c for c in list(globals().values()) if isinstance(c, type) and is_dataclass(c)
             and c.__module__ == __name__]:
    quick(_cls)
    _reduce_by_fields(_cls)
del _cls
