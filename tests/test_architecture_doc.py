"""docs/architecture.md is where a newcomer finds the room for a change: every path it names exists."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
# A path the page names: src/lvsfast/-relative (the page's rule) unless it starts with one of these.
OWN_ROOTS = ("src/", "bench/", "tests/", "docs/")


def named_paths(text: str) -> list[str]:
    """Backquoted names that are files or folders (a slash or a source suffix), not patterns."""
    out = []
    for code in re.findall(r"`([^`\s]+)`", text):
        if "<" in code or "*" in code or code.startswith("-"):
            continue
        if code.endswith("/") or re.search(r"\.(py|pyx|pxi|pxd|md|sh)$", code):
            out.append(code)
    # the compiled table's first column: src/_core/<name>.pyx
    out += [f"src/_core/{name}.pyx" for name in re.findall(r"^\| `(\w+)` \| `", text, re.M)]
    return out


def where(name: str) -> Path:
    return ROOT / name if name.startswith(OWN_ROOTS) else ROOT / "src" / "lvsfast" / name


def test_every_path_the_architecture_page_names_exists():
    names = named_paths(DOC.read_text())
    assert len(names) > 100  # the page names its modules, and this test reads them
    missing = sorted({n for n in names if not where(n).exists()})
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_a_wrong_path_is_caught():
    names = named_paths("see `vrrp/machine.py`, `vrrp/nosuch.py`, `src/_core/x.pyx` and\n"
                        "| `nosuch_core` | `vrrp/_wire_py.py` |\n")
    assert sorted(n for n in names if not where(n).exists()) == [
        "src/_core/nosuch_core.pyx", "src/_core/x.pyx", "vrrp/nosuch.py"]
