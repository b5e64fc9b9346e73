"""Nothing silent: warn for every keyword that keepalived 2.2.7 accepts and lvsfast ignores.

A pass of its own over the reader's statements, run by the load entry point after the builder,
so it needs nothing of the builder's: what a keyword does is :mod:`support_table`'s business,
where a keyword's children are read is this module's. Two kinds of complaint:

- ``KEYWORD is not supported by lvsfast; ignored`` for a ``not-supported`` keyword. keepalived
  accepts those, so the warning does not change ``lvsfast -t``'s verdict
  (:func:`counts_for_verdict`).
- ``unknown keyword 'KEYWORD'`` (``unknown option`` on an address, route, rule or peer line) for
  what keepalived 2.2.7 rejects in that place but the builder would take without effect. Those
  count, as keepalived's own complaint does.

A block that is not supported is reported once, at its line; its contents are not read.
"""
from __future__ import annotations


from lvsfast.config.diagnostics import Diagnostic, Diagnostics
from lvsfast.config.node import Node
from lvsfast.config.support_table import NOT_SUPPORTED, TABLE, UNKNOWN

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Callable, Iterable

NOT_SUPPORTED_SUFFIX = " is not supported by lvsfast; ignored"

_CHECKER_CHAINS: dict[str, tuple[str, ...]] = {
    "TCP_CHECK": ("checker",), "PING_CHECK": ("checker",), "ICMP_CHECK": ("checker",),
    "HTTP_GET": ("HTTP_GET", "checker"), "SSL_GET": ("HTTP_GET", "checker"),
    "SMTP_CHECK": ("SMTP_CHECK", "checker"), "DNS_CHECK": ("DNS_CHECK", "checker"),
    "MISC_CHECK": ("MISC_CHECK", "checker"), "UDP_CHECK": ("UDP_CHECK", "checker"),
    "FILE_CHECK": ("FILE_CHECK",), "BFD_CHECK": ("BFD_CHECK",),
}

# (block the keyword was found in, keyword) -> the tables its children's keywords are looked up
# in, first match wins. Blocks not listed here hold names or addresses, not keywords.
_INTO: dict[tuple[str, str], tuple[str, ...]] = {
    ("top", "global_defs"): ("global_defs",),
    ("top", "vrrp_instance"): ("vrrp_instance",),
    ("top", "vrrp_sync_group"): ("vrrp_sync_group",),
    ("top", "vrrp_script"): ("vrrp_script",),
    ("top", "vrrp_track_file"): ("vrrp_track_file",),
    ("top", "vrrp_track_process"): ("vrrp_track_process",),
    ("top", "SSL"): ("SSL",),
    ("top", "virtual_server"): ("virtual_server",),
    ("vrrp_instance", "authentication"): ("authentication",),
    ("virtual_server", "real_server"): ("real_server",),
    ("HTTP_GET", "url"): ("url",),
    ("SMTP_CHECK", "host"): ("host",),
    **{("real_server", k): chain for k, chain in _CHECKER_CHAINS.items()},
}

# (block, keyword) -> the options table of its lines, and how many leading words of a line are
# not options (an address or peer is the line's first word).
_OPTION_LINES: dict[tuple[str, str], tuple[str, int]] = {
    ("vrrp_instance", "virtual_ipaddress"): ("virtual_ipaddress", 1),
    ("vrrp_instance", "virtual_ipaddress_excluded"): ("virtual_ipaddress", 1),
    ("vrrp_instance", "virtual_routes"): ("virtual_routes", 0),
    ("vrrp_instance", "virtual_rules"): ("virtual_rules", 0),
    ("vrrp_instance", "unicast_peer"): ("unicast_peer", 1),
}

# Options whose next word is their value, never an option (``table local``, ``dev home``).
_TAKES_VALUE: dict[str, frozenset[str]] = {
    "virtual_ipaddress": frozenset({"dev", "brd", "broadcast", "scope", "label", "peer", "track_group",
                                    "preferred_lft"}),
    "virtual_routes": frozenset({
        "to", "via", "gw", "or", "src", "dev", "oif", "table", "scope", "metric", "priority", "preference",
        "track_group", "mtu", "advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "ssthresh", "realms",
        "rto_min", "initcwnd", "initrwnd", "features", "quickack", "congctl", "pref", "protocol", "proto",
        "expires", "fastopen_no_cookie", "ttl-propagate", "hoplimit", "tos", "dsfield", "weight", "encap", "as",
        "from", "mpls", "vrf"}),
    "virtual_rules": frozenset({
        "from", "to", "table", "lookup", "preference", "priority", "pref", "order", "iif", "dev", "oif",
        "fwmark", "goto", "realms", "tos", "dsfield", "suppress_prefixlength", "sup_pl", "suppress_ifgroup",
        "sup_group", "uidrange", "tunnel-id", "ipproto", "sport", "dport", "protocol", "track_group", "type"}),
    "unicast_peer": frozenset({"min_ttl", "max_ttl"}),
}
# A route type (blackhole, local...) is a route's first word; elsewhere such a word is a value.
_ROUTE_TYPES = frozenset({"blackhole", "unreachable", "prohibit", "throw", "local", "broadcast", "anycast",
                          "multicast", "nat", "unicast"})


