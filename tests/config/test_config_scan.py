"""The reader's hot loops, compiled and pure: the same statements, tree and diagnostics for the
same text. Each case is read by the pure twin and by the implementation under test, and the
two results compared whole; the twin's own results are pinned by test_config_reader.py."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from support.impls import compiled_and_twin, implementations, resolve_impl, resolve_pair

from lvsfast import _native
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.reader import _Reader

TWIN = _native.twin_module("conf_scan")
SAMPLES = sorted(Path("/usr/share/doc/keepalived/samples").glob("keepalived.conf.*"))

CASES = [
    "",
    "\n\n   \n\t\n",
    "a x {\n b 1\n}\nc {\n d { e }\n}\nf\n{\n g\n}\nh { i } j\n",
    "a {\n\tb {\n\t\tc 1\n\t}\n}\n",
    "a {\r\n  b 1\r\n}\r\n",
    "a # comment { not a block\nb ! also\n c \"x # y\" { d }\n",
    "x {\n  y {\n    z 1\n  }\n  w {\n    v 2\n}\n",  # a missing '}' located by indentation
    "}\n}\na {\n",
    "{\nb\n{ {\nc { d } { e }\n",
    "a\u00a0b\u2003{\u2009c }\n\u3000d\n",  # Unicode whitespace splits tokens, as str.split does
    "$X=1\n@node a $X\n@^node b\n~SEQ(i, 3) s${i} {\n include nothing-here*\n}\n",
    "$M=a \\\n  b\n$M\nq 'it''s' \"a\\tb\"\n",
    "  include\ninclude_not x\nincludex y {\n}\n",
    "a {{ b }}\n",
    "\t \t a {\n\t}\n",
    "k \"unterminated {\n}\n",
]


def read_with(impl, text: str):
    d = Diagnostics()
    r = _Reader("node", d)
    impl.scan_lines(r, text.split("\n"), "t.conf")
    out = [(list(t), f, ln, ind) for t, f, ln, ind in r.out]
    tree = impl.build_tree(r.out, d)
    return out, tree, [(x.file, x.line, x.severity, x.message) for x in d.items], r.defs


@pytest.fixture(params=compiled_and_twin("conf_scan"))
def impl(request):
    """The compiled scanner: the twin is what it is compared with (the twin against itself proves
    nothing); the twin's own results are pinned by test_config_reader.py."""
    return resolve_pair(request.param)[0]


@pytest.mark.parametrize("text", CASES)
def test_scan_matches_the_twin(impl, text: str) -> None:
    assert read_with(impl, text) == read_with(TWIN, text)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_scan_matches_the_twin_on_keepalived_samples(impl, path: Path) -> None:
    text = path.read_text(errors="surrogateescape")
    got = read_with(impl, text)
    assert got == read_with(TWIN, text)
    assert got[1]  # the samples are not empty


def test_scan_matches_the_twin_on_random_lines(impl) -> None:
    rng = random.Random(1958)
    alphabet = ["a", "bc", " ", "  ", "\t", "{", "}", "#", "!", '"', "'", "$", "@", "~", "\r", "\u00a0",
                "include", "x=1", "\\", "\u2028", "\x0b"]
    for _ in range(3000):
        lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(rng.randint(1, 6))]
        text = "\n".join(lines)
        assert read_with(impl, text) == read_with(TWIN, text), text


@pytest.mark.parametrize("param", implementations("conf_scan"))
def test_nodes_are_the_reader_nodes(param) -> None:
    from lvsfast.config.node import Node

    _, tree, _, _ = read_with(resolve_impl(param), "a b {\n c d\n}\n")
    assert type(tree[0]) is Node and tree[0] == Node("a", ("b",), "t.conf", 1, (Node("c", ("d",), "t.conf", 2),), 3)
    assert tree[0].children[0].is_block is False and tree[0].is_block
