"""RFC 1071 checksum: both implementations, known vectors and a differential property."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from support.impls import compiled_and_twin, implementations, resolve_impl, resolve_pair


@pytest.fixture(params=implementations("checksum"), scope="module")
def ck(request):
    return resolve_impl(request.param)


def test_rfc1071_example(ck):
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ck.ones_sum(data) == 0xDDF2
    assert ck.inet_checksum(data) == 0x220D


def test_empty_and_odd(ck):
    assert ck.inet_checksum(b"") == 0xFFFF
    assert ck.ones_sum(b"\x01") == 0x0100
    assert ck.inet_checksum(b"\xff\xff" * 1000) == 0


def test_checksum_verifies_to_zero(ck):
    data = bytearray(b"\x21\x33\x64\x01\x00\x00\x00\x00" + bytes(range(40)))
    c = ck.inet_checksum(bytes(data))
    data[6:8] = c.to_bytes(2, "big")
    assert ck.inet_checksum(bytes(data)) == 0


@pytest.mark.parametrize("pair", compiled_and_twin("checksum"))
@given(st.binary(max_size=3000), st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_twins_agree(pair, data, initial):
    comp, twin = resolve_pair(pair)
    assert comp.inet_checksum(data, initial) == twin.inet_checksum(data, initial)
    assert comp.ones_sum(data, initial) == twin.ones_sum(data, initial)
