"""Which child event becomes which mail, as keepalived 2.2.7 words and gates its SMTP alerts.

Sans-IO: :class:`AlertPolicy` takes the relayed child events (``vrrp_state``, ``real_server``,
``quorum``) and returns :class:`Alert` values; :func:`render` turns one into the message text
keepalived sends after DATA. The parent's mailer (:mod:`lvsfast.daemon.smtp`) delivers them.
Only imported when the configuration names a mail server and recipients.

The switches resolve as keepalived's: an instance's or sync group's ``smtp_alert``, else the
global ``smtp_alert_vrrp``, else the global ``smtp_alert``, else off; a virtual or real server's
``smtp_alert``, else ``smtp_alert_checker``, else ``smtp_alert``, else off for a virtual server
and on for a real server (keepalived keeps that default for backward compatibility).
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

# keepalived's subject and body per VRRP state, for an instance and for a sync group.
_INSTANCE = {
    "MASTER": ("Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
    "BACKUP": ("Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "FAULT": ("Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "STOP": ("Stopping", "=> VRRP Instance stopping <="),
    "DELETED": ("Deleted", "=> VRRP Deleted at reload <="),
}
_GROUP = {
    "MASTER": ("Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="),
    "BACKUP": ("Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="),
    "FAULT": ("Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="),
    "STOP": ("Stopping", "=> All VRRP group instances are now stopping <="),
}
# keepalived's per-checker body for a real server's change: (up, down).
_CHECKER_BODY = {
    "TCP_CHECK": ("=> TCP CHECK succeed on service <=", "=> TCP CHECK failed on service <="),
    "HTTP_GET": ("=> CHECK succeed on service <=", "=> CHECK failed on service : HTTP request failed <="),
    "SSL_GET": ("=> CHECK succeed on service <=", "=> CHECK failed on service : HTTP request failed <="),
    "SMTP_CHECK": ("=> CHECK succeed on service <=", "=> CHECK failed on service <="),
    "DNS_CHECK": ("=> DNS_CHECK: succeed on service <=", "=> DNS_CHECK: failed on service <="),
    "PING_CHECK": ("=> ICMP CHECK succeed on service <=", "=> ICMP CHECK failed on service <="),
    "UDP_CHECK": ("=> UDP CHECK succeed on service <=", "=> UDP CHECK failed on service <="),
    "MISC_CHECK": ("=> MISC CHECK succeeded on service <=", "=> MISC CHECK failed on service <="),
}


@dataclass(frozen=True, slots=True)
class Alert:
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class MailSettings:
    """Where and as whom the mail goes, with keepalived's defaults filled in."""

    server: str
    port: int
    helo: str
    sender: str
    recipients: tuple[str, ...]
    timeout: float


def wanted(config: Any) -> bool:
    """keepalived sends nothing without both recipients and a server."""
    g = config.global_defs
    return bool(g.notification_email and g.smtp_server)


def local_name() -> str:
    """keepalived's local name: the node name's canonical DNS name, else the node name."""
    node = socket.gethostname()
    try:
        info = socket.getaddrinfo(node, None, flags=socket.AI_CANONNAME)
        return info[0][3] or node
    except OSError:
        return node


def _pick(*values: bool | None, default: bool) -> bool:
    return next((v for v in values if v is not None), default)


def _trio(address: str | None, protocol: str, port: int | None) -> str:
    return f"[{address}]:{protocol.lower()}:{port or 0}"


def _vs_label(vs: Any) -> str:
    if vs.group is not None:
        return f"[{vs.group}]:{vs.port or 0}"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return _trio(vs.address, vs.protocol, vs.port)


def _real_key(address: str, port: int | None) -> str:
    # The checker child's real server name (check/_reals_py.py's real_name).
    return f"[{address}]:{port or 0}" if ":" in address else f"{address}:{port or 0}"


