"""The top-level ``track_file NAME { }`` block (keepalived 2.2.7's name; ``vrrp_track_file`` is
the older one) means what vrrp_track_file means, and keepalived accepts the same file (issue #23)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lvsfast.config import analyse, loads
from lvsfast.lab.netns import Lab
from lvsfast.vrrp import spec
from lvsfast.vrrp.track_spec import TrackSpec
from support.config import interfaces_namespace, keepalived_test, lvsfast_test
from support.requires import need_binary, need_root

CONF = Path(__file__).parent / "data" / "track_file_block.conf"
TEXT = CONF.read_text()
OLD_NAME = TEXT.replace("\ntrack_file TF_MAINT {", "\nvrrp_track_file TF_MAINT {")


def test_track_file_block_builds_the_model_vrrp_track_file_builds():
    assert OLD_NAME != TEXT
    a = analyse("x.conf", "t", text=TEXT)
    assert not a.diagnostics, a.diagnostics
    new, old = a.config, loads(OLD_NAME, "x.conf", "t")
    assert new == old
    (tf,) = new.vrrp_track_files
    assert (tf.name, tf.path, tf.weight, tf.init_file) == ("TF_MAINT", "/run/lvsfast-test-maint", 1, 0)
    (vi,) = new.vrrp_instances
    assert [(t.name, t.weight) for t in vi.track_file] == [("TF_MAINT", -20)]
    # ... and the instance tracks it with the weight given in the instance.
    s = spec.build(vi, new, address_of=lambda ifname, family: "192.0.2.1")
    assert s.tracks == (TrackSpec("file", "TF_MAINT", -20),)


def test_track_file_block_serves_a_file_check():
    text = TEXT + """virtual_server 192.0.2.20 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.0.2.30 80 {
        FILE_CHECK {
            track_file TF_MAINT
        }
    }
}
"""
    a = analyse("x.conf", "t", text=text)
    assert not a.diagnostics, a.diagnostics
    (ck,) = a.config.virtual_servers[0].real_servers[0].checkers
    assert ck.track_file == "TF_MAINT"


@pytest.mark.parametrize("text, message", [
    ("track_file {\n    file /tmp/x\n}\n", "1: error: track_file needs a name and a { } block"),
    ("track_file TF\n", "1: error: missing '{' at the beginning of the track_file block"),
])
def test_track_file_block_without_name_or_braces(text, message):
    a = analyse("x.conf", "t", text=text)
    assert [f"{d.line}: {d.severity}: {d.message}" for d in a.diagnostics] == [message]


@pytest.mark.keepalived
def test_keepalived_and_lvsfast_accept_the_track_file_block(tmp_path):
    need_root()
    need_binary("ip", "keepalived")
    with Lab() as lab:
        ns = interfaces_namespace(lab, "tfb")
        ka = keepalived_test(ns, CONF, tmp_path)
        lf = lvsfast_test(ns, CONF)
    assert ka.returncode == 0, ka.output
    assert lf.returncode == 0, lf.output
