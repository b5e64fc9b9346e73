"""Selector for the reader's hot loops: compiled ``lvsfast._core.conf_scan`` or its twin.

Chosen at the first call, not at import: both implementations import the config package (for
Node and the lexical rules), whose reader imports this module, so whichever is imported first
must find this module already complete. Each is called once per file read, so the lookup costs
nothing.
"""
from __future__ import annotations


from lvsfast._native import load as _load
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.node import Node

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any


def _impl() -> ModuleType:
    return _load("conf_scan")  # a sys.modules lookup once loaded


def scan_lines(reader: Any, lines: list[str], name: str) -> None:
    """Each plain statement of ``lines`` into ``reader.out``, every other line to ``reader.other_line``."""
    _impl().scan_lines(reader, lines, name)


def build_tree(lines: list[tuple[list[str], str, int, int]], diags: Diagnostics) -> tuple[Node, ...]:
    """The statements nested by their braces; problems go to ``diags``."""
    return _impl().build_tree(lines, diags)


__all__ = ["build_tree", "scan_lines"]
