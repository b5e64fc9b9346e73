"""Checker blocks: TCP_CHECK, HTTP_GET/SSL_GET (with their url blocks), SMTP_CHECK, DNS_CHECK,
MISC_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK and BFD_CHECK in a real_server, the SSL block they
use, and the timing a checker takes from its real and virtual server when it has none of its own."""
from __future__ import annotations

from lvsfast.config import model as m
from lvsfast.config.blocks.builder import (BOOL, CHECKER_KEYWORDS, CONST, FLOAT, INT, IP, STR, USER, WEIGHT, WORDS,
                                          Builder, Handler, fail, make, one, take_user)
from lvsfast.config.node import Node
from lvsfast.config.values import LONG_TIMER_MAX, TIMER_MAX, Bad, parse_int, parse_port, parse_status_codes

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any

#: The timing keywords a checker, a real_server and a virtual_server all take (the checker uses
#: its own, else its real server's, else its virtual server's).
TIMING: dict[str, Handler] = {
    "connect_timeout": FLOAT("connect_timeout", 0.000001, TIMER_MAX),
    "retry": INT("retry", 0, 2**31 - 1),
    "nb_get_retry": lambda b, n, acc: (INT("retry", 0, 2**31 - 1)(b, n, acc),
                                       b.diags.warning(n.file, n.line, "nb_get_retry is deprecated - please use 'retry'")),
    "delay_before_retry": FLOAT("delay_before_retry", 0, LONG_TIMER_MAX),
    "warmup": FLOAT("warmup", 0, LONG_TIMER_MAX),
    "delay_loop": FLOAT("delay_loop", 0.000001, LONG_TIMER_MAX),
}


_CHECKER_COMMON: dict[str, Handler] = {
    "connect_ip": IP("connect_ip"),
    "connect_port": lambda b, n, acc: acc.__setitem__("connect_port", parse_port(one(n))),
    "bindto": IP("bindto"),
    "bind_if": STR("bind_if"),
    "bind_port": lambda b, n, acc: acc.__setitem__("bind_port", parse_port(one(n))),
    "fwmark": INT("fwmark", 0, 2**32 - 1),
    "alpha": BOOL("alpha"),
    "log_all_failures": BOOL("log_all_failures"),
    **TIMING,
}


_HEX = frozenset("0123456789abcdefABCDEF")


def _url_handlers() -> dict[str, Handler]:
    def digest(b: Builder, n: Node, acc: dict) -> None:
        v = one(n)
        if len(v) != 32 or not _HEX.issuperset(v):
            raise Bad(f"digest '{v}' is not an MD5 hex string of 32 characters")
        if acc.get("digest") is not None:
            b.diags.warning(n.file, n.line, f"digest '{v}' is a duplicate - ignoring it")
            return
        acc["digest"] = v.lower()

    def status(b: Builder, n: Node, acc: dict) -> None:
        if n.args:  # keepalived accepts a bare status_code and keeps the default
            acc["status_code"] = acc.get("status_code", ()) + parse_status_codes(n.args)

    def regex(b: Builder, n: Node, acc: dict) -> None:
        import re  # only for a regex check: -t's path need not load it

        v = " ".join(n.args)
        try:
            re.compile(v)
        except re.error as exc:
            # keepalived uses PCRE2; Python's re is close enough to catch plain mistakes.
            raise Bad(f"invalid regex '{v}': {exc}") from None
        acc["regex"] = v

    def regex_stack(b: Builder, n: Node, acc: dict) -> None:
        if len(n.args) != 2:
            raise Bad("regex_stack needs START and MAX")
        acc["regex_stack"] = (parse_int(n.args[0], 0, 2**31 - 1), parse_int(n.args[1], 0, 2**31 - 1))

    return {
        "path": lambda b, n, acc: acc.__setitem__("path", " ".join(n.args) if n.args else fail("path needs a value")),
        "digest": digest,
        "status_code": status,
        "virtualhost": STR("virtualhost"),
        "regex": regex,
        "regex_no_match": CONST("regex_no_match", True),
        "regex_options": WORDS("regex_options"),
        "regex_min_offset": INT("regex_min_offset", 0, 2**31 - 1),
        "regex_max_offset": INT("regex_max_offset", 0, 2**31 - 1),
        "regex_stack": regex_stack,
    }


def _hex_bytes(args: tuple[str, ...]) -> bytes:
    # keepalived's free format: each whitespace-separated group is read two hex digits at a time,
    # an odd last digit being a byte of its own ("Ab12f" -> AB 12 0F).
    out = bytearray()
    for g in args:
        if not g or not _HEX.issuperset(g):
            raise Bad(f"'{g}' is not hexadecimal")
        for i in range(0, len(g), 2):
            out.append(int(g[i:i + 2], 16))
    return bytes(out)


