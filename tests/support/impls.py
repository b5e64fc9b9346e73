"""Parametrize a test over a hot module's pure twin and its compiled form."""
from __future__ import annotations

from types import ModuleType

import pytest

from lvsfast import _native


def implementations(name: str) -> list:
    """pytest params for a hot module: its pure twin and (marked) its compiled form."""
    return [
        pytest.param(_native.twin_module(name), id="python"),
        pytest.param(name, id="compiled", marks=pytest.mark.compiled),
    ]


def resolve_impl(param: ModuleType | str) -> ModuleType:
    if isinstance(param, str):
        mod = _native.compiled_module(param)
        if mod is None:
            pytest.skip(f"lvsfast._core.{param} was not built")
        return mod
    return param
