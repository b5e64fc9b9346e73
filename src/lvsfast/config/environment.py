"""What ``-t`` checks beyond the text, as keepalived does: interfaces that must exist (in the
current network namespace) and script security (who would run each script, and whether a
non-root user could replace it)."""
from __future__ import annotations

import grp
import os
import pwd
import stat

from lvsfast.config import model as m
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.frozen import record

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Callable, Iterable, Iterator

# keepalived's search path for scripts given without a directory.
SCRIPT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SCRIPT_USER = "keepalived_script"


@record
class EnvironmentResult:
    security_violation: bool = False


def interface_names() -> frozenset[str]:
    """The interfaces of the network namespace this process is in."""
    try:
        # _socket's own: socket.py builds its enums at import, 4 ms of ``lvsfast -t``.
        from _socket import if_nameindex

        return frozenset(name for _, name in if_nameindex())
    except OSError:
        try:
            return frozenset(os.listdir("/sys/class/net"))
        except OSError:
            return frozenset()


def routing_tables() -> frozenset[str]:
    """Routing table names iproute2 knows (rt_tables and rt_tables.d), as keepalived resolves them."""
    names = {"unspec", "default", "main", "local"}
    files = []
    for d in ("/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"):
        files.append(os.path.join(d, "rt_tables"))
        try:
            files += [os.path.join(d, "rt_tables.d", f) for f in os.listdir(os.path.join(d, "rt_tables.d"))
                      if f.endswith(".conf")]
        except OSError:
            pass
    for f in files:
        try:
            with open(f) as fh:
                for line in fh:
                    words = line.split("#", 1)[0].split()
                    if len(words) >= 2:
                        names.add(words[1])
        except OSError:
            continue
    return frozenset(names)


#: Ends each warning of :func:`_auto_backend`: a fact about this host, not about the file, so
#: ``-t``'s exit status stays keepalived's (which does not look at the kernel).
AUTO_NFTABLES_SUFFIX = " (lvs_backend auto takes nftables: this kernel has no IPVS)"