def _hex_pattern(args: tuple[str, ...]) -> tuple[bytes, bytes]:
    """``require_reply``: hex as :func:`_hex_bytes`, where an X nibble matches anything.
    Returns the bytes (wildcards as 0) and a mask (0 bits are wildcards)."""
    groups = tuple(g.translate(str.maketrans("xX", "00")) for g in args)
    # A lone last digit is a byte of its own with an exact zero high nibble: its mask is F + digit's.
    masks = tuple(m[:-1] + "F" + m[-1] if len(m) % 2 else m
                  for m in ("".join("0" if c in "xX" else "F" for c in g) for g in args))
    for g, orig in zip(groups, args):
        if not g or not _HEX.issuperset(g):
            raise Bad(f"'{orig}' is not hexadecimal (X stands for any digit)")
    return _hex_bytes(groups), _hex_bytes(masks)


def _checker_handlers(kind: str) -> dict[str, Handler]:
    h = dict(_CHECKER_COMMON)
    if kind in ("HTTP_GET", "SSL_GET"):
        def url(b: Builder, n: Node, acc: dict) -> None:
            if not any(c.keyword == "path" for c in n.children or ()):
                b.diags.warning(n.file, n.end_line or n.line, f"url block (line {n.line}) has no path - ignoring it")
                return
            u = b.block(n, _URL, m.Url)
            if u is not None:
                acc["urls"] = acc.get("urls", ()) + (u,)

        def proto(b: Builder, n: Node, acc: dict) -> None:
            v = one(n)
            if v not in ("1.0", "1.0C", "1.1"):
                raise Bad(f"unknown http_protocol '{v}' (1.0|1.0C|1.1)")
            acc["http_protocol"] = v
        h.update({"url": url, "http_protocol": proto, "virtualhost": STR("virtualhost"),
                  "enable_sni": BOOL("enable_sni"), "fast_recovery": BOOL("fast_recovery")})
    elif kind == "SMTP_CHECK":
        h["helo_name"] = STR("helo_name")
        def host(b: Builder, n: Node, acc: dict) -> None:
            hacc = b.fill(n, _SMTP_HOST, {})
            _check_bind_family(b, n, hacc)
            acc["hosts"] = acc.get("hosts", ()) + (make(m.SmtpHost, hacc, n),)
        h["host"] = host  # keepalived 1.x's syntax, still accepted
    elif kind == "DNS_CHECK":
        def dtype(b: Builder, n: Node, acc: dict) -> None:
            v = one(n).upper()
            if v not in ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"):
                raise Bad(f"unknown DNS query type '{one(n)}'")
            acc["type"] = v
        h.update({"type": dtype, "name": STR("name")})
    elif kind == "MISC_CHECK":
        def misc_path(b: Builder, n: Node, acc: dict) -> None:
            if not n.args:  # not fatal in keepalived, unlike most missing parameters
                raise Bad("no script path has been specified for misc_path")
            acc["misc_path"] = m.Script(n.args[0], file=n.file, line=n.line)
        h.update({"misc_path": misc_path, "misc_timeout": FLOAT("misc_timeout", 0.000001, TIMER_MAX),
                  "misc_dynamic": CONST("misc_dynamic", True), "user": USER})
    elif kind == "UDP_CHECK":
        def payload(b: Builder, n: Node, acc: dict) -> None:
            acc["payload"] = _hex_bytes(n.args)

        def require(b: Builder, n: Node, acc: dict) -> None:
            acc["reply_required"] = True
            if n.args:
                acc["require_reply"], mask = _hex_pattern(n.args)
                acc["require_reply_mask"] = None if mask.count(0xFF) == len(mask) else mask
            else:
                acc["require_reply"] = None
        h.update({"payload": payload, "require_reply": require,
                  "min_reply_length": INT("min_reply_length", 0, 65535),
                  "max_reply_length": INT("max_reply_length", 0, 65535)})
    elif kind == "FILE_CHECK":
        def dynamic(b: Builder, n: Node, acc: dict) -> None:
            acc["dynamic"] = True
            b.diags.warning(n.file, n.line, "'dynamic' in FILE_CHECK: keepalived 2.2.7 rejects it as an unknown "
                            "keyword (its man page documents it); lvsfast honours it")
        h = {"track_file": STR("track_file"), "file": STR("track_file"), "dynamic": dynamic,
             "weight": WEIGHT(-(2**31 - 1), 2**31 - 1)}
    elif kind == "BFD_CHECK":
        h = {"name": STR("name"), "bfd": STR("name"), "alpha": _CHECKER_COMMON["alpha"]}
    return h


_SMTP_HOST: dict[str, Handler] = {k: _CHECKER_COMMON[k] for k in
                                  ("connect_ip", "connect_port", "bindto", "bind_if", "bind_port", "fwmark")}


