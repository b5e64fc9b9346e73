"""The machinery every block shares: keyword handlers, the :class:`Builder` that runs a block's
children through its table of handlers, and :func:`make`, which turns the accumulated values
into the model object.

A handler validates one statement's arguments and stores a value in the block's accumulator
(a dict of field name to value); a bad value raises :class:`~lvsfast.config.values.Bad`, which
the builder reports at the statement's line while the default stays, as keepalived keeps going.
The factories in capitals (``INT("priority", 1, 255)``...) make the handlers for plain values.
"""
from __future__ import annotations

from lvsfast.config import model as m
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.node import Node
from lvsfast.config.real_servers import RealServerMaker
from lvsfast.config.values import Bad, MissingValue, parse_bool, parse_float, parse_int, parse_ip
from lvsfast.frozen import MISSING
from lvsfast.frozen import fields as dc_fields
from lvsfast.frozen import plan_of

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any, Callable

    Handler = Callable[["Builder", Node, dict], None]
else:
    Handler = object

#: The checker blocks a real_server may hold.
CHECKER_KEYWORDS = ("TCP_CHECK", "HTTP_GET", "SSL_GET", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK", "UDP_CHECK",
                    "PING_CHECK", "ICMP_CHECK", "FILE_CHECK", "BFD_CHECK")
#: Blocks that take no name: parameters before their '{' are ignored, as keepalived does.
ANONYMOUS_BLOCKS = frozenset({
    "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules", "track_interface",
    "track_script", "track_file", "track_process", "track_bfd", "unicast_peer", "authentication", "group",
    "url", "notification_email", *CHECKER_KEYWORDS, "global_defs", "static_ipaddress", "static_routes",
    "static_rules", "SSL"})
#: Keywords that must open a block.
BLOCK_KEYWORDS = ANONYMOUS_BLOCKS | {"bfd_instance", "vrrp_instance", "vrrp_script", "vrrp_sync_group", "vrrp_track_file",
                                     "vrrp_track_process", "virtual_server", "virtual_server_group", "real_server"}


class Builder:
    def __init__(self, diags: Diagnostics):
        self.diags = diags
        self._real_servers: RealServerMaker | None = None

    def real_servers(self) -> RealServerMaker:
        """The fast path for plain real_server blocks (the rest it hands back to the LVS builder)."""
        if self._real_servers is None:
            fields = dc_fields(m.RealServer)
            defaults = tuple(f.default if f.default is not MISSING else None for f in fields)
            self._real_servers = RealServerMaker(plan_of(m.RealServer), tuple(f.name for f in fields), defaults,
                                                 parse_ip)
        return self._real_servers

    def unknown(self, n: Node) -> None:
        self.diags.warning(n.file, n.line, f"unknown keyword '{n.keyword}'")

    def fill(self, n: Node, table: dict[str, Handler], acc: dict, shaped: bool = True) -> dict:
        """Run ``n``'s children through ``table`` into ``acc``. ``shaped=False`` where a block
        keyword is a plain value (FILE_CHECK's track_file names a vrrp_track_file)."""
        for c in n.children or ():
            h = table.get(c.keyword)
            if h is None:
                self.unknown(c)
                continue
            if not shaped or self.shape(c):
                self.apply(h, c, acc)
        return acc

    def shape(self, c: Node) -> bool:
        """Check a block keyword has its block; False when the statement cannot be used."""
        if c.keyword not in BLOCK_KEYWORDS:
            return True
        if c.children is None:
            self.diags.error(c.file, c.line, f"missing '{{' at the beginning of the {c.keyword} block")
            return False
        if c.args and c.keyword in ANONYMOUS_BLOCKS:
            self.diags.warning(c.file, c.line, f"block {c.keyword} has extra parameters "
                               f"{' '.join(c.args)} - ignoring them")
        return True

    def apply(self, h: Handler, c: Node, acc: dict) -> None:
        try:
            h(self, c, acc)
        except MissingValue as exc:
            self.diags.error(c.file, c.line, str(exc))
            self.diags.missing_value = True
        except Bad as exc:
            self.diags.error(c.file, c.line, str(exc))

    def block(self, n: Node, table: dict[str, Handler], cls: type, **given: Any) -> Any:
        acc = self.fill(n, table, dict(given))
        return make(cls, acc, n)