def kernel_has_ipvs() -> bool:
    """IPVS is loaded, or modprobe could load it."""
    if os.path.exists("/proc/net/ip_vs"):
        return True
    import shutil  # only without /proc/net/ip_vs: shutil brings bz2 and lzma into the checker
    import subprocess

    modprobe = shutil.which("modprobe") or ("/sbin/modprobe" if os.path.exists("/sbin/modprobe") else None)
    if modprobe is None:
        return False
    try:
        return subprocess.run([modprobe, "-n", "-q", "ip_vs"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def check_environment(cfg: m.Config, diags: Diagnostics, interfaces: Iterable[str] | None = None,
                      has_ipvs: Callable[[], bool] = kernel_has_ipvs) -> EnvironmentResult:
    names = frozenset(interfaces) if interfaces is not None else interface_names()
    _interfaces(cfg, diags, names)
    _tables(cfg, diags)
    _auto_backend(cfg, diags, has_ipvs)
    return EnvironmentResult(security_violation=_scripts(cfg, diags))


def _auto_backend(cfg: m.Config, diags: Diagnostics, has_ipvs: Callable[[], bool]) -> None:
    """With ``lvs_backend auto`` on a kernel without IPVS, what the nftables backend cannot do
    would otherwise pass ``-t`` and fail only at start, one data-plane error after another."""
    if cfg.global_defs.lvs_backend != "auto" or not cfg.virtual_servers:
        return
    from lvsfast.config.checks import nftables_limits

    found = Diagnostics()
    for vs in cfg.virtual_servers:
        nftables_limits(vs, found)
    if found.items and not has_ipvs():
        for d in found.items:
            diags.warning(d.file, d.line, d.message + AUTO_NFTABLES_SUFFIX)


def _interfaces(cfg: m.Config, diags: Diagnostics, names: frozenset[str]) -> None:
    def missing(name: str | None) -> bool:
        return bool(name) and name not in names

    for a in cfg.static_ipaddress:
        if missing(a.dev):
            diags.warning(a.file, a.line, f"interface {a.dev} for ip address {a.address} doesn't exist")
    for r in cfg.static_routes + tuple(x for vi in cfg.vrrp_instances for x in vi.virtual_routes):
        if r.request is not None and r.request.vrf and r.request.vrf not in names:
            diags.error(r.file, r.line, f"VRF {r.request.vrf} not found for route")
    for r in cfg.static_routes:
        if missing(r.dev):
            diags.warning(r.file, r.line, f"interface {r.dev} for route {r.destination} doesn't exist")
    for r in cfg.static_rules:
        for dev in (r.iif, r.oif):
            if missing(dev):
                diags.warning(r.file, r.line, f"interface {dev} for rule doesn't exist")
    for vi in cfg.vrrp_instances:
        if missing(vi.interface):
            diags.error(vi.file, vi.line_of("interface"),
                        f"interface {vi.interface} for vrrp_instance {vi.name} doesn't exist")
        for t in vi.track_interface:
            if missing(t.name):
                diags.warning(t.file, t.line, f"({vi.name}) tracked interface {t.name} doesn't exist")
        for a in vi.virtual_ipaddress + vi.virtual_ipaddress_excluded:
            if missing(a.dev):
                diags.warning(a.file, a.line, f"interface {a.dev} for ip address {a.address} doesn't exist")
        for r in vi.virtual_routes:
            if missing(r.dev):
                diags.warning(r.file, r.line, f"interface {r.dev} for route {r.destination} doesn't exist")
        for rl in vi.virtual_rules:
            for dev in (rl.iif, rl.oif):
                if missing(dev):
                    diags.warning(rl.file, rl.line, f"interface {dev} for rule doesn't exist")
        if missing(vi.lvs_sync_daemon_interface):
            diags.warning(vi.file, vi.line_of("lvs_sync_daemon_interface"),
                          f"lvs_sync_daemon_interface {vi.lvs_sync_daemon_interface} doesn't exist")
    for sg in cfg.vrrp_sync_groups:
        for t in sg.track_interface:
            if missing(t.name):
                diags.warning(t.file, t.line, f"({sg.name}) tracked interface {t.name} doesn't exist")
    sd = cfg.global_defs.lvs_sync_daemon
    if sd is not None and missing(sd.interface):
        diags.warning(sd.file, sd.line, f"lvs_sync_daemon interface {sd.interface} doesn't exist")


def _tables(cfg: m.Config, diags: Diagnostics) -> None:
    known: frozenset[str] | None = None
    items = [*cfg.static_routes, *cfg.static_rules]
    for vi in cfg.vrrp_instances:
        items += [*vi.virtual_routes, *vi.virtual_rules]
    for it in items:
        if it.table is None or it.table.isdigit():
            continue
        if known is None:
            known = routing_tables()
        if it.table not in known:
            what = "rule" if isinstance(it, m.VirtualRule) else "route"
            diags.warning(it.file, it.line, f"routing table {it.table} not found for {what} (not a number, "
                          "nor a name in iproute2's rt_tables)")


def _all_scripts(cfg: m.Config) -> Iterator[tuple[str, m.Script]]:
    tracked = {t.name for vi in cfg.vrrp_instances for t in vi.track_script}
    tracked |= {t.name for sg in cfg.vrrp_sync_groups for t in sg.track_script}
    for s in cfg.vrrp_scripts:
        if s.script is not None and s.name in tracked:
            yield "vrrp", s.script
    for owner in (*cfg.vrrp_instances, *cfg.vrrp_sync_groups):
        for f in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify", "notify_deleted",
                  "notify_master_rx_lower_pri"):
            s = getattr(owner, f, None)
            if s is not None and s.command:  # a bare notify_deleted has no script
                yield "vrrp", s
    for vs in cfg.virtual_servers:
        for s in (vs.quorum_up, vs.quorum_down):
            if s is not None:
                yield "check", s
        for rs in vs.real_servers:
            for s in (rs.notify_up, rs.notify_down):
                if s is not None:
                    yield "check", s
            for ck in rs.checkers:
                if isinstance(ck, m.MiscCheck) and ck.misc_path is not None:
                    yield "check", ck.misc_path


def _executable(command: str) -> str | None:
    import shlex  # only for a configured script (it imports re)

    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return None
    exe = words[0]
    if "/" in exe:
        return exe if os.path.isfile(exe) else None
    for d in SCRIPT_PATH.split(":"):
        p = os.path.join(d, exe)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def _uid(user: str) -> int | None:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _unsafe(path: str) -> str | None:
    """Why a root-run script is replaceable by a non-root user, or None when it is not."""
    p = os.path.realpath(path)
    while True:
        try:
            st = os.stat(p)
        except OSError:
            return None
        if st.st_uid != 0:
            return f"{p} is owned by uid {st.st_uid}"
        if st.st_mode & stat.S_IWOTH and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
            return f"{p} is writable by others"
        if st.st_mode & stat.S_IWGRP and st.st_gid != 0:
            return f"{p} is writable by group {st.st_gid}"
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


def _missing_track_scripts(cfg: m.Config, diags: Diagnostics) -> None:
    """A vrrp_script whose program is not there, tracked or not: keepalived disables it and -t
    fails (a missing notify script it only skips)."""
    for s in cfg.vrrp_scripts:
        if s.script is not None and _executable(s.script.command) is None:
            diags.warning(s.script.file or s.file, s.script.line or s.line,
                          f"Disabling track script {s.name} since not found/accessible")


def _scripts(cfg: m.Config, diags: Diagnostics) -> bool:
    _missing_track_scripts(cfg, diags)
    g = cfg.global_defs
    default_user = g.script_user or (DEFAULT_SCRIPT_USER if _uid(DEFAULT_SCRIPT_USER) is not None else None)
    violation = False
    reported = set()
    for kind, s in _all_scripts(cfg):
        exe = _executable(s.command)
        if exe is None:
            continue  # keepalived disables a script it cannot find, without failing the test
        user = s.user or default_user
        if user is not None and _uid(user) is None:
            diags.error(s.file, s.line, f"user {user} for script '{s.command}' does not exist - removing")
            continue
        if s.group is not None:
            try:
                grp.getgrnam(s.group)
            except KeyError:
                diags.error(s.file, s.line, f"group {s.group} for script '{s.command}' does not exist - removing")
                continue
        as_root = user is None or _uid(user) == 0
        if not g.enable_script_security:
            if as_root and kind not in reported:
                reported.add(kind)
                what = "check scripts" if kind == "check" else "scripts"
                diags.error(s.file, s.line, f"SECURITY VIOLATION - {what} are being executed but script_security "
                            "not enabled (enable_script_security in global_defs)")
                violation = True
            continue
        if user is None:
            diags.error(s.file, s.line, f"unable to set default user {DEFAULT_SCRIPT_USER} for script "
                        f"'{s.command}' - removing (set script_user in global_defs)")
            continue
        if as_root:
            why = _unsafe(exe)
            if why:
                diags.error(s.file, s.line, f"unsafe permissions for script '{s.command}' run as root: {why} - disabling")
                violation = True
    return violation
