"""The compiled core is in use when it should be, and LVSFAST_NO_EXTENSIONS forces the twins."""
from __future__ import annotations

import os
import subprocess
import sys

import lvsfast
from lvsfast import _native


def test_compiled_core_loaded_when_expected():
    # The guard: on CPython without the opt-out, a missing compiled module is a build bug.
    if _native.extensions_wanted():
        missing = [n for n in _native.TWINS if _native.compiled_module(n) is None]
        assert not missing, f"compiled modules expected but not importable: {missing}"
        assert lvsfast.compiled_core() is True


def test_env_forces_twins():
    code = (
        "import lvsfast, lvsfast.vrrp.checksum as c;"
        "print(lvsfast.compiled_core(), c.inet_checksum.__module__)"
    )
    env = dict(os.environ, LVSFAST_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "lvsfast.vrrp._checksum_py"]


def test_selectors_agree_with_compiled_core():
    import lvsfast.vrrp.checksum as c

    compiled = lvsfast.compiled_core()
    assert (c.inet_checksum.__module__ != "lvsfast.vrrp._checksum_py") == compiled
