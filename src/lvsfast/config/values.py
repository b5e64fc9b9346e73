"""Parsing keepalived's values: numbers, timers, booleans, addresses, ports, HTTP status codes.

Each parser returns the value or raises :class:`Bad` whose message is the diagnostic.
"""
from __future__ import annotations

from lvsfast.config import model as m
from lvsfast.ipv4text import canonical_ipv4


class Bad(Exception):
    """A value that cannot be used; the message is the diagnostic."""


class MissingValue(Bad):
    """A keyword without its parameter: keepalived -t treats this as fatal (exit 2)."""


def parse_int(text: str, lo: int, hi: int) -> int:
    try:
        v = int(text, 10)
    except ValueError:
        raise Bad(f"'{text}' is not a number") from None
    if not lo <= v <= hi:
        raise Bad(f"number '{text}' outside range [{lo}, {hi}]")
    return v


#: keepalived keeps checker timers in 32-bit microseconds.
TIMER_MAX = 4294.967295  # connect_timeout, misc_timeout
#: delay_loop, warmup and delay_before_retry have no such limit in keepalived; a year is plenty.
LONG_TIMER_MAX = 365 * 86400.0



def _decimal(text: str) -> bool:
    """``[-+]?(\\d+\\.?\\d*|\\.\\d+)`` in full, without ``re`` (-t's start-up)."""
    body = text[1:] if text[:1] in ("-", "+") else text
    whole, dot, frac = body.partition(".")
    if whole:
        return whole.isdecimal() and (not frac or frac.isdecimal())
    return bool(dot) and frac.isdecimal()


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def parse_float(text: str, lo: float, hi: float) -> float:
    # Plain decimals only, as keepalived reads timers: no exponents, inf, nan or hex.
    if not _decimal(text):
        raise Bad(f"invalid number '{text}'")
    v = float(text)
    if v != v or not lo <= v <= hi:
        raise Bad(f"number '{text}' outside range [{_num(lo)}, {_num(hi)}]")
    return v


_TRUE = {"on", "true", "yes"}
_FALSE = {"off", "false", "no"}


def parse_bool(args: tuple[str, ...], default: bool = True) -> bool:
    if not args:
        return default
    a = args[0].lower()
    if a in _TRUE:
        return True
    if a in _FALSE:
        return False
    raise Bad(f"'{args[0]}' is not one of on|off|true|false|yes|no")


def parse_ip(text: str) -> tuple[str, m.Family]:
    if canonical_ipv4(text):
        return text, 4
    # Remembered: large configs repeat addresses, and ipaddress parsing is the slow part of
    # building (a dict rather than functools.lru_cache, which -t's path would import for it).
    known = _PARSED_IPS.get(text)
    if known is None:
        known = _parse_ip(text)
        if len(_PARSED_IPS) < _PARSED_IPS_MAX:
            _PARSED_IPS[text] = known
    return known


_PARSED_IPS: dict[str, tuple[str, m.Family]] = {}
_PARSED_IPS_MAX = 1 << 16


def _parse_ip(text: str) -> tuple[str, m.Family]:
    import ipaddress  # for what is not a canonical IPv4 address: -t's path often needs none

    try:
        a = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        raise Bad(f"invalid IP address '{text}'") from None
    return str(a), a.version  # type: ignore[return-value]


def parse_prefix(text: str) -> tuple[str, int, m.Family]:
    """``ADDR[/LEN]``: the address, its prefix length (host length when absent) and family."""
    addr, sep, plen = text.partition("/")
    a, fam = parse_ip(addr)
    full = 32 if fam == 4 else 128
    if not sep:
        return a, full, fam
    try:
        n = int(plen, 10)
    except ValueError:
        raise Bad(f"invalid prefix length '{plen}' in '{text}'") from None
    if not 0 <= n <= full:
        raise Bad(f"invalid address prefix len {n} for address {text}: outside [0, {full}]")
    return a, n, fam


def parse_port(text: str) -> int:
    try:
        v = int(text, 10)
    except ValueError:
        raise Bad(f"invalid port '{text}'") from None
    if not 0 <= v <= 65535:
        raise Bad(f"port '{text}' outside range [0, 65535]")
    return v


def parse_status_codes(args: tuple[str, ...]) -> tuple[m.StatusRange, ...]:
    out = []
    for a in args:
        lo_s, sep, hi_s = a.partition("-")
        try:
            lo = int(lo_s, 10)
            hi = int(hi_s, 10) if sep else lo
        except ValueError:
            raise Bad(f"invalid HTTP status code '{a}'") from None
        if not (100 <= lo <= 599 and 100 <= hi <= 599) or hi < lo:
            raise Bad(f"invalid HTTP status code '{a}': codes are 100-599 and a range goes low-high")
        out.append(m.StatusRange(lo, hi))
    if not out:
        raise Bad("status_code needs at least one code or range")
    return tuple(out)