class AlertPolicy:
    """Decides the mails for one configuration; keeps keepalived's "last mailed state" per instance."""

    def __init__(self, config: Any, host_name: str | None = None) -> None:
        g = config.global_defs
        name = host_name if host_name is not None else (
            local_name() if not (g.router_id and g.smtp_helo_name and g.notification_email_from) else "")
        self.host_name = name  # kept for the next reload: the name lookup may be slow
        self.router_id = g.router_id or name
        self.settings = MailSettings(
            server=g.smtp_server or "", port=g.smtp_server_port, helo=g.smtp_helo_name or name or "localhost",
            sender=g.notification_email_from or f"root@{name}", recipients=tuple(g.notification_email),
            timeout=float(g.smtp_connect_timeout or 30))
        self.no_email_faults = bool(g.no_email_faults)
        vrrp_default = _pick(g.smtp_alert_vrrp, g.smtp_alert, default=False)
        self.instances = {i.name: _pick(i.smtp_alert, default=vrrp_default) for i in config.vrrp_instances}
        self.groups = {s.name: _pick(s.smtp_alert, default=vrrp_default) for s in config.vrrp_sync_groups}
        self._config = config
        self._reals: dict[tuple[str, str], tuple[str, str, bool, tuple[str, ...]]] | None = None
        self._virtuals: dict[str, tuple[str, bool, int, int]] | None = None
        self.last_mailed: dict[tuple[str, str], str] = {}

    def carry(self, old: "AlertPolicy") -> None:
        """After a reload: an instance already mailed about keeps its last mailed state."""
        self.last_mailed.update(old.last_mailed)

    def _index(self) -> None:
        # Built at the first checker event only: a VRRP-only parent never walks the servers.
        g = self._config.global_defs
        checker_default = _pick(g.smtp_alert_checker, g.smtp_alert, default=False)
        real_default = _pick(g.smtp_alert_checker, g.smtp_alert, default=True)
        self._reals, self._virtuals = {}, {}
        for vs in self._config.virtual_servers:
            label = _vs_label(vs)
            self._virtuals[vs.name] = (label, _pick(vs.smtp_alert, default=checker_default), vs.quorum, vs.hysteresis)
            for rs in vs.real_servers:
                kinds = tuple(c.kind for c in rs.checkers)
                self._reals[(vs.name, _real_key(rs.address, rs.port))] = (
                    _trio(rs.address, vs.protocol, rs.port), label,
                    _pick(rs.smtp_alert, default=real_default), kinds)

    def decide(self, event: dict[str, Any]) -> Alert | None:
        kind = event.get("event")
        if kind == "vrrp_state":
            return self._vrrp("instance", event.get("instance", ""), str(event.get("state", "")))
        if kind == "vrrp_group":
            return self._vrrp("group", event.get("group", ""), str(event.get("state", "")))
        if kind == "real_server":
            return self._real(event)
        if kind == "quorum":
            return self._quorum(event)
        return None

    def _vrrp(self, what: str, name: str, state: str) -> Alert | None:
        on = (self.instances if what == "instance" else self.groups).get(name, False)
        texts = (_INSTANCE if what == "instance" else _GROUP).get(state)
        if not on or texts is None or (self.no_email_faults and state == "FAULT"):
            return None
        if self.last_mailed.get((what, name)) == state:
            return None
        self.last_mailed[(what, name)] = state
        label = "VRRP Instance" if what == "instance" else "VRRP Group"
        return Alert(f"[{self.router_id}] {label} {name} - {texts[0]}", texts[1])

    def _real(self, event: dict[str, Any]) -> Alert | None:
        if self._reals is None:
            self._index()
        found = self._reals.get((event.get("virtual", ""), event.get("real", "")))
        if found is None or not found[2]:
            return None
        real, vs, _, kinds = found
        up = bool(event.get("up"))
        kind = event.get("checker") or (kinds[0] if kinds else "TCP_CHECK")
        bodies = _CHECKER_BODY.get(kind, ("=> CHECK succeed on service <=", "=> CHECK failed on service <="))
        return Alert(f"[{self.router_id}] Realserver {real} of virtual server {vs} - {'UP' if up else 'DOWN'}",
                     bodies[0] if up else bodies[1])

    def _quorum(self, event: dict[str, Any]) -> Alert | None:
        if self._virtuals is None:
            self._index()
        found = self._virtuals.get(event.get("virtual", ""))
        if found is None or not found[1]:
            return None
        label, _, quorum, hysteresis = found
        up = bool(event.get("up"))
        # keepalived's words, its "+" even when the threshold is quorum - hysteresis (a loss).
        threshold = quorum + hysteresis if up else quorum - hysteresis
        return Alert(f"[{self.router_id}] Virtualserver {label} - {'UP' if up else 'DOWN'}",
                     f"=> {'Gained' if up else 'Lost'} quorum {quorum}+{hysteresis}={threshold} <= "
                     f"{int(event.get('weight', 0))} <=")


def render(alert: Alert, settings: MailSettings, date: str) -> str:
    """The message after DATA, keepalived's headers in keepalived's order, CRLF line ends."""
    return (f"Date: {date}\r\nFrom: {settings.sender}\r\nSubject: {alert.subject}\r\n"
            f"X-Mailer: Keepalived\r\nTo: {', '.join(settings.recipients)}\r\n\r\n{alert.body}\r\n")
