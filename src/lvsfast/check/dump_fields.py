"""keepalived 2.2.7's ``keepalived_check.data``, rendered from the checker's own state (sans-IO).

keepalived's checker process writes this file on SIGUSR1: its LVS topology (virtual server
groups, virtual servers with their real servers) and its queue of health checkers, each with
its verdict. lvsfast's checker child renders the same sections, in keepalived's order and line
layout, from its core: the config's values as keepalived resolves them, the checks' verdicts,
and the table the data plane was given (a real server is "set" when it is in it). The child
writes the file itself, at the path the parent derives as keepalived does
(``daemon/keepalived_dump.py``): a large table's text (about 850 bytes a real server) need not
cross the parent's channel. This module is imported only when the signal arrives.

Left as keepalived's "not in use" values, since lvsfast keeps no such state: ``reloaded``,
``previous effective_weight``, a MISC_CHECK's last run time and exit status, a connection's
last errno (keepalived records only unusual ones), HTTP_GET's failed url. keepalived's global
definitions section, which starts its file, is not written (as for keepalived.data).
"""
from __future__ import annotations

import grp
import os
import pwd
import shlex
from typing import Any, Callable

from lvsfast.check.reals import real_name
from lvsfast.config.model import (DnsCheck, FileCheck, HttpCheck, MiscCheck, PingCheck, SmtpCheck, TcpCheck,
                                  UdpCheck)
from lvsfast.dataplane.model import DestKey, canonical_address

# keepalived's IP_VS_VERSION_CODE (linux/ip_vs.h: 0x010201), printed in the topology header.
LVS_VERSION = "1.2.1"
IPVS_WEIGHT_LIMIT = 2**31 - 1  # keepalived clamps the effective weight to [0, INT32_MAX]
# Scheduler flag names -> keepalived's IP_VS_SVC_F_SCHED1..3 bit (sh/mh name the same bits).
_SCHED_BIT = {"flag-1": 1, "sh-fallback": 1, "mh-fallback": 1, "flag-2": 2, "sh-port": 2, "mh-port": 2,
              "flag-3": 3}
# keepalived's regex option names, in its table's order.
REGEX_OPTIONS = ("allow_empty_class alt_bsux auto_callout caseless dollar_endonly dotall dupnames extended "
                 "firstline match_unset_backref multiline never_ucp never_utf no_auto_capture no_auto_possess "
                 "no_dotstar_anchor no_start_optimize ucp ungreedy utf never_backslash_c alt_circumflex "
                 "alt_verbnames use_offset_limit").split()
_DEFAULT_DBR = {"HTTP_GET": 3.0, "SSL_GET": 3.0, "DNS_CHECK": 0.0}


def decimal(seconds: float) -> str:
    """keepalived's format_decimal(value, TIMER_HZ_DIGITS): ``5.000000``."""
    us = round(seconds * 1_000_000)
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def micro(seconds: float) -> int:
    return round(seconds * 1_000_000)


def onoff(flag: Any) -> str:
    return "ON" if flag else "OFF"


def yesno(flag: Any) -> str:
    return "yes" if flag else "no"


def host(address: str) -> str:
    return f"[{address}]"


def trio(address: str, proto: str, port: int | None) -> str:
    """keepalived's inet_sockaddrtotrio: ``[10.0.0.1]:tcp:80``."""
    return f"[{address}]:{proto}:{port or 0}"


def cmd_str(command: str) -> str:
    """A script as keepalived's cmd_str writes it: each word in single quotes, the program by
    its real path (keepalived resolves it when it checks the script's security)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if words and words[0].startswith("/"):
        words[0] = os.path.realpath(words[0])
    return " ".join(w if i == 0 and w[:1] in "<>" else f"'{w}'" for i, w in enumerate(words))


def uid_gid(script: Any, config: Any) -> str:
    """The user and group a script runs as, as numbers (keepalived's ``uid:gid``): its own, else
    script_user's, else keepalived's default user ``keepalived_script`` when it exists, else root."""
    g = config.global_defs
    user = script.user or g.script_user
    group = script.group if script.user else (script.group or g.script_group)
    uid = gid = 0
    try:
        entry = pwd.getpwnam(user or "keepalived_script")
        uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        pass
    try:
        if group:
            gid = grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    return f"{uid}:{gid}"


def service_type(vs: Any, groups: dict[str, Any]) -> str:
    """keepalived's protocol name for a virtual server: none for a firewall mark (its protocol
    is ignored), else tcp, udp or sctp."""
    if vs.fwmark is not None:
        return "none"
    if vs.group is not None:
        g = groups.get(vs.group)
        if g is not None and all(e.fwmark is not None for e in g.entries):
            return "none"
    return vs.protocol.lower()


def vs_name(vs: Any, proto: str) -> str:
    """keepalived's FMT_VS: ``[group]:0``, ``FWM 1`` or ``[10.0.0.1]:tcp:80``."""
    if vs.group is not None:
        return f"[{vs.group}]:0"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return trio(vs.address, proto, vs.port)


