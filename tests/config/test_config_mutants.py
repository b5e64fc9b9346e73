"""Mutated real configs: ``lvsfast -t`` reaches keepalived's verdict (exit status) on each.

Each mutant is one of Debian's samples (a fixed set) with one or two small edits (a number
or word replaced by an out-of-range or malformed value, a line deleted or duplicated), drawn
from a fixed seed so the set is the same on every run. Mutants that break the brace structure
are left out: keepalived's recovery from those is its own (see docs/keywords.md).
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from lvsfast.lab.netns import Lab
from support.config import interfaces_namespace, keepalived_test, lvsfast_test
from support.requires import need_binary, need_root

SAMPLES = sorted(Path("/usr/share/doc/keepalived/samples").glob("keepalived.conf.*"))
GARBAGE = ["0", "-1", "256", "70000", "1.5", "foo", "10.0.0.300", "10.0.0.1/33", "::g", "on", "maybe", "0x10",
           "1e3", "2001:db8::1", "eth9", "MASTER", "BACKUP", "300-200", "TCP", "DR", "wlc", "lc", "255", "65535"]
STRUCTURAL = ("Unexpected '{'", "missing '}'", "Extra '}'", "Missing '{'")
COUNT = 24


def _mutate(rng: random.Random, lines: list[str]) -> list[str] | None:
    i = rng.randrange(len(lines))
    op = rng.choice(["num", "tok", "del", "dup"])
    line = lines[i]
    if op == "num":
        nums = list(re.finditer(r"(?<![\w.])\d+(?![\w.])", line))
        if not nums:
            return None
        mt = rng.choice(nums)
        line = line[:mt.start()] + rng.choice(GARBAGE) + line[mt.end():]
    elif op == "tok":
        toks = line.split()
        if len(toks) < 2 or "{" in toks or "}" in toks:
            return None
        toks[rng.randrange(1, len(toks))] = rng.choice(GARBAGE)
        line = "    " + " ".join(toks)
    elif op == "del":
        if "{" in line or "}" in line:
            return None
        line = ""
    else:
        lines = lines[:i] + [line] + lines[i:]
    return lines[:i] + [line] + lines[i + 1:]


def mutants(seed: int = 20261125) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    sources = [p for p in SAMPLES if "localcheck" not in p.name]
    out: list[tuple[str, str]] = []
    while len(out) < COUNT and sources:
        src = rng.choice(sources)
        lines = _mutate(rng, src.read_text().split("\n"))
        if lines is None:
            continue
        if rng.random() < 0.5:
            lines = _mutate(rng, lines) or lines
        out.append((f"{len(out):02d}-{src.name}", "\n".join(lines)))
    return out


@pytest.fixture(scope="module")
def mutant_ns():
    need_root()
    need_binary("ip", "keepalived")
    with Lab() as lab:
        yield interfaces_namespace(lab, "mut")


@pytest.mark.keepalived
@pytest.mark.parametrize("name,text", mutants(), ids=[n for n, _ in mutants()])
def test_config_mutant_verdict_matches_keepalived(name, text, mutant_ns, tmp_path):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    ka = keepalived_test(mutant_ns, conf, tmp_path)
    if any(s in ka.output for s in STRUCTURAL) or ka.returncode < 0:
        return  # a broken brace structure: both fail, but keepalived's recovery is its own
    lf = lvsfast_test(mutant_ns, conf)
    assert lf.returncode == ka.returncode, f"keepalived:\n{ka.output}\nlvsfast:\n{lf.output}\nconfig:\n{text}"
