"""global_defs: the keywords of the global block, and those keepalived also takes at the top level."""
from __future__ import annotations


from lvsfast.config import model as m
from lvsfast.config.blocks.builder import (BOOL, FLOAT, INT, LOOSE, SCRIPT, STR, WORDS, Builder, Handler,
                                          one)
from lvsfast.config.node import Node
from lvsfast.config.values import Bad, MissingValue, parse_int, parse_ip, parse_port

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any

_GLOBAL_LOOSE = """
process_names vrrp_process_name checker_process_name lvs_process_name bfd_process_name process_name
min_auto_priority_delay
vrrp_ipsets nftables_priority nftables_ifindex nftables_ipvs nftables_ipvs_priority nftables_ipvs_start_fwmark
nftables_counters vrrp_priority vrrp_no_swap vrrp_rt_priority vrrp_cpu_affinity vrrp_rlimit_rttime vrrp_rlimit_rtime
vrrp_sched_slice checker_priority checker_no_swap checker_rt_priority checker_cpu_affinity checker_rlimit_rttime checker_rlimit_rtime
bfd_priority bfd_no_swap bfd_rt_priority bfd_cpu_affinity bfd_rlimit_rttime bfd_rlimit_rtime snmp_socket enable_traps
enable_snmp_vrrp enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2 enable_snmp_rfcv3 enable_snmp_checker
enable_dbus dbus_service_name vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs
vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs process_monitor_rcv_bufs_force lvs_netlink_cmd_rcv_bufs
lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs lvs_netlink_monitor_rcv_bufs_force rs_init_notifies
no_checker_emails vrrp_rx_bufs_policy vrrp_rx_bufs_multiplier vmac_prefix vmac_addr_prefix random_seed
reload_check_config reload_time_file reload_repeat reload_file include_check config_save_dir tmp_config_directory
data_use_instance log_unknown_vrids umask disable_local_igmp fifo_write_vrrp_states_on_reload linkbeat_use_polling
net_namespace use_pid_dir net_namespace_ipvs namespace_with_ipsets child_wait_time instance vrrp_garp_lower_prio_interval
""".split()

#: global keywords keepalived also accepts at the top level, kept in ``Config.extra`` (IDENTITY ones are read first).
TOP_LOOSE = {"linkbeat_use_polling", "net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "use_pid_dir", "instance",
              "child_wait_time", "linkbeat_interfaces", "track_group", "garp_group",
              "interface_up_down_delays"}


