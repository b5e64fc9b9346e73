"""Configurations nobody here wrote: keepalived's samples and users' files from public projects
(``data/corpus/``, sources in its README). For each:

- ``lvsfast -t`` and ``keepalived -t`` reach the same verdict (exit status), both run in one
  namespace holding every interface the files name;
- nothing is silently ignored: each keyword is one lvsfast acts on (``works``,
  ``works-differently``, ``lvsfast-only`` in support_table.py), or ``lvsfast -t`` flags its line
  (the "not supported" warning for a ``not-supported`` one, a complaint for the rest).

The keyword walk here is the test's own, not unsupported.py's, so a gap in that pass shows.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.node import Node
from lvsfast.config.reader import read
from lvsfast.config.support_table import DIFFERENT, LVSFAST_ONLY, NOT_SUPPORTED, TABLE, WORKS
from lvsfast.lab.netns import Lab
from support.config import SAMPLE_INTERFACES, interfaces_namespace, keepalived_test, lvsfast_test
from support.requires import need_binary, need_root

CORPUS_DIR = Path(__file__).parent / "data" / "corpus"
CORPUS = sorted(CORPUS_DIR.glob("*.conf"))
SAMPLES_DIR = Path("/usr/share/doc/keepalived/samples")
SAMPLES = sorted(SAMPLES_DIR.glob("keepalived.conf.*")) if SAMPLES_DIR.is_dir() else []
FILES = CORPUS + SAMPLES
IDS = [p.name for p in FILES]
#: Every interface the corpus names, beside those of the samples.
INTERFACES = tuple(dict.fromkeys(SAMPLE_INTERFACES + ("ens3", "ens18", "ens192", "bond0")))

# Where a block's children are keywords, the table they are looked up in (first match wins).
CHECKERS = {"TCP_CHECK": ("checker",), "PING_CHECK": ("checker",), "ICMP_CHECK": ("checker",),
            "HTTP_GET": ("HTTP_GET", "checker"), "SSL_GET": ("HTTP_GET", "checker"),
            "SMTP_CHECK": ("SMTP_CHECK", "checker"), "DNS_CHECK": ("DNS_CHECK", "checker"),
            "MISC_CHECK": ("MISC_CHECK", "checker"), "UDP_CHECK": ("UDP_CHECK", "checker"),
            "FILE_CHECK": ("FILE_CHECK",), "BFD_CHECK": ("BFD_CHECK",)}
KEYWORD_BLOCKS = {"global_defs": ("global_defs",), "vrrp_instance": ("vrrp_instance",),
                  "vrrp_sync_group": ("vrrp_sync_group",), "vrrp_script": ("vrrp_script",),
                  "vrrp_track_file": ("vrrp_track_file",), "vrrp_track_process": ("vrrp_track_process",),
                  "virtual_server": ("virtual_server",), "real_server": ("real_server",),
                  "authentication": ("authentication",), "url": ("url",), "host": ("host",), "SSL": ("SSL",),
                  **CHECKERS}
ACTS = {WORKS, DIFFERENT, LVSFAST_ONLY}


def keyword_uses(nodes: tuple[Node, ...]) -> list[tuple[str, int, str, str | None]]:
    """(file, line, keyword, its status or None when unknown there) for every keyword line."""
    out: list[tuple[str, int, str, str | None]] = []

    def walk(children: tuple[Node, ...], tables: tuple[str, ...]) -> None:
        for n in children:
            entry = next((TABLE[t][n.keyword] for t in tables if n.keyword in TABLE[t]), None)
            out.append((n.file, n.line, n.keyword, entry[0] if entry else None))
            if entry and entry[0] in ACTS and n.children and n.keyword in KEYWORD_BLOCKS:
                if tables == ("top",) or n.keyword not in ("global_defs",):
                    walk(n.children, KEYWORD_BLOCKS[n.keyword])

    walk(nodes, ("top",))
    return out


@pytest.fixture(scope="module")
def corpus_ns():
    need_root()
    need_binary("ip", "keepalived")
    with Lab() as lab:
        yield interfaces_namespace(lab, "kwc", INTERFACES)


def test_corpus_size():
    assert len(CORPUS) >= 20, [p.name for p in CORPUS]
    readme = (CORPUS_DIR / "README.md").read_text()
    for p in CORPUS:
        assert f"`{p.name}`" in readme, f"{p.name} has no source in data/corpus/README.md"


#: Known differences, each a bug outside this test's reach; strict, so a fix makes them fail here.
#: (Empty now: a vrrp_script whose program is missing, and vrrp_garp_interval 0, were the last.)
KNOWN: dict[str, str] = {}
VERDICT_CASES = [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN[p.name])) if p.name in KNOWN
                 else p for p in FILES]


@pytest.mark.keepalived
@pytest.mark.parametrize("conf", VERDICT_CASES, ids=IDS)
def test_corpus_same_verdict_as_keepalived(conf, corpus_ns, tmp_path):
    ka = keepalived_test(corpus_ns, conf, tmp_path)
    lf = lvsfast_test(corpus_ns, conf)
    assert lf.returncode == ka.returncode, f"keepalived:\n{ka.output}\nlvsfast:\n{lf.output}"


@pytest.mark.parametrize("conf", FILES, ids=IDS)
def test_corpus_nothing_silently_ignored(conf):
    run = lvsfast_test(None, conf)
    flagged = {(f, int(line)) for f, line in re.findall(r"^(.+?):(\d+): (?:error|warning): ", run.output, re.M)}
    silent = []
    for file, line, kw, status in keyword_uses(read(str(conf), Diagnostics())):
        if status in ACTS:
            continue
        if status == NOT_SUPPORTED:
            if f"{file}:{line}: warning: {kw} is not supported by lvsfast; ignored" not in run.output:
                silent.append(f"{file}:{line}: {kw} (not-supported) without its warning")
        elif (file, line) not in flagged:  # unknown to keepalived here, or "unknown" in the table
            silent.append(f"{file}:{line}: {kw} ({status or 'not in the inventory'}) not flagged")
    assert not silent, "\n".join(silent) + "\n" + run.output