_FIELDS_CACHE: dict[type, tuple[frozenset[str], bool, Any]] = {}


def make(cls: type, acc: dict, n: Node) -> Any:
    """``cls`` from the accumulated ``acc`` (consumed: no caller uses it afterwards), with the
    node's place and keyword lines; keys that are not fields are left out."""
    info = _FIELDS_CACHE.get(cls)
    if info is None:
        names = frozenset(f.name for f in dc_fields(cls))
        info = _FIELDS_CACHE[cls] = (names, "keyword_lines" in names, plan_of(cls))
    names, lines, plan = info
    # Usually every key is a field (the private ones were popped) and acc itself will do.
    kw = acc if names.issuperset(acc) else {k: v for k, v in acc.items() if k in names}
    if "extra" in kw:
        kw["extra"] = tuple(kw["extra"])
    if "file" not in kw:
        kw["file"] = n.file
    if "line" not in kw:
        kw["line"] = n.line
    if lines and n.children and "keyword_lines" not in kw:
        kw["keyword_lines"] = tuple([(c.keyword, c.line) for c in n.children])
    # As cls(**kw), without binding two dozen keywords for each of 100,000 real servers.
    return plan.from_mapping(kw) if plan is not None else cls(**kw)


# ---------------------------------------------------------------------------------------------
# handlers for plain values


def one(n: Node) -> str:
    """The statement's single parameter."""
    if not n.args:
        raise MissingValue(f"'{n.keyword}' is missing its parameter")
    return n.args[0]


def fail(msg: str) -> Any:
    """Raise :class:`Bad` from within an expression (a lambda handler)."""
    raise Bad(msg)


def INT(name: str, lo: int, hi: int) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[name] = parse_int(one(n), lo, hi)
    return h


def FLOAT(name: str, lo: float, hi: float) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[name] = parse_float(one(n), lo, hi)
    return h


def BOOL(name: str) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[name] = parse_bool(n.args)
    return h


def CONST(name: str, value: Any) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[name] = value
    return h


def STR(name: str) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[name] = one(n)
    return h


def OPT_STR(name: str) -> Handler:
    """A string that may be left out ("" then)."""
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[name] = n.args[0] if n.args else ""
    return h


def WORDS(name: str) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[name] = n.args
    return h


def IP(name: str) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc[name] = parse_ip(one(n))[0]
    return h


def WEIGHT(lo: int, hi: int) -> Handler:
    """``weight N [reverse|noreverse]``."""
    def h(b: Builder, n: Node, acc: dict) -> None:
        acc["weight"] = parse_int(one(n), lo, hi)
        for a in n.args[1:]:
            if a == "reverse":
                acc["weight_reverse"] = True
            elif a not in ("noreverse", "no_reverse"):
                raise Bad(f"unknown weight option '{a}'")
    return h


def SCRIPT(name: str) -> Handler:
    def h(b: Builder, n: Node, acc: dict) -> None:
        s = script_of(n)
        if acc.get(name) is not None:
            # keepalived keeps the first and ignores the rest.
            b.diags.warning(n.file, n.line, f"{n.keyword} script already specified - ignoring {s.command}")
            return
        acc[name] = s
    return h


def script_of(n: Node, first: int = 0) -> m.Script:
    args = n.args[first:]
    if not args:
        raise Bad(f"'{n.keyword}' needs a script")
    return m.Script(args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None,
                    n.file, n.line)


def USER(b: Builder, n: Node, acc: dict) -> None:
    """``user NAME [GROUP]`` of a script; :func:`take_user` turns it into fields."""
    acc["_user"] = n.args


def take_user(acc: dict) -> dict:
    u = acc.pop("_user", ())
    if u:
        acc["_user_name"], acc["_group_name"] = u[0], (u[1] if len(u) > 1 else None)
    return acc


def LOOSE(b: Builder, n: Node, acc: dict) -> None:
    """A keyword keepalived accepts that the model keeps as it is, in ``extra``."""
    extra = acc.get("extra")
    if not isinstance(extra, list):  # a second global_defs block continues the first's tuple
        extra = acc["extra"] = list(extra or ())
    extra.append((n.keyword, n.args))