def _handlers() -> dict[str, Handler]:
    h: dict[str, Handler] = {
        "router_id": STR("router_id"),
        "notification_email_from": STR("notification_email_from"),
        "smtp_helo_name": STR("smtp_helo_name"),
        "smtp_connect_timeout": INT("smtp_connect_timeout", 0, 4294),
        "smtp_alert": BOOL("smtp_alert"),
        "smtp_alert_vrrp": BOOL("smtp_alert_vrrp"),
        "smtp_alert_checker": BOOL("smtp_alert_checker"),
        "no_email_faults": BOOL("no_email_faults"),
        "enable_script_security": BOOL("enable_script_security"),
        "default_interface": STR("default_interface"),
        "dynamic_interfaces": BOOL("dynamic_interfaces"),
        "vrrp_garp_master_delay": FLOAT("vrrp_garp_master_delay", 0, 86400),
        "vrrp_garp_master_repeat": INT("vrrp_garp_master_repeat", 0, 2**31 - 1),
        "vrrp_garp_master_refresh": FLOAT("vrrp_garp_master_refresh", 0, 86400),
        "vrrp_garp_master_refresh_repeat": INT("vrrp_garp_master_refresh_repeat", 0, 2**31 - 1),
        "vrrp_garp_lower_prio_delay": FLOAT("vrrp_garp_lower_prio_delay", 0, 86400),
        "vrrp_garp_lower_prio_repeat": INT("vrrp_garp_lower_prio_repeat", 0, 2**31 - 1),
        "vrrp_garp_interval": FLOAT("vrrp_garp_interval", 0.000001, 4294.967295),
        "vrrp_gna_interval": FLOAT("vrrp_gna_interval", 0.000001, 4294.967295),
        "vrrp_min_garp": BOOL("vrrp_min_garp"),
        "vrrp_garp_extra_if": WORDS("vrrp_garp_extra_if"),
        "vrrp_down_timer_adverts": INT("vrrp_down_timer_adverts", 1, 100),
        "vrrp_lower_prio_no_advert": BOOL("vrrp_lower_prio_no_advert"),
        "vrrp_higher_prio_send_advert": BOOL("vrrp_higher_prio_send_advert"),
        "vrrp_version": INT("vrrp_version", 2, 3),
        "vrrp_check_unicast_src": BOOL("vrrp_check_unicast_src"),
        "vrrp_skip_check_adv_addr": BOOL("vrrp_skip_check_adv_addr"),
        "vrrp_strict": BOOL("vrrp_strict"),
        "vrrp_iptables": WORDS("vrrp_iptables"),
        "vrrp_startup_delay": FLOAT("vrrp_startup_delay", 0, 86400),
        "vrrp_notify_priority_changes": BOOL("vrrp_notify_priority_changes"),
        "lvs_flush": BOOL("lvs_flush"),
        "checker_log_all_failures": BOOL("checker_log_all_failures"),
        "max_auto_priority": INT("max_auto_priority", -1, 99),
        "lvs_backend": _lvs_backend,
        "drift_repair": BOOL("drift_repair"),
        "checker_probers": _checker_probers,
        "announce_interface": STR("announce_interface"),
        "announce_withdraw_delay": FLOAT("announce_withdraw_delay", 0, 60),
        "announce_track_interface": WORDS("announce_track_interface"),
        "announce_track_script": WORDS("announce_track_script"),
        "v3_checksum_as_v2": BOOL("v3_checksum_as_v2"),
        "notification_email": _notification_email,
        "smtp_server": _smtp_server,
        "script_user": _script_user,
        "vrrp_mcast_group4": _mcast(4),
        "vrrp_mcast_group6": _mcast(6),
        "nftables": lambda b, n, acc: acc.__setitem__("nftables", n.args[0] if n.args else "keepalived"),
        "lvs_sync_daemon": _lvs_sync_daemon,
        "lvs_timeouts": _lvs_timeouts,
        "lvs_flush_on_stop": lambda b, n, acc: acc.__setitem__("lvs_flush_on_stop", n.args[0] if n.args else "VS"),
        "lvs_flush_onstop": lambda b, n, acc: acc.__setitem__("lvs_flush_on_stop", n.args[0] if n.args else "VS"),
    }
    for k in ("vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script",
              "notify_fifo", "notify_fifo_script", "startup_script", "shutdown_script"):
        h[k] = SCRIPT(k)
    h["startup_script_timeout"] = _start_stop_timeout("startup_script_timeout")
    h["shutdown_script_timeout"] = _start_stop_timeout("shutdown_script_timeout")
    for k in _GLOBAL_LOOSE:
        h.setdefault(k, LOOSE)
    return h


def _start_stop_timeout(name: str) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        v = n.args[0] if n.args else ""
        if not v.isdigit() or not 1 <= int(v) <= 1000:
            # keepalived warns and keeps its default.
            b.diags.warning(n.file, n.line, f"{name} '{v}' must be in [1, 1000] - ignoring")
            return
        acc[name] = float(v)
    return h


def _lvs_backend(b: Builder, n: Node, acc: dict) -> None:
    v = one(n)
    if v not in ("ipvs", "nftables", "auto"):
        raise Bad(f"lvs_backend '{v}' is not one of ipvs|nftables|auto")
    acc["lvs_backend"] = v


def _checker_probers(b: Builder, n: Node, acc: dict) -> None:
    v = one(n)
    # 0 stands for auto: one prober per CPU the checker may run on (resolved when it starts).
    acc["checker_probers"] = 0 if v == "auto" else parse_int(v, 1, 64)


def _notification_email(b: Builder, n: Node, acc: dict) -> None:
    items = list(n.args)
    for c in n.children or ():
        items.append(c.keyword)
        items.extend(c.args)
    if not items:
        b.diags.warning(n.file, n.line, "empty notification_email block")
    acc["notification_email"] = tuple(items)


