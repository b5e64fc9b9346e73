"""Pure-Python twin of ``lvsfast._core.real_servers``: the same fast path for plain real_server
blocks (address, port, weight, uthreshold, lthreshold), the same handing over of every other
block to the builder's own path."""
from __future__ import annotations

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any, Callable


FIELDS = ("address", "port", "family", "weight", "inhibit_on_failure", "uthreshold", "lthreshold",
          "drain_timeout", "keyword_lines", "file", "line")

_WEIGHT_MAX = 2**31 - 1
_NUMBERS = ("weight", "uthreshold", "lthreshold")


def _number(node: Any, hi: int) -> int | None:
    args = node.args
    if node.children is not None or not args or args[0].startswith("-"):
        return None
    try:
        v = int(args[0], 10)
    except ValueError:
        return None
    return v if 0 <= v <= hi else None


class RealServerMaker:
    """Made once per build: ``plan`` is RealServer's slot plan, ``defaults`` its field values
    when not given, ``parse_ip`` the builder's (cached) address parser."""

    def __init__(self, plan: Any, names: tuple[str, ...], defaults: tuple, parse_ip: Callable) -> None:
        self._new = plan.new
        self._base = list(defaults)
        self._parse_ip = parse_ip
        idx = {n: i for i, n in enumerate(names)}
        self._at = {f: idx[f] for f in FIELDS}

    def _quick(self, c: Any, inherit: tuple, tunnelled: bool) -> Any:
        args, children = c.args, c.children
        if not args or children is None:
            return None
        try:
            address, family = self._parse_ip(args[0])
        except Exception:
            return None
        inhibit, drain, vs_family, vs_port = inherit
        if len(args) > 1:
            try:
                port = int(args[1], 10)
            except ValueError:
                return None
            if not 0 <= port <= 65535:
                return None
        else:
            port = vs_port
        if vs_family is not None and family != vs_family and not tunnelled:
            return None
        got = {"weight": 1, "uthreshold": 0, "lthreshold": 0}
        for k in children:
            if k.keyword not in _NUMBERS:
                return None
            v = _number(k, _WEIGHT_MAX)
            if v is None:
                return None
            got[k.keyword] = v
        values = list(self._base)
        at = self._at
        for name, v in (("address", address), ("port", port), ("family", family), ("weight", got["weight"]),
                        ("inhibit_on_failure", inhibit), ("uthreshold", got["uthreshold"]),
                        ("lthreshold", got["lthreshold"]), ("drain_timeout", drain),
                        ("keyword_lines", tuple([(k.keyword, k.line) for k in children])),
                        ("file", c.file), ("line", c.line)):
            values[at[name]] = v
        return self._new(tuple(values))

    def make_all(self, nodes: list, inherit: tuple, tunnelled: bool, slow: Callable, duplicate: Callable) -> tuple:
        """The real servers of one virtual server, in order, each address and port once.

        ``inherit``: the virtual server's inhibit_on_failure, drain_timeout, address family
        (None without an address) and port; ``tunnelled``: its forwarding is TUN. ``slow(node)``
        makes a RealServer the long way (or None, having said why); ``duplicate(node, rs)`` is
        told of a second real server on an address and port, which is left out."""
        seen: set[tuple[str, int | None]] = set()
        out = []
        for c in nodes:
            rs = self._quick(c, inherit, tunnelled)
            if rs is None:
                rs = slow(c)
                if rs is None:
                    continue
            key = (rs.address, rs.port)
            if key in seen:
                duplicate(c, rs)
                continue
            seen.add(key)
            out.append(rs)
        return tuple(out)
