"""Recognising an IPv4 address already in canonical text form, without ipaddress.

Large configs spell tens of thousands of distinct addresses, and parsing each with
``ipaddress`` (several Python calls) was a visible part of a reload. A dotted quad of plain
ASCII decimal octets without leading zeros is exactly what ``str(ipaddress.ip_address(text))``
gives back for it, so such text can be taken as it is; anything else still goes through
ipaddress.
"""
from __future__ import annotations

import re

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"

#: ``canonical_ipv4(text)`` is truthy exactly when ``text`` is an IPv4 address in canonical form.
canonical_ipv4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}").fullmatch
