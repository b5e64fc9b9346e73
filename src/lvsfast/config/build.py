"""From the statement tree to the model, with keepalived's range and semantic checks.

Each block has a table of keyword handlers. A handler validates its arguments and stores a
value in the block's accumulator; a bad value is an error at its line and the default stays,
as keepalived keeps going. Keywords keepalived accepts but lvsfast does not model field by
field are kept in ``extra``; a keyword nobody knows is a warning naming it.

This module walks the top level and hands each block to its domain in :mod:`lvsfast.config.blocks`.
"""
from __future__ import annotations

# MISSING, dc_fields, plan_of and parse_ip are what tests/config/test_config_real_servers.py
# reaches through this module to make a RealServerMaker the way Builder.real_servers does.

from lvsfast.config import model as m
from lvsfast.config.blocks.addresses import address_list, route_list, rule_list
from lvsfast.config.blocks.bfd import bfd_instance
from lvsfast.config.blocks.builder import BLOCK_KEYWORDS, Builder, make
from lvsfast.config.blocks.checkers import SSL
from lvsfast.config.blocks.global_defs import GLOBAL, IDENTITY, TOP_LOOSE, identity
from lvsfast.config.blocks.lvs import virtual_server, virtual_server_group
from lvsfast.config.blocks.tracking import TRACK_FILE, TRACK_PROCESS
from lvsfast.config.blocks.vrrp import INSTANCE, SYNC_GROUP, vrrp_script
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.node import Node
from lvsfast.config.values import parse_ip  # noqa: F401
from lvsfast.frozen import MISSING, plan_of  # noqa: F401
from lvsfast.frozen import fields as dc_fields

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Iterable

__all__ = ["Builder", "build"]

_NAMED = frozenset({"vrrp_script", "vrrp_track_file", "vrrp_track_process", "vrrp_sync_group", "vrrp_instance",
                    "virtual_server_group", "bfd_instance"})
_STATIC = {"static_ipaddress": address_list, "static_routes": route_list, "static_rules": rule_list}


#: Named blocks whose missing name keepalived reports as a missing parameter (exit 2); for
#: vrrp_instance and vrrp_sync_group it is a plain configuration error (exit 5).
_NAME_IS_A_PARAMETER = frozenset({"vrrp_script", "vrrp_track_file", "vrrp_track_process", "virtual_server_group"})


