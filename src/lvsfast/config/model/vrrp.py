"""VRRP: scripts and tracked objects, addresses, routes and rules, instances and sync groups."""
from __future__ import annotations

from lvsfast.config.model.common import Extra, Family, KeywordLines, Located, Script
from lvsfast.config.model.routes import RouteRequest, RuleRequest
from lvsfast.frozen import field, record

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Literal


@record
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


@record
class VrrpTrackFile:
    name: str
    path: str | None = None
    weight: int = 1
    weight_reverse: bool = False
    init_file: int | None = None  # value written when the file is created
    init_file_overwrite: bool = False
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
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


@record
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


@record
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


@record
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
    track_group: str | None = None  # static_routes only
    options: tuple[str, ...] = ()  # the whole line, for options not modelled above
    request: RouteRequest | None = None  # the line as the kernel request (config/route_lines.py)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
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
    track_group: str | None = None  # static_rules only
    options: tuple[str, ...] = ()
    request: RuleRequest | None = None  # the line as the kernel request (config/route_lines.py)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class StaticTrackGroup:
    """``track_group NAME { group { VI_1 VI_2 } }``: the instances that track the interface of
    each static address, route or rule naming the group (a FAULT while it is down)."""

    name: str
    group: tuple[str, ...] = ()
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class UnicastPeer:
    address: str
    family: Family
    min_ttl: int | None = None
    max_ttl: int | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@record
class Authentication:
    auth_type: Literal["PASS", "AH"]
    auth_pass: str = ""  # only the first 8 characters are used, as in keepalived


@record
class Vmac:
    """``use_vmac [NAME] [MAC]``."""

    name: str | None = None
    mac: str | None = None


@record
class Ipvlan:
    """``use_ipvlan [NAME] [ADDRESS[/LEN]] [bridge|private|vepa]``: an L2 ipvlan on the
    instance's interface carries the instance (its adverts, source address and VIPs)."""

    name: str | None = None  # None: keepalived's vrrp.VRID
    address: str | None = None
    prefix: int = 32
    family: Family = 4
    mode: Literal["bridge", "private", "vepa"] = "bridge"


@record
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
    bfd_master_down: str | None = None  # lvsfast's own: a bfd_instance whose Down is Master_Down
    dont_track_primary: bool = False
    nopreempt: bool = False
    preempt_delay: float = 0.0
    accept: bool | None = None  # None: accept unless strict mode
    strict_mode: bool | None = None  # None: global vrrp_strict
    skip_check_adv_addr: bool | None = None  # None: global vrrp_skip_check_adv_addr
    use_vmac: Vmac | None = None
    use_vmac_addr: bool = False
    vmac_xmit_base: bool = False
    use_ipvlan: Ipvlan | None = None
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


@record
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
