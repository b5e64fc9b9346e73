"""Skips for missing root or binaries; under CI=true conftest turns them into failures."""
from __future__ import annotations

import os
import shutil

import pytest


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def need_binary(*names: str) -> None:
    for n in names:
        if shutil.which(n) is None and not os.path.exists(f"/usr/sbin/{n}"):
            pytest.skip(f"needs {n}")
