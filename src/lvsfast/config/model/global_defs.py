"""``global_defs`` and the top-level blocks beside it (``SSL``, ``lvs_sync_daemon``...)."""
from __future__ import annotations

from lvsfast.config.model.common import Extra, KeywordLines, Located, Script
from lvsfast.frozen import field, record

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Literal


@record
class LvsSyncDaemon:
    """``lvs_sync_daemon <INTERFACE> <VRRP_INSTANCE> [id N] [maxlen N] [port N] [ttl N] [group IP]``.

    lvsfast adds ``role both`` (the instance may then be left out): the kernel's master and
    backup threads run together whatever VRRP says, so active-active directors share their
    connections every way. ``role vrrp``, the default, is keepalived's: master while the
    instance is MASTER, backup otherwise.
    """

    interface: str
    vrrp_instance: str | None
    sync_id: int | None = None
    maxlen: int | None = None
    port: int | None = None
    ttl: int | None = None
    group: str | None = None
    role: Literal["vrrp", "both"] = "vrrp"
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class LvsTimeouts:
    """``lvs_timeouts [tcp N] [tcpfin N] [udp N]``; None leaves the kernel's value."""

    tcp: int | None = None
    tcpfin: int | None = None
    udp: int | None = None


@record
class SslConfig:
    """The top-level ``SSL { password ca certificate key }`` block used by SSL_GET."""

    password: str | None = None
    ca: str | None = None
    certificate: str | None = None
    key: str | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


if TYPE_CHECKING:
    LvsBackend = Literal["ipvs", "nftables", "auto"]
else:
    LvsBackend = str


@record
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
    # Top-level keywords in keepalived 2.2.7 (refused inside global_defs): the daemon's identity.
    net_namespace: str | None = None
    instance: str | None = None
    use_pid_dir: bool = False
    # lvsfast's own
    lvs_backend: LvsBackend = "auto"
    drift_repair: bool = True
    # TCP_CHECK's and plain HTTP_GET's probers, each on a thread of its own (check/shards.py);
    # 0: auto, one per CPU the checker child may use.
    checker_probers: int = 1
    # Scale-out (docs/scale-out.md): announced VIPs go on this interface as /32 (/128) addresses,
    # which FRR redistributes; a withdrawal waits this long before the service goes.
    announce_interface: str = "lo"
    announce_withdraw_delay: float = 2.0
    announce_track_interface: tuple[str, ...] = ()  # any of them down: nothing announced
    announce_track_script: tuple[str, ...] = ()  # vrrp_script names: any of them failing, nothing announced
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
