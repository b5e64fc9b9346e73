"""bfd_instance NAME { ... }: keepalived 2.2.7's keywords, ranges, defaults and complaints.

keepalived reads the intervals in milliseconds with up to three decimals (microsecond
resolution) and drops the whole instance when its neighbour is missing, malformed, of another
family than source_ip, or already used by an earlier instance.
"""
from __future__ import annotations

from lvsfast.config import model as m
from lvsfast.config.blocks.builder import Builder, make, one
from lvsfast.config.node import Node
from lvsfast.config.values import Bad, MissingValue, parse_int, parse_ip

#: keepalived's iname is 32 bytes with its NUL.
NAME_MAX = 31
_MS_MAX = 4294967  # UINT32_MAX / 1000


def parse_ms(text: str, lo: int, hi: int) -> int:
    """``text`` milliseconds (three decimals at most) as microseconds within ``lo..hi`` ms."""
    # "N" or "N." or "N.DDD", read by hand: no ``re`` on -t's path (start-up, issue 25)
    whole, _, frac = text.partition(".")
    if not (whole.isascii() and whole.isdigit()) or (frac and not (frac.isascii() and frac.isdigit())):
        raise Bad(f"invalid number '{text}'")
    if len(frac) > 3:
        raise Bad(f"number '{text}' has too many decimal places")
    us = int(whole) * 1000 + int((frac + "000")[:3])
    if not lo * 1000 <= us <= hi * 1000:
        raise Bad(f"number '{text}' outside range [{lo}.000, {hi}.000]")
    return us


#: What a bfd_instance block takes (its own loop reads them; the support table's test lists them).
BFD_KEYWORDS = frozenset({"neighbor_ip", "neighbour_ip", "source_ip", "min_rx", "min_tx", "idle_tx", "multiplier",
                          "passive", "ttl", "hoplimit", "max_hops", "weight", "vrrp", "checker", "multihop"})
_INTERVALS = {"min_rx": ("min_rx_us", 1), "min_tx": ("min_tx_us", 1), "idle_tx": ("idle_tx_us", 1000)}


def bfd_instance(b: Builder, n: Node, name: str, known: list[m.BfdInstance]) -> m.BfdInstance | None:
    """The instance, or None (reported) when keepalived would drop it; ``known``: the earlier ones."""
    d = b.diags
    if len(name) > NAME_MAX:
        d.error(n.file, n.line, f"BFD instance {name} name too long (maximum length is {NAME_MAX} characters) "
                "- ignoring")
        return None
    if any(k.name == name for k in known):
        d.error(n.file, n.line, f"BFD instance {name} already configured - ignoring")
        return None
    acc: dict = {"name": name}
    events: set[str] = set()
    nbr_word = "neighbor"
    for c in n.children or ():
        kw = c.keyword
        try:
            if kw in ("neighbor_ip", "neighbour_ip"):
                if kw == "neighbour_ip":
                    nbr_word = "neighbour"
                try:
                    acc["neighbor_ip"], acc["family"] = parse_ip(one(c))
                except Bad:
                    d.error(c.file, c.line, f"BFD instance {name} has malformed {nbr_word} address {c.args[0]}, "
                            "ignoring instance")
                    return None  # keepalived skips the rest of the block
            elif kw == "source_ip":
                try:
                    acc["source_ip"], acc["_src_family"] = parse_ip(one(c))
                except Bad:
                    d.error(c.file, c.line, f"BFD instance {name} has malformed source address {c.args[0]}, ignoring")
            elif kw in _INTERVALS:
                field_name, lo = _INTERVALS[kw]
                try:
                    acc[field_name] = parse_ms(one(c), lo, _MS_MAX)
                except Bad as exc:
                    d.error(c.file, c.line, f"{exc}; BFD instance {name} {kw} value {c.args[0]} is not valid "
                            f"(must be in range [{lo}-{_MS_MAX}]), ignoring")
                    continue
                if acc[field_name] > 10_000_000:
                    d.notice(c.file, c.line, f"BFD instance {name} {kw} value {c.args[0]} is larger than max "
                             "sensible (10000)")
            elif kw == "multiplier":
                acc["multiplier"] = _ranged(c, name, "multiplier", 1, 255)
            elif kw == "passive":
                acc["passive"] = True
            elif kw in ("ttl", "hoplimit"):
                acc["ttl"] = _ranged(c, name, "ttl/hoplimit", 1, 255)
            elif kw == "max_hops":
                acc["max_hops"] = _ranged(c, name, "max_hops", -1, 255)
            elif kw == "weight":
                _weight(b, c, name, acc)
            elif kw in ("vrrp", "checker"):
                events.add(kw)
            elif kw == "multihop":
                acc["multihop"] = True
            else:
                b.unknown(c)
        except MissingValue as exc:
            d.error(c.file, c.line, str(exc))
            d.missing_value = True
        except Bad as exc:
            d.error(c.file, c.line, str(exc))
    end = n.end_line or n.line
    nbr = acc.get("neighbor_ip")
    if not nbr:
        d.error(n.file, end, f"BFD instance {name} has no {nbr_word} address set, disabling instance")
        return None
    src_fam = acc.pop("_src_family", None)
    src = acc.get("source_ip")
    if src is not None and src_fam != acc["family"]:
        d.error(n.file, end, f"BFD instance {name} source address {src} and {nbr_word} address {nbr} are not of "
                "the same family, disabling instance")
        return None
    for k in known:
        if k.neighbor_ip == nbr and (k.source_ip is None or src is None or k.source_ip == src):
            what = f"source/{nbr_word} address {src}/{nbr}" if src is not None else f"{nbr_word} address {nbr}"
            d.error(n.file, end, f"BFD instance {name} has duplicate {what}, ignoring instance")
            return None
    if events:
        acc["vrrp"], acc["checker"] = "vrrp" in events, "checker" in events
    inst = make(m.BfdInstance, acc, n)
    if inst.max_hops > inst.out_ttl:
        d.error(n.file, end, f"BFD instance {name}: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit")
        from dataclasses import replace

        inst = replace(inst, max_hops=inst.out_ttl)
    return inst


def _ranged(c: Node, name: str, what: str, lo: int, hi: int) -> int:
    try:
        return parse_int(one(c), lo, hi)
    except MissingValue:
        raise
    except Bad as exc:
        raise Bad(f"{exc}; BFD instance {name} {what} value {c.args[0]} not valid "
                  f"(must be in range [{lo}-{hi}]), ignoring") from None


def _weight(b: Builder, c: Node, name: str, acc: dict) -> None:
    acc["weight"] = _ranged(c, name, "weight", -253, 253)
    if len(c.args) >= 2:
        if c.args[1] != "reverse":
            b.diags.error(c.file, c.line, f"BFD instance {name} unknown weight option {c.args[1]}")
        else:
            acc["weight_reverse"] = True
