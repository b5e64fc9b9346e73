"""Tracking: the lists a vrrp_instance or vrrp_sync_group tracks (``track_script { NAME weight N }``...),
and the tracked objects defined at the top level, vrrp_track_file and vrrp_track_process."""
from __future__ import annotations

from lvsfast.config import model as m
from lvsfast.config.blocks.builder import CONST, FLOAT, INT, OPT_STR, STR, WEIGHT, Builder, Handler, fail
from lvsfast.config.node import Node
from lvsfast.config.values import Bad, parse_int


def track_list(lo: int, hi: int) -> Handler:
    """A ``track_*`` block: one tracked object a line, its weight within ``lo..hi``."""
    def h(b: Builder, n: Node, acc: dict) -> None:
        out = list(acc.get(n.keyword, ()))
        for c in n.children or ():
            try:
                out.append(tracked_of(c, lo, hi))
            except Bad as exc:
                b.diags.error(c.file, c.line, f"{n.keyword}: {exc}")
        acc[n.keyword] = tuple(out)
    return h


def tracked_of(c: Node, lo: int, hi: int) -> m.Tracked:
    weight = None
    reverse = False
    args = list(c.args)
    while args:
        a = args.pop(0)
        if a == "weight":
            if not args:
                raise Bad(f"weight for {c.keyword} needs a value")
            v = args.pop(0)
            try:
                weight = int(v, 10)
            except ValueError:
                raise Bad(f"weight '{v}' for {c.keyword} is not a number") from None
            if not lo <= weight <= hi:
                raise Bad(f"weight {weight} for {c.keyword} must be between [{lo}..{hi}] inclusive")
        elif a == "reverse":
            reverse = True
        elif a in ("noreverse", "no_reverse"):
            reverse = False
        else:
            raise Bad(f"unknown option '{a}' for {c.keyword}")
    return m.Tracked(c.keyword, weight, reverse, c.file, c.line)


def tracking_handlers() -> dict[str, Handler]:
    """What a vrrp_instance and a vrrp_sync_group may track, with keepalived's weight ranges."""
    return {
        "track_interface": track_list(-253, 253),
        "track_script": track_list(-253, 253),
        "track_file": track_list(-254, 254),
        "track_process": track_list(-254, 254),
        "track_bfd": track_list(-253, 253),
    }


def _track_file_handlers() -> dict[str, Handler]:
    def init_file(b: Builder, n: Node, acc: dict) -> None:
        for a in n.args:
            if a == "overwrite":
                acc["init_file_overwrite"] = True
            else:
                acc["init_file"] = parse_int(a, -254, 254)
        acc.setdefault("init_file", 0)
    return {"file": STR("path"), "weight": WEIGHT(-254, 254), "init_file": init_file}


def _track_process_handlers() -> dict[str, Handler]:
    return {
        "process": lambda b, n, acc: acc.__setitem__("process", " ".join(n.args) if n.args else fail("process needs a name")),
        "param_match": OPT_STR("param_match"),
        "weight": WEIGHT(-254, 254),
        "quorum": INT("quorum", 1, 65535),
        "quorum_max": INT("quorum_max", 1, 65535),
        "delay": FLOAT("delay", 0, 86400),
        "terminate_delay": FLOAT("terminate_delay", 0, 86400),
        "fork_delay": FLOAT("fork_delay", 0, 86400),
        "full_command": CONST("full_command", True),
    }


#: vrrp_track_file NAME { ... } (keepalived 2.2.7 also calls it track_file at the top level)
TRACK_FILE = _track_file_handlers()
#: vrrp_track_process NAME { ... }
TRACK_PROCESS = _track_process_handlers()
