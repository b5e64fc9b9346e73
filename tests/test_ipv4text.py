"""canonical_ipv4 accepts exactly the text ipaddress gives back unchanged as an IPv4 address."""
from __future__ import annotations

import ipaddress
import random

from lvsfast.ipv4text import canonical_ipv4

FIXED = ["1.2.3.4", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3.256", "1.2.3", "1.2.3.4.5", "1..3.4",
         "\u0661.2.3.4", "+1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "1.2.3.00", "000.1.1.1", "1.2.3.4%eth0",
         "1_0.2.3.4", "1.2.3.\u00b2", "::1", "::ffff:1.2.3.4", "", "1.2.3.-1"]
PARTS = ["0", "00", "1", "01", "9", "10", "99", "100", "199", "200", "249", "250", "255", "256", "1000", "", "a",
         "-1", "\u0663", "+1"]


def canonical(text: str) -> bool:
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        return False
    return a.version == 4 and str(a) == text


def test_fixed_cases() -> None:
    for text in FIXED:
        assert bool(canonical_ipv4(text)) == canonical(text), text


def test_random_dotted_text() -> None:
    rnd = random.Random(4)
    for _ in range(50_000):
        text = ".".join(rnd.choice(PARTS) for _ in range(rnd.choice([3, 4, 4, 4, 5]))) + rnd.choice(["", "", " ", "\n"])
        assert bool(canonical_ipv4(text)) == canonical(text), text