# What to do with a keyword met in a chain of tables; keywords that need nothing are absent, so a
# large table's thousands of plain real_server lines cost one dict lookup each.
_WARN, _UNKNOWN, _INTO_BLOCK, _OPTIONS = range(4)


def _plan(chain: tuple[str, ...]) -> dict[str, tuple[int, object]]:
    plan: dict[str, tuple[int, object]] = {}
    for block in reversed(chain):  # the first table of the chain wins
        for kw, (status, _) in TABLE[block].items():
            if status == NOT_SUPPORTED:
                plan[kw] = (_WARN, kw + NOT_SUPPORTED_SUFFIX)
            elif status == UNKNOWN:
                plan[kw] = (_UNKNOWN, f"unknown keyword '{kw}'")
            elif (block, kw) in _INTO:
                plan[kw] = (_INTO_BLOCK, _INTO[(block, kw)])
            elif (block, kw) in _OPTION_LINES:
                plan[kw] = (_OPTIONS, _OPTION_LINES[(block, kw)])
            else:
                plan.pop(kw, None)
    return plan


_PLANS: dict[tuple[str, ...], dict[str, tuple[int, object]]] = {
    chain: _plan(chain) for chain in {("top",), *_INTO.values()}}


def counts_for_verdict(d: Diagnostic) -> bool:
    """False for a "not supported" warning (keepalived accepts the keyword) and for what ``lvs_backend
    auto`` cannot do on this kernel (keepalived does not look): ``-t``'s exit status stays keepalived's."""
    from lvsfast.config.environment import AUTO_NFTABLES_SUFFIX  # a fact about this host, not the file

    return not (d.severity == "warning" and d.message.endswith((NOT_SUPPORTED_SUFFIX, AUTO_NFTABLES_SUFFIX)))


def report(nodes: Iterable[Node], diags: Diagnostics) -> None:
    """Warn for each not-supported keyword (and each the builder would silently take where
    keepalived rejects it) in ``nodes``, the reader's top-level statements."""
    nodes = tuple(nodes)
    global_defs = TABLE["global_defs"]
    top = TABLE["top"]
    warn = diags.warning
    plans = _PLANS
    for n in nodes:
        # The builder takes a global_defs keyword at the top level without effect; keepalived
        # says it does not know it there.
        if n.keyword not in top and n.keyword in global_defs:
            warn(n.file, n.line, f"unknown keyword '{n.keyword}'")
    todo: list[tuple[tuple[Node, ...], tuple[str, ...]]] = [(nodes, ("top",))]
    while todo:
        children, chain = todo.pop()
        plan = plans[chain]
        for c in children:
            act = plan.get(c.keyword)
            if act is None:
                continue
            kind, what = act
            if kind == _WARN or kind == _UNKNOWN:
                warn(c.file, c.line, what)  # type: ignore[arg-type]
            elif c.children:
                if kind == _INTO_BLOCK:
                    todo.append((c.children, what))  # type: ignore[arg-type]
                else:
                    name, skip = what  # type: ignore[misc]
                    _options(c, name, skip, warn)


def _options(block: Node, name: str, skip: int, warn: Callable[[str, int, str], None]) -> None:
    table = TABLE[name]
    values = _TAKES_VALUE[name]
    for line in block.children or ():
        words = (line.keyword, *line.args)
        if words[0] == "ip" and name == "virtual_ipaddress":
            skip_here = 2  # keepalived also reads "ip ADDRESS options..."
        else:
            skip_here = skip
        i = skip_here
        while i < len(words):
            w = words[i]
            i += 1
            entry = table.get(w)
            if entry is None:
                continue
            if w in _ROUTE_TYPES and name == "virtual_routes" and i - 1 != 0:
                continue
            status = entry[0]
            if status == NOT_SUPPORTED:
                warn(line.file, line.line, w + NOT_SUPPORTED_SUFFIX)
            elif status == UNKNOWN:
                warn(line.file, line.line, f"unknown option '{w}' in {block.keyword}")
            if w in values:
                i += 1
