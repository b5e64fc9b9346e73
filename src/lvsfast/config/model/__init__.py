"""The typed, immutable configuration model: what a keepalived.conf means.

Every class is a frozen, slotted :func:`lvsfast.frozen.record`: it behaves as a frozen, slotted
dataclass (``dataclasses.fields``/``replace`` work on it) without the dataclass machinery's cost
at import. Defaults equal keepalived 2.2.7's; where keepalived derives a default from another
setting (a checker's ``delay_before_retry``, ``warmup``...), the builder resolves it, so
consumers read final values. Every block keeps the ``file`` and ``line``
of its opening statement. Keywords that are accepted but not modelled field by field are kept,
in order, in ``extra`` as ``(keyword, args)`` pairs.

Equality and hashing ignore where a block was written (``file``, ``line``, ``keyword_lines``): two
loads of a file that only moved lines give equal objects, which is what reload diffs want.

Addresses are kept as normalised strings (``ipaddress`` compressed form) with their family
(4 or 6), which is what pyroute2 and the netlink encoders take. Times are seconds (float).

The classes live by domain (``common``, ``global_defs``, ``vrrp``, ``lvs``); this package is
their one import surface (``from lvsfast.config import model as m; m.VrrpInstance``).

Pickling: the daemon hands every reload's Config to its children; a record pickles as its class
and its field values and is rebuilt through its slot plan (no keyword binding, no __init__).
"""
from __future__ import annotations

from lvsfast.config.diagnostics import Diagnostic
from lvsfast.config.model.bfd import BfdInstance
from lvsfast.config.model.common import (DEFAULT_DRAIN_TIMEOUT, IPVS_SCHEDULERS, LB_KINDS, NFTABLES_SCHEDULERS,
                                         PROTOCOLS, SCHED_FLAG_NAMES, Extra, Family, KeywordLines, Located,
                                         Script)
from lvsfast.config.model.global_defs import GlobalDefs, LvsBackend, LvsSyncDaemon, LvsTimeouts, SslConfig
from lvsfast.config.model.lvs import (AnyChecker, BfdCheck, Checker, DnsCheck, FileCheck, ForwardingMethod,
                                      HttpCheck, MiscCheck, PingCheck, RealServer, SmtpCheck, SmtpHost,
                                      SorryServer, StatusRange, TcpCheck, UdpCheck, Url, VirtualServer,
                                      VirtualServerGroup, VsgEntry)
from lvsfast.config.model.vrrp import (Authentication, Ipvlan, StaticTrackGroup, Tracked, UnicastPeer, VirtualAddress,
                                       VirtualRoute, VirtualRule, Vmac, VrrpInstance, VrrpScript, VrrpSyncGroup,
                                       VrrpTrackFile, VrrpTrackProcess)
from lvsfast.frozen import field, record

__all__ = [
    "DEFAULT_DRAIN_TIMEOUT", "IPVS_SCHEDULERS", "LB_KINDS", "NFTABLES_SCHEDULERS", "PROTOCOLS", "SCHED_FLAG_NAMES",
    "AnyChecker", "Authentication", "BfdCheck", "BfdInstance", "Checker", "Config", "DnsCheck", "Extra", "Family", "FileCheck",
    "ForwardingMethod", "GlobalDefs", "HttpCheck", "Ipvlan", "KeywordLines", "Located", "LvsBackend", "LvsSyncDaemon",
    "LvsTimeouts", "MiscCheck", "PingCheck", "RealServer", "Script", "SmtpCheck", "SmtpHost",
    "SorryServer", "SslConfig", "StaticTrackGroup", "StatusRange", "TcpCheck", "Tracked", "UdpCheck", "UnicastPeer",
    "Url",
    "VirtualAddress", "VirtualRoute", "VirtualRule", "VirtualServer", "VirtualServerGroup", "Vmac",
    "VrrpInstance", "VrrpScript", "VrrpSyncGroup", "VrrpTrackFile", "VrrpTrackProcess", "VsgEntry",
]


@record
class Config:
    """A whole configuration; ``warnings`` are the non-fatal diagnostics found loading it."""

    path: str = ""
    config_id: str = ""
    global_defs: GlobalDefs = GlobalDefs()
    ssl: SslConfig | None = None
    static_ipaddress: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[VirtualRoute, ...] = ()
    static_rules: tuple[VirtualRule, ...] = ()
    track_groups: tuple[StaticTrackGroup, ...] = ()
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    vrrp_track_files: tuple[VrrpTrackFile, ...] = ()
    vrrp_track_processes: tuple[VrrpTrackProcess, ...] = ()
    vrrp_sync_groups: tuple[VrrpSyncGroup, ...] = ()
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    bfd_instances: tuple[BfdInstance, ...] = ()
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    extra: Extra = ()
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)
    # The files this model was read from (see Diagnostics.source_digest): a child that read the
    # same digest itself built the same model, and needs no copy of it.
    source_digest: str = field(default="", compare=False, repr=False)

    def instance(self, name: str) -> VrrpInstance | None:
        return next((i for i in self.vrrp_instances if i.name == name), None)

    def bfd(self, name: str) -> BfdInstance | None:
        return next((b for b in self.bfd_instances if b.name == name), None)

    def script(self, name: str) -> VrrpScript | None:
        return next((s for s in self.vrrp_scripts if s.name == name), None)

    def group(self, name: str) -> VirtualServerGroup | None:
        return next((g for g in self.virtual_server_groups if g.name == name), None)
