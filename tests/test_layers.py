"""The package's shape: no import cycle, no layer importing one above it, no oversized file.

Every import is read from the source (``ast`` for ``src/lvsfast``, the import statements of
``src/_core/*.pyx``), at any depth: a function-level or ``TYPE_CHECKING`` import is a dependency
all the same, and none is exempted. A compiled module ``lvsfast._core.X`` stands in the layer of
its pure twin (``_native.TWINS``), so it obeys that layer's rules.

Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``; those implicit edges are
left out, or every package would be a cycle with its own children.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "lvsfast"
CORE = SRC / "_core"

# -- layers --------------------------------------------------------------------------------------

#: Modules at the bottom that anything may use; they use nothing above themselves.
SHARED = frozenset({"frozen", "_native", "ipv4text", "_slots_py", "heap", "netlink", "scripts"})
#: Layer -> the only layers it may import.
ONLY: dict[str, frozenset[str]] = {
    "config": frozenset({"config", "frozen", "_native", "ipv4text", "_slots_py", "_core"}),
    **{s: SHARED | {"_core"} for s in SHARED},
}
#: Layer -> layers it must never import.
NEVER: dict[str, frozenset[str]] = {
    "dataplane": frozenset({"check", "vrrp", "daemon", "ipvs", "nft", "lab"}),
    "ipvs": frozenset({"check", "vrrp", "daemon", "lab"}),
    "nft": frozenset({"check", "vrrp", "daemon", "lab"}),
    "vrrp": frozenset({"daemon", "check", "lab"}),
    # check reaches the kernel through dataplane's Backend, not ipvs/nft themselves.
    "check": frozenset({"daemon", "vrrp", "ipvs", "nft", "lab"}),
    "daemon": frozenset({"lab"}),
    # BFD's protocol core is beneath whatever runs it (the VRRP child's bfd_master_down, track_bfd).
    "bfd": frozenset({"vrrp", "check", "daemon", "dataplane", "ipvs", "nft", "lab"}),
}
#: Edges that break a rule today, each with why it stands. Remove an entry when its edge goes
#: (test_layer_exceptions_still_needed says when).
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("lvsfast.dataplane.select", "lvsfast.ipvs.backend"):
        "the one place that picks and builds a backend; imported there only when it is chosen",
    ("lvsfast.dataplane.select", "lvsfast.nft.backend"):
        "the one place that picks and builds a backend; imported there only when it is chosen",
}

# -- file size -----------------------------------------------------------------------------------

MAX_LINES = 650


# -- reading the imports -------------------------------------------------------------------------

def _module_files() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = p
    for p in CORE.glob("*.pyx"):
        mods[f"lvsfast._core.{p.stem}"] = p
    return mods


MODULES = _module_files()


def _pyx_imports(text: str) -> ast.Module:
    """The import statements of a .pyx (the rest is not Python), as a module to walk."""
    stmts, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].split("#", 1)[0]
        if re.match(r"\s*(from\s+\S+\s+import\b|import\s)", line):
            stmt, depth = line.strip(), line.count("(") - line.count(")")
            while depth > 0 and i + 1 < len(lines):
                i += 1
                more = lines[i].split("#", 1)[0]
                stmt += " " + more.strip()
                depth += more.count("(") - more.count(")")
            stmts.append(ast.parse(stmt).body[0])
        i += 1
    return ast.Module(body=stmts, type_ignores=[])


def _target(name: str) -> str | None:
    """The module of ours that importing ``name`` runs (an attribute import resolves to its module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the import statements under ``if TYPE_CHECKING:``: annotations, never run."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _imports(mod: str, path: Path) -> list[tuple[str, int, bool]]:
    """(module imported, line, under TYPE_CHECKING) for every import of ours in ``path``, at any depth."""
    text = path.read_text()
    tree = _pyx_imports(text) if path.suffix == ".pyx" else ast.parse(text, str(path))
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    typing_only = _type_only(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(t, node.lineno, id(node) in typing_only) for a in node.names if (t := _target(a.name))]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base != "lvsfast" and not base.startswith("lvsfast."):
                continue
            for a in node.names:
                t = f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else _target(base)
                if t:
                    out.append((t, node.lineno, id(node) in typing_only))
    return [(t, ln, ty) for t, ln, ty in out if t != mod]


def _edges(runtime: bool = False) -> dict[str, dict[str, int]]:
    """Who imports whom. ``runtime``: leave out imports made for annotations only, which can
    close no cycle (the layer rules still count them: a type names its layer too)."""
    graph: dict[str, dict[str, int]] = {}
    for mod, path in MODULES.items():
        targets = graph.setdefault(mod, {})
        for t, line, type_only in _imports(mod, path):
            if not (runtime and type_only):
                targets.setdefault(t, line)
    return graph


GRAPH = _edges()
RUNTIME = _edges(runtime=True)


def _twins() -> dict[str, str]:
    tree = ast.parse((PKG / "_native.py").read_text())
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id == "TWINS":
                return ast.literal_eval(node.value)
    raise AssertionError("lvsfast/_native.py has no TWINS table")


TWINS = _twins()


def layer(mod: str) -> str:
    parts = mod.split(".")
    if parts[:2] == ["lvsfast", "_core"] and len(parts) > 2:
        return layer(TWINS[parts[2]]) if parts[2] in TWINS else "_core"
    return parts[1] if len(parts) > 1 else "lvsfast"


def _where(mod: str, target: str) -> str:
    return f"{MODULES[mod].relative_to(SRC.parent)}:{GRAPH[mod][target]}"


def _broken_rules() -> dict[tuple[str, str], str]:
    out = {}
    for mod, targets in GRAPH.items():
        low = layer(mod)
        for t in targets:
            up = layer(t)
            if low in ONLY and up not in ONLY[low]:
                out[(mod, t)] = f"{low} imports only {', '.join(sorted(ONLY[low]))}"
            elif up in NEVER.get(low, ()):
                out[(mod, t)] = f"{low} never imports {up}"
    return out


# -- the tests -----------------------------------------------------------------------------------

def test_the_import_graph_was_read():
    # A parser that silently finds nothing would pass everything below.
    assert len(MODULES) > 100 and sum(map(len, GRAPH.values())) > 150
    assert "lvsfast.config.model" in GRAPH["lvsfast.config.checks"]
    assert "lvsfast.config.lexical" in GRAPH["lvsfast._core.conf_scan"]
    assert layer("lvsfast._core.tcp_probe") == "check"


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as one cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in RUNTIME.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(_one_cycle(sorted(comp)))

    for v in sorted(RUNTIME):
        if v not in index:
            visit(v)
    return found


def _one_cycle(comp: list[str]) -> list[str]:
    """A shortest way round, from the component's first module back to itself."""
    members, start = set(comp), comp[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(RUNTIME[v]):
            if w == start:
                return paths[v] + [start]
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return comp


def test_no_import_cycle():
    problems = []
    for cycle in _cycles():
        steps = [f"  {a} -> {b}  ({_where(a, b)})" for a, b in zip(cycle, cycle[1:])]
        problems.append("import cycle:\n" + "\n".join(steps))
    assert not problems, "\n".join(problems)


def test_no_layer_imports_one_above_it():
    broken = {e: why for e, why in _broken_rules().items() if e not in EXCEPTIONS}
    assert not broken, "\n".join(f"{_where(m, t)}: {m} imports {t}: {why}" for (m, t), why in sorted(broken.items()))


def test_layer_exceptions_still_needed():
    needed = _broken_rules()
    stale = [e for e in EXCEPTIONS if e not in needed]
    assert not stale, f"these edges are gone or allowed now; remove them from EXCEPTIONS: {stale}"


def test_no_file_too_long():
    long = []
    for p in sorted([*PKG.rglob("*.py"), *CORE.glob("*.pyx")]):
        rel = p.relative_to(SRC).as_posix()
        n = len(p.read_text().splitlines())
        if n > MAX_LINES:
            long.append(f"src/{rel}: {n} lines")
    assert not long, f"split these by what they do (at most {MAX_LINES} lines a file):\n" + "\n".join(long)
