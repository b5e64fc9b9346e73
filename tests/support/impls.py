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


def compiled_and_twin(name: str) -> list:
    """pytest params for a differential test of a hot module: one case, marked compiled, whose
    value :func:`resolve_pair` turns into (compiled module, pure twin) fed the same inputs."""
    return [pytest.param(name, id="compiled-vs-python", marks=pytest.mark.compiled)]


def resolve_pair(param: str) -> tuple[ModuleType, ModuleType]:
    """(compiled, twin) for :func:`compiled_and_twin`'s param; a skip (a failure under CI) when the
    compiled module was not built, never the twin compared with itself."""
    return resolve_impl(param), _native.twin_module(param)
