"""From ``list table`` JSON back to a :class:`Table`: what lvsfast's table really holds."""
from __future__ import annotations

from typing import Any

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.nft.render import parse_comment


def _elems(obj: dict[str, Any]) -> list[Any]:
    e = obj.get("elem", [])
    return e if isinstance(e, list) else [e]


def _val(x: Any) -> Any:
    # Elements with timeouts or comments come wrapped as {"elem": {"val": ...}}.
    if isinstance(x, dict) and "elem" in x:
        return x["elem"]["val"]
    return x


def table_from_json(items: list[dict[str, Any]]) -> Table:
    sets: dict[str, dict[str, Any]] = {}
    rules: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        for kind in ("set", "map"):
            if kind in item:
                sets[item[kind]["name"]] = item[kind]
        if "rule" in item:
            r = item["rule"]
            rules.setdefault(r["chain"], []).append(r)
    jumps: dict[str, ServiceKey] = {}
    for e in _elems(sets.get("services", {})):
        key, verdict = _val(e[0]), e[1]
        vip, proto, port = key["concat"]
        jumps[verdict["jump"]["target"]] = ServiceKey(4, str(proto), vip, int(port))
    for e in _elems(sets.get("dr_services", {})):
        key, verdict = _val(e[0]), e[1]
        vip, proto, port = key["concat"]
        jumps[verdict["jump"]["target"]] = ServiceKey(4, str(proto), vip, int(port))
    for e in _elems(sets.get("fwmarks", {})):
        mark, verdict = _val(e[0]), e[1]
        jumps[verdict["jump"]["target"]] = ServiceKey(4, "tcp", None, 0, int(mark))
    services: dict[ServiceKey, Service] = {}
    dests: dict[ServiceKey, dict[DestKey, Dest]] = {}
    for chain, key in jumps.items():
        spec = None
        for r in rules.get(chain, []):
            spec = parse_comment(r.get("comment", "")) or spec
        if spec is None:
            continue  # not ours, or half-written: repair will rewrite it
        flags = frozenset(f for f in spec.get("flags", "").split(",") if f)
        configured = tuple(sorted((DestKey(a, int(p)), int(w)) for a, p, w in
                                  (_val(e)["concat"] for e in _elems(sets.get(f"{chain}_u", {})))))
        services[key] = Service(key, spec.get("sched", "wrr"), flags, int(spec.get("pt", 0)),
                                int(spec.get("pg", 32)), configured=configured, forward=spec.get("fwd", "nat"))
        inner: dict[DestKey, Dest] = {}
        for e in _elems(sets.get(f"{chain}_d", {})):
            addr, port, weight = _val(e)["concat"]
            dk = DestKey(addr, int(port))
            inner[dk] = Dest(dk, int(weight), services[key].forward)
        dests[key] = inner
    return Table(services, dests)
