"""Debian's 25 keepalived samples, and our own configs in ``data/``: ``lvsfast -t`` agrees with
``keepalived -t`` on each.

Both run in one fresh namespace holding the interfaces the samples name, so the environment
check sees the same world. Same exit status (0 clean, 5 problems, 6 script security), and
every line keepalived flags ("(FILE: Line N)") is flagged by lvsfast as "FILE:N:".
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lvsfast.lab.netns import Lab
from support.config import (interfaces_namespace, keepalived_flagged_lines, keepalived_test,
                            lvsfast_flagged_lines, lvsfast_test)
from support.requires import need_binary, need_root

SAMPLES_DIR = Path("/usr/share/doc/keepalived/samples")
SAMPLES = sorted(p.name for p in SAMPLES_DIR.glob("keepalived.conf.*")) if SAMPLES_DIR.is_dir() else []
# Ours: every keyword of keepalived.conf(5) in use ("kitchen" files), and broken configs.
DATA_DIR = Path(__file__).parent / "data"
OURS = sorted(p.name for p in DATA_DIR.glob("*.conf"))


@pytest.fixture(scope="module")
def sample_ns():
    need_root()
    need_binary("ip", "keepalived")
    with Lab() as lab:
        yield interfaces_namespace(lab)


def test_all_samples_present():
    # Debian's package ships 25; if it ever ships fewer, this comparison lost coverage.
    assert len(SAMPLES) == 25, SAMPLES


@pytest.mark.keepalived
@pytest.mark.parametrize("conf", [SAMPLES_DIR / n for n in SAMPLES] + [DATA_DIR / n for n in OURS],
                         ids=SAMPLES + OURS)
def test_config_sample_matches_keepalived(conf, sample_ns, tmp_path):
    ka = keepalived_test(sample_ns, conf, tmp_path)
    lf = lvsfast_test(sample_ns, conf)
    assert lf.returncode == ka.returncode, f"keepalived:\n{ka.output}\nlvsfast:\n{lf.output}"
    missing = keepalived_flagged_lines(ka, conf) - lvsfast_flagged_lines(lf, conf)
    assert not missing, f"lines keepalived flags but lvsfast does not: {sorted(missing)}\n" \
                        f"keepalived:\n{ka.output}\nlvsfast:\n{lf.output}"


@pytest.mark.keepalived
def test_config_sample_real_mistakes(sample_ns):
    syncd = SAMPLES_DIR / "keepalived.conf.vrrp.lvs_syncd"
    out = lvsfast_test(sample_ns, syncd).output
    assert f"{syncd}:4: warning: unknown keyword 'VI_2'" in out
    rules = SAMPLES_DIR / "keepalived.conf.vrrp.rules"
    out = lvsfast_test(sample_ns, rules).output
    assert re.search(re.escape(f"{rules}:11: error: ") + r".*192\.168\.100\./24", out)
