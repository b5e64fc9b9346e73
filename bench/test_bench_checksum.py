"""RFC 1071 checksum over a 40-byte VRRP advert: compiled core vs pure twin."""
from __future__ import annotations

import pytest

from lvsfast import _native

ADVERT = bytes(range(40))


@pytest.mark.parametrize("impl", ["compiled", "python"])
def test_checksum_40_bytes(benchmark, impl):
    mod = _native.compiled_module("checksum") if impl == "compiled" else _native.twin_module("checksum")
    if mod is None:
        pytest.skip("compiled core not built")
    benchmark.group = "checksum 40 B"
    benchmark.extra_info["impl"] = impl
    assert benchmark(mod.inet_checksum, ADVERT) == mod.inet_checksum(ADVERT)