def forwarding(prefix: str, fwd: Any) -> str:
    """keepalived's dump_forwarding_method line (keepalived itself drops the prefix on its GUE
    and GRE lines; so does this)."""
    head = "forwarding method = "
    if fwd.kind != "TUN":
        return f"   {prefix}{head}{fwd.kind}"
    tun = (fwd.tun_type or "ipip").lower()
    if tun == "ipip":
        return f"   {prefix}{head}TUN, type = IPIP"
    csum = {"nocsum": ", no checksum", "csum": ", checksum", "remcsum": ", remote checksum"}.get(
        fwd.tun_csum or "nocsum", ", unknown checksum type")
    if tun == "gue":
        return f"   {head}TUN, type = GUE, port = {fwd.tun_port or 0}{csum}"
    return f"   {head}TUN, type = GRE{csum}"


def smtp_flag(own: bool | None, g: Any, default: bool) -> bool:
    if own is not None:
        return own
    for v in (g.smtp_alert_checker, g.smtp_alert):
        if v is not None:
            return bool(v)
    return default


class _Dumper:
    """One rendering: the core's config, verdicts and table, walked in keepalived's order."""

    def __init__(self, core: Any, runs: Callable[[Any], int]) -> None:
        self.core = core
        self.config = core.config
        self.runs = runs
        self.dests = core.table.pool.table().dests
        self.groups = {g.name: g for g in self.config.virtual_server_groups}
        self.lines: list[str] = []
        self.regex_refs: dict[tuple, int] = {}
        for vs in self.config.virtual_servers:
            for rs in vs.real_servers:
                for chk in rs.checkers:
                    for url in chk.urls if isinstance(chk, HttpCheck) else ():
                        if url.regex is not None:
                            key = (url.regex, frozenset(url.regex_options))
                            self.regex_refs[key] = self.regex_refs.get(key, 0) + 1

    def w(self, line: str) -> None:
        self.lines.append(line)

    def render(self) -> str:
        cfg = self.config
        if cfg.virtual_servers:
            self.w("------< LVS Topology >------")
            self.w(f" System is compiled with LVS v{LVS_VERSION}")
            for g in cfg.virtual_server_groups:
                self.group(g)
            for vs in cfg.virtual_servers:
                self.virtual_server(vs)
        checks = [(real, c) for vs in cfg.virtual_servers for real in self._reals(vs) for c in real.checks]
        if checks:
            self.w("------< Health checkers >------")
            for real, c in checks:
                self.checker(real, c)
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    def _reals(self, vs: Any) -> list[Any]:
        reals = self.core.reals
        out = []
        for rs in vs.real_servers:
            real = reals.get((vs.name, real_name(rs.address, rs.port)))
            if real is not None and real.rs is rs:
                out.append(real)
        return out

    # ---- LVS topology -----------------------------------------------------------------------

    def group(self, g: Any) -> None:
        users = [vs for vs in self.config.virtual_servers if vs.group == g.name]
        v4 = any(e.family == 4 for e in g.entries if e.address is not None)
        v6 = any(e.family == 6 for e in g.entries if e.address is not None)
        self.w(" ------< Virtual server group >------")
        self.w(f" Virtual Server Group = {g.name}, IPv4 = {yesno(v4)}, IPv6 = {yesno(v6)}")
        ordered = [e for e in g.entries if e.fwmark is None] + [e for e in g.entries if e.fwmark is not None]
        for e in ordered:
            if e.fwmark is not None:
                self.w(f"   FWMARK = {e.fwmark}")
                n4 = sum(1 for vs in users if vs.family == 4)
                self.w(f"     Alive: {n4} IPv4, {len(users) - n4} IPv6")
            else:
                where = f"VIP Range = {e.address}-{e.last}" if e.last and e.last != e.address else f"VIP = {e.address}"
                self.w(f"   {where}, VPORT = {e.port or 0}")
                count = {p: sum(1 for vs in users if vs.protocol == p) for p in ("TCP", "UDP", "SCTP")}
                self.w(f"     Alive: {count['TCP']} tcp, {count['UDP']} udp, {count['SCTP']} sctp")
            self.w("     reloaded = False")

    def virtual_server(self, vs: Any) -> None:
        g = self.config.global_defs
        proto = service_type(vs, self.groups)
        w = self.w
        w(" ------< Virtual server >------")
        if vs.group is not None:
            w(f" VS GROUP = {vs_name(vs, proto)}")
        elif vs.fwmark is not None:
            w(f" VS FWMARK = {vs.fwmark}")
        else:
            w(f" VS VIP = {vs.address}, VPORT = {vs.port or 0}")
        if vs.virtualhost:
            w(f"   VirtualHost = {vs.virtualhost}")
        w(f"   Address family = inet{'6' if vs.family == 6 else ''}")
        w(f"   connection timeout = {decimal(vs.connect_timeout if vs.connect_timeout is not None else 5.0)}")
        w(f"   delay_loop = {decimal(vs.delay_loop)}")
        w(f"   lvs_sched = {vs.lb_algo}")
        w("   Hashed = disabled")
        bits = {_SCHED_BIT[f] for f in vs.sched_flags if f in _SCHED_BIT}
        names = {"sh": ("sh-port", "sh-fallback"), "mh": ("mh-port", "mh-fallback")}.get(vs.lb_algo)
        if names is not None:
            w(f"   {names[0]} = {'en' if 2 in bits else 'dis'}abled")
            w(f"   {names[1]} = {'en' if 1 in bits else 'dis'}abled")
        else:
            for b in (1, 2, 3):
                w(f"   flag-{b} = {'en' if b in bits else 'dis'}abled")
        ops = vs.ops and (proto in ("udp", "none"))
        w(f"   One packet scheduling = {'en' if ops else 'dis'}abled"
          + (" (inactive due to not UDP)" if ops and proto != "udp" else ""))
        if vs.persistence_timeout:
            w(f"   persistence timeout = {vs.persistence_timeout}")
        if vs.persistence_granularity is not None:
            w(f"   persistence granularity = {vs.persistence_granularity}")
        w(f"   protocol = {proto.upper() if proto != 'none' else 'none'}")
        w(f"   alpha is {onoff(vs.alpha)}")
        w(f"   omega is {onoff(vs.omega)}")
        if vs.retry is not None:
            w(f"   Retry count = {vs.retry}")
        if vs.delay_before_retry is not None:
            w(f"   Retry delay = {decimal(vs.delay_before_retry)}")
        if vs.warmup is not None:
            w(f"   Warmup = {decimal(vs.warmup)}")
        w(f"   Inhibit on failure is {onoff(vs.inhibit_on_failure)}")
        w(f"   quorum = {vs.quorum}, hysteresis = {vs.hysteresis}")
        for label, script in (("up", vs.quorum_up), ("down", vs.quorum_down)):
            if script is not None:
                w(f"   Quorum {label} notify script = {cmd_str(script.command)}, uid:gid {uid_gid(script, self.config)}")
        if vs.ha_suspend:
            w("   Using HA suspend")
        w(f"   Using smtp notification = {yesno(smtp_flag(vs.smtp_alert, g, False))}")
        w(forwarding("default ", vs.forwarding))
        sorry = vs.sorry_server
        if sorry is not None:
            dup = any(rs.address == sorry.address and (rs.port or 0) == (sorry.port or vs.port or 0)
                      for rs in vs.real_servers)
            w(f"   sorry server {'(duplicates rs) ' if dup else ''}= {trio(sorry.address, proto, sorry.port or vs.port)}")
            w(forwarding("  ", sorry.forwarding or vs.forwarding))
            w(f"     Inhibit on failure is {onoff(sorry.inhibit)}")
        q = self.core.table.quorum.get(vs.name)
        w("   alive = 1")
        w(f"   quorum_state_up = {int(q.up) if q is not None and q.up is not None else 1}")
        w("   reloaded = 0")
        for real in self._reals(vs):
            self.real_server(vs, real)

    def _set(self, real: Any) -> bool:
        """In the table the data plane was given (keepalived's ``set``: added to IPVS)."""
        address = canonical_address(real.rs.address)
        return any(DestKey(address, real.rs.port or key.port) in self.dests.get(key, {}) for key in real.keys)

    def real_server(self, vs: Any, real: Any) -> None:
        rs, w = real.rs, self.w
        g = self.config.global_defs
        eff = self.effective_weight(real)
        w("   ------< Real server >------")
        w(f"   RIP = {rs.address}, RPORT = {rs.port or 0}, WEIGHT = {max(0, min(eff, IPVS_WEIGHT_LIMIT))} EFF WEIGHT = {eff}")
        w(forwarding("", rs.forwarding or vs.forwarding))
        w(f"   Alpha is {onoff(rs.alpha or vs.alpha)}")
        timeout = rs.connect_timeout if rs.connect_timeout is not None else vs.connect_timeout
        w(f"   connection timeout = {decimal(timeout if timeout is not None else 5.0)}")
        w(f"   connection limit range = {rs.lthreshold} -> {rs.uthreshold}")
        w(f"   Delay loop = {decimal(rs.delay_loop if rs.delay_loop is not None else vs.delay_loop)}")
        retry = rs.retry if rs.retry is not None else vs.retry
        if retry is not None:
            w(f"   Retry count = {retry}")
        dbr = rs.delay_before_retry if rs.delay_before_retry is not None else vs.delay_before_retry
        if dbr is not None:
            w(f"   Retry delay = {decimal(dbr)}")
        warmup = rs.warmup if rs.warmup is not None else vs.warmup
        if warmup is not None:
            w(f"   Warmup = {decimal(warmup)}")
        w(f"   Inhibit on failure is {onoff(rs.inhibit_on_failure or vs.inhibit_on_failure)}")
        for label, script in (("up", rs.notify_up), ("down", rs.notify_down)):
            if script is not None:
                w(f"     RS {label} notify script = {cmd_str(script.command)}, uid:gid {uid_gid(script, self.config)}")
        if rs.virtualhost:
            w(f"    VirtualHost = '{rs.virtualhost}'")
        w(f"   Using smtp notification = {yesno(smtp_flag(rs.smtp_alert, g, True))}")
        failed = sum(1 for c in real.checks if not c.state.up)
        w(f"   initial weight = {rs.weight}")
        w(f"   effective weight = {eff}")
        w("   previous effective_weight = 0")
        w(f"   alive = {int(real.up)}")
        w(f"   num failed checkers = {failed}")
        w(f"   RS set = {int(self._set(real))}")
        w("   reloaded = 0")

    @staticmethod
    def effective_weight(real: Any) -> int:
        """keepalived's effective weight: the configured one, or what a dynamic checker set."""
        dyn = next((c.dynamic_weight for c in real.checks if c.dynamic_weight is not None), None)
        return real.rs.weight if dyn is None else dyn

    # ---- health checkers --------------------------------------------------------------------

    def checker(self, real: Any, c: Any) -> None:
        chk, vs, rs, w = c.config, real.vs, real.rs, self.w
        proto = service_type(vs, self.groups)
        w(f" {vs_name(vs, proto)} -> {trio(rs.address, proto, rs.port)}")
        w(f"   Enabled = {yesno(not self.core.suspended(real))}")
        w(f"   Up = {yesno(c.state.up)}")
        w(f"   Has run = {yesno(self.runs(c) > 0)}")
        dyn = c.dynamic_weight
        w(f"   Current weight = {0 if dyn is None else dyn - rs.weight}")
        if not isinstance(chk, FileCheck):
            w(f"   Alpha = {yesno(chk.alpha or rs.alpha or vs.alpha)}")
            w(f"   Delay loop = {micro(chk.delay_loop)} us")
            w(f"   Warmup = {micro(chk.warmup if chk.warmup is not None else chk.delay_loop)} us")
            w(f"   Retries = {chk.retry}")
            if chk.retry:
                w(f"   Delay before retry = {micro(chk.delay_before_retry)} us")
                w(f"   Retries iterations = {c.state.failures}")
            w(f"   Default delay before retry = {micro(_DEFAULT_DBR.get(chk.kind, 1.0))} us")
        w(f"   Log all failures = {yesno(chk.log_all_failures)}")
        if not isinstance(chk, (MiscCheck, FileCheck)) and chk.kind != "BFD_CHECK":
            self.connection(chk, rs)
        self.method(chk)

    def connection(self, chk: Any, rs: Any) -> None:
        w = self.w
        w("   Connection")
        w(f"     Dest = {host(chk.connect_ip or rs.address)}:{chk.connect_port or rs.port or 0}")
        if chk.bindto:
            w(f"     Bind to = {host(chk.bindto)}:{chk.bind_port or 0}")
        if chk.bind_if:
            w(f"     Bind i/f = {chk.bind_if}")
        if chk.fwmark:
            w(f"     Mark = {chk.fwmark}")
        w(f"     Timeout = {chk.connect_timeout:.6f}")

    def method(self, chk: Any) -> None:
        w = self.w
        if isinstance(chk, TcpCheck):
            w("   Keepalive method = TCP_CHECK")
        elif isinstance(chk, HttpCheck):
            self.http(chk)
        elif isinstance(chk, MiscCheck):
            script = chk.misc_path
            w("   Keepalive method = MISC_CHECK")
            w(f"   script = {cmd_str(script.command) if script else ''}")
            w(f"   timeout = {int(chk.misc_timeout if chk.misc_timeout is not None else chk.delay_loop)}")
            w(f"   dynamic = {'YES' if chk.misc_dynamic else 'NO'}")
            w(f"   uid:gid = {uid_gid(script, self.config) if script else '0:0'}")
            w("   Last ran = 0.000000 (Thu Jan  1 00:00:00 1970.000000)")
            w("   Last status = 0")
        elif isinstance(chk, SmtpCheck):
            w("   Keepalive method = SMTP_CHECK")
            w(f"   helo = {chk.helo_name or os.uname().nodename}")
        elif isinstance(chk, DnsCheck):
            w("   Keepalive method = DNS_CHECK")
            w(f"   Type = {chk.type}")
            w(f"   Name = {chk.name}")
        elif isinstance(chk, UdpCheck):
            w("   Keepalive method = UDP_CHECK")
            w(f"   Payload len = {len(chk.payload)}" if chk.payload else "   Payload specified = no")
            w(f"   Require reply = {yesno(chk.reply_required)}")
            if chk.reply_required:
                w(f"     Min reply length = {chk.min_reply_length}")
                w(f"     Max reply length = {chk.max_reply_length}")
                w(f"     Reply data len = {len(chk.require_reply or b'')}")
                if chk.require_reply:
                    w(f"     Reply data mask = {yesno(chk.require_reply_mask is not None)}")
        elif isinstance(chk, PingCheck):
            w("   Keepalive method = PING_CHECK")
        elif isinstance(chk, FileCheck):
            w("   Keepalive method = FILE_CHECK")
            w(f"     Tracked file = {chk.track_file}")
            w("     Reloaded = No")

    def http(self, chk: HttpCheck) -> None:
        w = self.w
        w(f"   Keepalive method = {'SSL' if chk.kind == 'SSL_GET' else 'HTTP'}_GET, http protocol {chk.http_protocol}")
        if chk.virtualhost:
            w(f"   Virtualhost = {chk.virtualhost}")
        w(f"   Enable SNI {'' if chk.enable_sni else 'un'}set")
        w(f"   Fast recovery {'' if chk.fast_recovery else 'un'}set")
        for url in chk.urls:
            w(f"   Checked url = {url.path}")
            if url.digest:
                w(f"     digest = {url.digest.lower()}")
            w("     HTTP Status Code(s)")
            for r in _merged(url.status_code):
                w(f"       {r[0]}" if r[0] == r[1] else f"       {r[0]}-{r[1]}")
            if url.virtualhost:
                w(f"     Virtual host = {url.virtualhost}")
            if url.regex is not None:
                w(f"     Regex = \"{url.regex}\"")
                if url.regex_no_match:
                    w("     Regex no match")
                lo, hi = url.regex_min_offset or 0, url.regex_max_offset
                if hi is not None:
                    w(f"     Regex min offset = {lo}, max_offset = {hi}")
                elif lo:
                    w(f"     Regex min offset = {lo}")
                # keepalived 2.2.7 lists every option name once any option is set (its loop
                # tests the table's bits, not the url's); an exporter reading the file sees that.
                w("     Regex options:" + ("".join(f" {o}" for o in REGEX_OPTIONS) if url.regex_options else ""))
                w(f"     Regex ref count = {self.regex_refs.get((url.regex, frozenset(url.regex_options)), 1)}")
                if url.regex_stack is not None:
                    w(f"     Regex stack start {url.regex_stack[0]}, max {url.regex_stack[1]}")


def _merged(ranges: Any) -> list[tuple[int, int]]:
    """Status code ranges as keepalived prints its bitmap: sorted, adjacent ones joined."""
    out: list[list[int]] = []
    for lo, hi in sorted((r.low, r.high) for r in ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def render_check_data(core: Any, runs: Callable[[Any], int]) -> str:
    """keepalived_check.data's text for the checker ``core`` (a CheckerCore); ``runs(check)``:
    how many times a check ran (the prober counts its own)."""
    if core.config is None:
        return ""
    return _Dumper(core, runs).render()


def write_check_data(path: str, core: Any, runs: Callable[[Any], int]) -> str:
    """Render and write keepalived_check.data at ``path``, owner-only (keepalived's umask 0177:
    it names the servers and their state), replaced whole; returns ``path``."""
    text = render_check_data(core, runs)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