def _smtp_server(b: Builder, n: Node, acc: dict) -> None:
    try:
        acc["smtp_server"] = parse_ip(one(n))[0]
    except MissingValue:
        raise
    except Bad:
        name = one(n)
        if not _hostname(name) or not name.strip("0123456789."):
            raise Bad(f"invalid smtp server {name}: neither an address nor a host name") from None
        acc["smtp_server"] = name  # a host name, resolved when mail is sent
    if len(n.args) > 1:
        acc["smtp_server_port"] = parse_port(n.args[1])


def _hostname(name: str) -> bool:
    import re  # only for a host name as smtp_server: -t's path need not load it

    return re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?", name) is not None


def _script_user(b: Builder, n: Node, acc: dict) -> None:
    acc["script_user"] = one(n)
    if len(n.args) > 1:
        acc["script_group"] = n.args[1]


def _mcast(fam: int) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        import ipaddress  # a configured multicast group only

        a, f = parse_ip(one(n))
        if f != fam or not ipaddress.ip_address(a).is_multicast:
            raise Bad(f"'{a}' is not an IPv{fam} multicast address")
        acc[n.keyword] = a
    return h


_SYNC_OPTIONS = frozenset(("id", "maxlen", "port", "ttl", "group", "role"))


def _lvs_sync_daemon(b: Builder, n: Node, acc: dict) -> None:
    if len(n.args) < 2:
        raise Bad("lvs_sync_daemon needs an interface and a VRRP instance")
    # lvsfast's `role both` needs no instance: `lvs_sync_daemon eth0 role both id 27`.
    no_instance = n.args[1] in _SYNC_OPTIONS and len(n.args) % 2 == 1
    instance = None if no_instance else n.args[1]
    kw: dict[str, Any] = {}
    rest = list(n.args[1 if no_instance else 2:])
    while rest:
        k = rest.pop(0)
        if not rest:
            raise Bad(f"lvs_sync_daemon option '{k}' needs a value")
        v = rest.pop(0)
        if k == "id":
            kw["sync_id"] = parse_int(v, 0, 255)
        elif k == "maxlen":
            kw["maxlen"] = parse_int(v, 1, 65535 - 20 - 8)
        elif k == "port":
            kw["port"] = parse_port(v)
        elif k == "ttl":
            kw["ttl"] = parse_int(v, 1, 255)
        elif k == "group":
            kw["group"] = parse_ip(v)[0]
        elif k == "role":
            if v not in ("vrrp", "both"):
                raise Bad(f"lvs_sync_daemon role '{v}': expected vrrp (keepalived's: follow the instance) "
                          "or both (master and backup threads together)")
            kw["role"] = v
        else:
            raise Bad(f"unknown lvs_sync_daemon option '{k}'")
    if instance is None and kw.get("role") != "both":
        raise Bad("lvs_sync_daemon needs a VRRP instance (only 'role both' runs without one)")
    acc["lvs_sync_daemon"] = m.LvsSyncDaemon(n.args[0], instance, file=n.file, line=n.line, **kw)


def _lvs_timeouts(b: Builder, n: Node, acc: dict) -> None:
    kw: dict[str, int] = {}
    rest = list(n.args)
    if not rest:
        raise Bad("lvs_timeouts needs tcp, tcpfin or udp values")
    while rest:
        k = rest.pop(0)
        if k not in ("tcp", "tcpfin", "udp") or not rest:
            raise Bad(f"invalid lvs_timeouts option '{k}'")
        kw[k] = parse_int(rest.pop(0), 0, 86400 * 31)
    acc["lvs_timeouts"] = m.LvsTimeouts(**kw)


GLOBAL: dict[str, Handler] = _handlers()

#: keepalived 2.2.7 reads these at the top level only (inside global_defs they are unknown).
IDENTITY = ("net_namespace", "instance", "use_pid_dir")


def identity(b: Builder, n: Node, acc: dict) -> None:
    """A top-level net_namespace, instance or use_pid_dir, with keepalived's complaints: a name
    missing or given twice is ignored (the first stays), further words are ignored."""
    kw = n.keyword
    if kw == "use_pid_dir":
        acc[kw] = True
        return
    if not n.args:
        b.diags.warning(n.file, n.line, f"{kw} name missing - ignoring")
        return
    if kw in acc:
        b.diags.warning(n.file, n.line, f"Duplicate {kw} definition {n.args[0]} - ignoring")
        return
    acc[kw] = n.args[0]
