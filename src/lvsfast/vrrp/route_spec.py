"""Route and rule requests for the VRRP side: the preferences keepalived gives rules without
one, and the names the rest of :mod:`lvsfast.vrrp` used to find here.

The lines are read into requests once, by the configuration builder
(:mod:`lvsfast.config.route_lines`, records in :mod:`lvsfast.config.model.routes`); this only
re-exports them and encodes nothing itself (:mod:`lvsfast.vrrp.rtnl` does).
"""
from __future__ import annotations

from lvsfast.frozen import replace

from lvsfast.config.model import Config, VirtualRoute, VirtualRule
from lvsfast.config.model.routes import (RT_TABLE_MAIN, RTPROT_KEEPALIVED, RULE_START_PRIORITY, Nexthop,
                                         RouteRequest, RuleRequest)
from lvsfast.config.route_lines import route_request, rule_request, table_id

__all__ = ["RT_TABLE_MAIN", "RTPROT_KEEPALIVED", "RULE_START_PRIORITY", "Nexthop", "RouteRequest", "RuleRequest",
           "default_preferences", "describe", "request_of", "route_request", "rule_request", "table_id",
           "with_preference"]


def default_preferences(config: Config) -> dict[tuple[str, int], int]:
    """The preference keepalived gives each rule of ``config`` that has none, keyed by the rule's
    (file, line): 16384, 16383... per family, static and virtual rules together in the order they
    appear (files as the configuration includes them is approximated by the main file first, then
    the others by name). Unlike keepalived, a reload counts from 16384 again, so an unchanged
    configuration keeps its preferences and a reload does not churn its rules."""
    rules = list(config.static_rules) + [r for vi in config.vrrp_instances for r in vi.virtual_rules]
    rules.sort(key=lambda r: (r.file != config.path, r.file, r.line))
    out: dict[tuple[str, int], int] = {}
    nxt = {4: RULE_START_PRIORITY, 6: RULE_START_PRIORITY}
    for r in rules:
        if r.preference is None and not any(t in ("preference", "priority", "pref", "order") for t in r.options):
            out[(r.file, r.line)] = nxt[r.family]
            nxt[r.family] -= 1
    return out


def with_preference(r: VirtualRule, prefs: dict[tuple[str, int], int]) -> VirtualRule:
    pref = prefs.get((r.file, r.line))
    if pref is None:
        return r
    req = r.request
    if req is not None and req.priority is None:
        req = replace(req, priority=pref)
    return replace(r, preference=pref, request=req)


def request_of(r: VirtualRoute | VirtualRule) -> tuple[RouteRequest | RuleRequest, list[str]]:
    """The request the configuration builder read the line into (and nothing ignored: the
    builder warned at load); a record built without the builder is read here."""
    if r.request is not None:
        return r.request, []
    return route_request(r) if isinstance(r, VirtualRoute) else rule_request(r)


def describe(r: VirtualRoute | VirtualRule) -> str:
    return " ".join(r.options) if r.options else str(r)
