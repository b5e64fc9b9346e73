"""Skips for missing root or binaries; under CI=true conftest turns them into failures.

scripts/test.sh's second run (the unit tests against the pure twins) sets
LVSFAST_TEST_UNIT_ONLY=1: there a test that asks for root is out of scope and skipped as such,
the one skip CI allows (conftest.py).
"""
from __future__ import annotations

import os
import shutil

import pytest

UNIT_ONLY = os.environ.get("LVSFAST_TEST_UNIT_ONLY", "") not in ("", "0")
#: How a skip for being out of the unit run begins (conftest lets exactly these through under CI).
OUT_OF_UNIT_RUN = "out of the unit run"


def need_root() -> None:
    if UNIT_ONLY:
        pytest.skip(f"{OUT_OF_UNIT_RUN}: needs root (namespaces, raw sockets)")
    if os.geteuid() != 0:
        pytest.skip("needs root")


def need_binary(*names: str) -> None:
    for n in names:
        if shutil.which(n) is None and not os.path.exists(f"/usr/sbin/{n}"):
            pytest.skip(f"needs {n}")