def _check_bind_family(b: Builder, n: Node, acc: dict) -> None:
    bindto, connect_ip = acc.get("bindto"), acc.get("connect_ip")
    if bindto and connect_ip and (":" in bindto) != (":" in connect_ip):
        line = next((c.line for c in reversed(n.children or ()) if c.keyword == "bindto"), n.line)
        b.diags.warning(n.file, line, f"bindto address {bindto} does not match the address family of "
                        f"connect_ip {connect_ip} - ignoring bindto")
        acc.pop("bindto")


CHECKER_CLASSES: dict[str, type] = {
    "TCP_CHECK": m.TcpCheck, "HTTP_GET": m.HttpCheck, "SSL_GET": m.HttpCheck, "SMTP_CHECK": m.SmtpCheck,
    "DNS_CHECK": m.DnsCheck, "MISC_CHECK": m.MiscCheck, "UDP_CHECK": m.UdpCheck, "PING_CHECK": m.PingCheck,
    "ICMP_CHECK": m.PingCheck, "FILE_CHECK": m.FileCheck, "BFD_CHECK": m.BfdCheck,
}
assert CHECKER_CLASSES.keys() == set(CHECKER_KEYWORDS)  # the block grammar (builder) knows the same blocks

_URL = _url_handlers()
_CHECKERS = {k: _checker_handlers(k) for k in CHECKER_CLASSES}
#: The top-level SSL block (SSL_GET's client certificate).
SSL = {k: STR(k) for k in ("password", "ca", "certificate", "key")}


def checker(b: Builder, n: Node, rs: dict, vs: dict) -> m.AnyChecker | None:
    """A checker block of a real server (``rs``, ``vs``: the real and virtual server's values so
    far); None when it cannot run, as keepalived drops it."""
    kind = n.keyword
    cls = CHECKER_CLASSES[kind]
    if kind == "ICMP_CHECK":
        kind = "PING_CHECK"
    # FILE_CHECK's track_file names a vrrp_track_file; elsewhere track_file is a block.
    acc = b.fill(n, _CHECKERS[n.keyword], {"kind": kind}, shaped=kind != "FILE_CHECK")
    if n.children is None and n.args:
        b.diags.warning(n.file, n.line, f"{kind} expects a {{ }} block")
    take_user(acc)
    if kind == "MISC_CHECK":
        p = acc.get("misc_path")
        if p is None:
            b.diags.error(n.file, n.end_line or n.line, f"MISC_CHECK (line {n.line}) has no misc_path - removing it")
            return None
        if "_user_name" in acc:
            acc["misc_path"] = m.Script(p.command, acc["_user_name"], acc["_group_name"], p.file, p.line)
    if kind in ("HTTP_GET", "SSL_GET") and not acc.get("urls"):
        b.diags.error(n.file, n.end_line or n.line, f"{kind} (line {n.line}) has no url with a path - removing it")
        return None
    if kind == "FILE_CHECK" and not acc.get("track_file"):
        b.diags.error(n.file, n.end_line or n.line, f"FILE_CHECK (line {n.line}) has no track_file - removing it")
        return None

    def pick(key: str) -> Any:
        for src in (acc, rs, vs):
            if src.get(key) is not None:
                return src[key]
        return None

    delay_loop = pick("delay_loop") or 60.0
    acc["delay_loop"] = delay_loop
    acc["connect_timeout"] = pick("connect_timeout") or 5.0
    retry = pick("retry")
    acc["retry"] = retry if retry is not None else {"DNS_CHECK": 3, "MISC_CHECK": 0}.get(kind, 1)
    dbr = pick("delay_before_retry")
    if dbr is None:
        dbr = {"HTTP_GET": 3.0, "SSL_GET": 3.0, "DNS_CHECK": delay_loop}.get(kind, 1.0)
    acc["delay_before_retry"] = dbr
    warm = pick("warmup")
    acc["warmup"] = delay_loop if warm is None else warm
    alpha = pick("alpha")
    acc["alpha"] = bool(alpha)
    if kind not in ("FILE_CHECK", "BFD_CHECK"):
        acc.setdefault("connect_ip", rs.get("address"))
        _check_bind_family(b, n, acc)
        if acc.get("connect_port") is None:
            acc["connect_port"] = rs.get("port") if rs.get("port") is not None else vs.get("port")
    if kind in ("HTTP_GET", "SSL_GET") and acc.get("virtualhost") is None:
        acc["virtualhost"] = rs.get("virtualhost") or vs.get("virtualhost")
    if kind == "UDP_CHECK":
        lo, hi = acc.get("min_reply_length", 0), acc.get("max_reply_length", 255)
        if lo > hi:
            b.diags.error(n.file, n.line, f"UDP_CHECK min_reply_length {lo} exceeds max_reply_length {hi}")
    return make(cls, acc, n)
