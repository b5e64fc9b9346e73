from typing import Any

from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.node import Node

def scan_lines(reader: Any, lines: list[str], name: str) -> None: ...
def build_tree(lines: list[tuple[list[str], str, int, int]], diags: Diagnostics) -> tuple[Node, ...]: ...