def build(nodes: Iterable[Node], diags: Diagnostics, path: str = "", config_id: str = "") -> m.Config:
    """Turn the statements into a :class:`~lvsfast.config.model.Config`; problems go to ``diags``."""
    b = Builder(diags)
    out: dict[str, list] = {k: [] for k in ("vrrp_scripts", "vrrp_track_files", "vrrp_track_processes",
                                            "vrrp_sync_groups", "vrrp_instances", "virtual_server_groups",
                                            "virtual_servers", "extra", "static_ipaddress", "static_routes",
                                            "static_rules", "bfd_instances")}
    global_defs = m.GlobalDefs()
    global_seen = False
    instance_lines: dict[str, tuple[str, int]] = {}
    ident: dict = {}  # top-level net_namespace, instance, use_pid_dir
    ssl = None
    track_groups: dict[str, m.StaticTrackGroup] = {}
    for n in nodes:
        kw = n.keyword
        if kw == "track_file":
            # keepalived 2.2.7's name for vrrp_track_file (in a vrrp_instance, track_file is
            # the list of tracked files, an anonymous block).
            if n.children is None:
                diags.error(n.file, n.line, "missing '{' at the beginning of the track_file block")
                continue
            kw = "vrrp_track_file"
        elif kw in BLOCK_KEYWORDS and not b.shape(n):
            continue
        if kw == "global_defs":
            acc = b.fill(n, GLOBAL, {f.name: getattr(global_defs, f.name) for f in dc_fields(global_defs)}
                         if global_seen else {})
            if global_seen:
                acc["extra"] = list(acc.get("extra", ()))
            acc.pop("file", None), acc.pop("line", None)
            global_defs = make(m.GlobalDefs, acc, n)
            global_seen = True
        elif kw in _NAMED:
            if n.children is None or not n.args:
                diags.error(n.file, n.line, f"{n.keyword} needs a name and a {{ }} block")
                if not n.args and kw in _NAME_IS_A_PARAMETER:
                    diags.missing_value = True  # keepalived -t exits 2, as for any missing parameter
                continue
            name = n.args[0]
            if kw == "vrrp_script":
                script = vrrp_script(b, n, name)
                if script is not None:
                    out["vrrp_scripts"].append(script)
            elif kw == "vrrp_track_file":
                out["vrrp_track_files"].append(b.block(n, TRACK_FILE, m.VrrpTrackFile, name=name))
            elif kw == "vrrp_track_process":
                out["vrrp_track_processes"].append(b.block(n, TRACK_PROCESS, m.VrrpTrackProcess, name=name))
            elif kw == "bfd_instance":
                bfd = bfd_instance(b, n, name, out["bfd_instances"])
                if bfd is not None:
                    out["bfd_instances"].append(bfd)
            elif kw == "vrrp_sync_group":
                out["vrrp_sync_groups"].append(b.block(n, SYNC_GROUP, m.VrrpSyncGroup, name=name))
            elif kw == "vrrp_instance":
                first = instance_lines.get(name)
                if first is not None:
                    # keepalived ignores the whole second block, so nothing in it is checked.
                    diags.error(n.file, n.line, f"vrrp instance {name} already defined at {first[0]}:{first[1]} "
                                "- ignoring this one")
                    continue
                instance_lines[name] = (n.file, n.line)
                out["vrrp_instances"].append(b.block(n, INSTANCE, m.VrrpInstance, name=name))
            else:
                out["virtual_server_groups"].append(virtual_server_group(b, n, name))
        elif kw == "virtual_server":
            vs = virtual_server(b, n)
            if vs is not None:
                out["virtual_servers"].append(vs)
        elif kw == "SSL":
            ssl = b.block(n, SSL, m.SslConfig)
        elif kw in _STATIC:
            acc = {}
            _STATIC[kw](b, n, acc)
            out[kw].extend(acc.get(kw, ()))
        elif kw == "track_group":
            group = track_group(b, n, track_groups)
            if group is not None:
                track_groups[group.name] = group
        elif kw in IDENTITY:
            identity(b, n, ident)
        elif kw in TOP_LOOSE or kw in GLOBAL:
            # keepalived accepts a few global keywords at the top level (net_namespace, ...).
            out["extra"].append((kw, n.args))
        else:
            b.unknown(n)
    if ident:
        from dataclasses import replace

        global_defs = replace(global_defs, **ident)
    if track_groups or any(x.track_group for k in _STATIC for x in out[k]):
        _check_track_groups(diags, track_groups, out)
    return m.Config(path=path, config_id=config_id, global_defs=global_defs, ssl=ssl,
                    track_groups=tuple(track_groups.values()), **{k: tuple(v) for k, v in out.items()})


def track_group(b: Builder, n: Node, known: dict[str, m.StaticTrackGroup]) -> m.StaticTrackGroup | None:
    """``track_group NAME { group { VI_1 ... } }`` (keepalived's static track group)."""
    if not n.args:
        b.diags.error(n.file, n.line, "track_group must have a name - skipping")
        return None
    name = n.args[0]
    if name in known:
        b.diags.error(n.file, n.line, f"track_group {name} already defined")
        return None
    names: list[str] = []
    for c in n.children or ():
        if c.keyword == "group":
            names += [w for g in c.children or () for w in (g.keyword, *g.args)] + list(c.args)
        else:
            b.unknown(c)
    return m.StaticTrackGroup(name, tuple(names), file=n.file, line=n.line)


def _check_track_groups(diags: Diagnostics, groups: dict[str, m.StaticTrackGroup], out: dict[str, list]) -> None:
    """What keepalived 2.2.7 says of a static line's track_group: the group must exist (be
    defined before the line, as keepalived reads in order) and the line must name its
    interface (an address's dev, a route's dev, a rule's iif/dev). An unknown instance in a
    group is only logged by keepalived (the VRRP process skips it: vrrp/spec.py)."""
    for key, what in (("static_ipaddress", "address"), ("static_routes", "route"), ("static_rules", "rule")):
        for x in out[key]:
            if not x.track_group:
                continue
            g = groups.get(x.track_group)
            if g is None or (g.file == x.file and g.line > x.line):
                diags.warning(x.file, x.line, f"track_group {x.track_group} not found")
            dev = x.dev if what != "rule" else x.iif
            if not dev:
                diags.warning(x.file, x.line, f"Static {what} cannot have track_group if interface not specified")

