"""Small files on which ``lvsfast -t`` once disagreed with ``keepalived -t``, both run in one
namespace that has the interface they name: each verdict (exit status) must be keepalived's."""
from __future__ import annotations

import re

import pytest

from support.config import both_tests, keepalived_namespace

INSTANCE = """vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
{extra}    virtual_ipaddress {{
        10.9.9.9/32
    }}
}}
"""
SECURE = "global_defs {\n    enable_script_security\n    script_user root\n}\n"

CASES = {
    # keepalived: "Disabling track script chk since not found/accessible", exit 5, tracked or not.
    "missing tracked script": SECURE + 'vrrp_script chk {\n    script "/nonexistent/check.sh"\n}\n'
                              + INSTANCE.format(extra="    track_script {\n        chk\n    }\n"),
    "missing untracked script": SECURE + 'vrrp_script chk {\n    script "/nonexistent/check.sh"\n}\n'
                                + 'vrrp_script ok {\n    script "/bin/true"\n}\n'
                                + INSTANCE.format(extra="    track_script {\n        ok\n    }\n"),
    # A missing notify script is skipped, not an error.
    "missing notify script": SECURE + INSTANCE.format(extra='    notify_master "/nonexistent/n.sh"\n'),
    # keepalived's range for these starts at 0.000001 (and reaches 4294.967295).
    "garp interval 0": "global_defs {\n    vrrp_garp_interval 0\n    vrrp_gna_interval 0\n}\n",
    "garp interval 2": "global_defs {\n    vrrp_garp_interval 2\n    vrrp_gna_interval 0.000001\n}\n",
    # VRRPv2 carries whole seconds: keepalived warns "must be an integer. rounding" (exit 5).
    "v2 sub-second advert_int": INSTANCE.format(extra="    version 2\n    advert_int 0.1\n"),
    "v3 sub-second advert_int": INSTANCE.format(extra="    version 3\n    advert_int 0.1\n"),
    # A named block without its name: a missing parameter (exit 2) for most, an error (5) for some.
    **{f"unnamed {kw}": f"{kw} {{\n}}\n" for kw in ("vrrp_script", "vrrp_track_file", "track_file",
                                                    "vrrp_track_process", "vrrp_sync_group", "vrrp_instance",
                                                    "virtual_server_group")},
}


@pytest.fixture(scope="module")
def ns():
    yield from keepalived_namespace("kwv", ("eth0",))


@pytest.mark.keepalived
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verdict_as_keepalived(ns, tmp_path, name):
    _, ours, theirs = both_tests(ns, CASES[name], tmp_path)
    assert ours.returncode == theirs.returncode, (ours.output, theirs.output)


# An instance's own track_* lines that keepalived 2.2.7 changes or drops (vrrp_complete_instance):
# weights in a sync group without sync_group_tracking_weight and for the address owner, and a
# track_interface naming the instance's own interface. Each is a warning (exit 5) whose words
# lvsfast prints as they are, at the line of the tracked object.
SYNC = ('vrrp_script chk {\n    script "/bin/true"\n    weight 10\n}\n'
        'vrrp_track_file tf {\n    file "/tmp/lvsfast-vf-tf"\n    weight 3\n}\n'
        'vrrp_track_file tf1 {\n    file "/tmp/lvsfast-vf-tf1"\n}\n'
        "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n")
BFD = "bfd_instance B1 {\n    neighbor_ip 10.0.0.2\n    weight 20\n}\n"
VI_2 = INSTANCE.format(extra="").replace("VI_1", "VI_2").replace("51", "52").replace("10.9.9.9", "10.9.9.8")
TRACK_CASES = {
    "sync weighted script": SYNC + INSTANCE.format(extra="    track_script {\n        chk\n    }\n") + VI_2,
    "sync weighted interface": SYNC + INSTANCE.format(extra="    track_interface {\n        lo weight 10\n    }\n") + VI_2,
    "sync file weight 3": SYNC + INSTANCE.format(extra="    track_file {\n        tf\n    }\n") + VI_2,
    "sync file default weight": SYNC + INSTANCE.format(extra="    track_file {\n        tf1\n    }\n") + VI_2,
    "own interface": INSTANCE.format(extra="    track_interface {\n        eth0\n    }\n"),
    "own interface weighted in a sync group": SYNC + INSTANCE.format(
        extra="    track_interface {\n        eth0 weight 5\n    }\n") + VI_2,
    "owner weighted script": SYNC.split("vrrp_sync_group")[0] + INSTANCE.format(
        extra="    track_script {\n        chk\n    }\n").replace("priority 100", "priority 255"),
    "owner weighted interface": INSTANCE.format(extra="    track_interface {\n        lo weight 10\n    }\n")
    .replace("priority 100", "priority 255"),
    # track_bfd: the bfd_instance's weight counts as the line's.
    "sync weighted bfd": BFD + SYNC + INSTANCE.format(extra="    track_bfd {\n        B1\n    }\n") + VI_2,
    "owner weighted bfd": BFD + INSTANCE.format(extra="    track_bfd {\n        B1 weight -5\n    }\n")
    .replace("priority 100", "priority 255"),
}
TRACK_MESSAGE = r"^\((VI_\d)\) ((?:[Ii]gnoring|ignoring) .*(?:own interface|SYNC group.*|address.owner))$"


@pytest.mark.keepalived
@pytest.mark.parametrize("name", sorted(TRACK_CASES))
def test_track_rules_as_keepalived(ns, tmp_path, name):
    conf, ours, theirs = both_tests(ns, SECURE + TRACK_CASES[name], tmp_path)
    assert ours.returncode == theirs.returncode == 5, (ours.output, theirs.output)
    said = re.findall(TRACK_MESSAGE, theirs.output, re.M)
    assert len(said) == 1, theirs.output  # one message, even for the weighted own interface
    ours_said = re.findall(rf"^{re.escape(str(conf))}:\d+: warning: (\(VI_\d\) .*)$", ours.output, re.M)
    assert ours_said == [f"({said[0][0]}) {said[0][1]}"], (ours.output, theirs.output)


# A sync group's own weighted track_* lines when a member is the address owner (vrrp.c,
# sync_group_tracking_init): one warning each, in keepalived's words, and the weights cleared.
OWNER_GROUP = (BFD + SYNC.split("vrrp_sync_group")[0] + 'vrrp_track_process tp {\n    process sshd\n    weight 4\n}\n'
               + "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n    sync_group_tracking_weight\n"
               + "    track_script {\n        chk\n    }\n    track_file {\n        tf\n    }\n"
               + "    track_process {\n        tp\n    }\n    track_bfd {\n        B1\n    }\n"
               + "    track_interface {\n        lo weight 5\n    }\n}\n"
               + INSTANCE.format(extra="") + VI_2.replace("priority 100", "priority 255"))


@pytest.mark.keepalived
def test_sync_group_owner_rules_as_keepalived(ns, tmp_path):
    conf, ours, theirs = both_tests(ns, SECURE + OWNER_GROUP, tmp_path)
    assert ours.returncode == theirs.returncode == 5, (ours.output, theirs.output)
    said = re.findall(r"^(\(G\) Cannot have weighted .*)$", theirs.output, re.M)
    assert len(said) == 5, theirs.output
    ours_said = re.findall(rf"^{re.escape(str(conf))}:\d+: warning: (\(G\) .*)$", ours.output, re.M)
    assert sorted(ours_said) == sorted(said), (ours.output, theirs.output)


@pytest.mark.keepalived
def test_global_tracking_as_keepalived(ns, tmp_path):
    # Deprecated, yet it still sets sync_group_tracking_weight: the member's weighted script stays.
    group = SYNC.replace("    }\n}\n", "    }\n    global_tracking\n}\n")
    text = SECURE + group + INSTANCE.format(extra="    track_script {\n        chk\n    }\n") + VI_2
    conf, ours, theirs = both_tests(ns, text, tmp_path)
    assert ours.returncode == theirs.returncode == 5, (ours.output, theirs.output)
    said = re.findall(r"^\(.*?: Line \d+\) (\(G\) .*)$", theirs.output, re.M)
    assert said == ["(G) global_tracking is deprecated. Use track_interface/script/file on the sync group"], \
        theirs.output
    assert re.findall(rf"^{re.escape(str(conf))}:\d+: warning: (.*)$", ours.output, re.M) == said, ours.output


@pytest.mark.keepalived
def test_interface_on_member_and_group_as_keepalived(ns, tmp_path):
    group = SYNC.replace("    }\n}\n", "    }\n    track_interface {\n        lo weight 5\n        eth0\n    }\n}\n")
    text = SECURE + group + INSTANCE.format(extra="    track_interface {\n        lo\n    }\n") + VI_2
    conf, ours, theirs = both_tests(ns, text, tmp_path)
    assert ours.returncode == theirs.returncode == 5, (ours.output, theirs.output)
    said = re.findall(r"^(\(VI_\d\) track_interface .*)$", theirs.output, re.M)
    assert len(said) == 3, theirs.output  # lo and eth0 for VI_1, eth0 (its own) for VI_2
    ours_said = re.findall(rf"^{re.escape(str(conf))}:\d+: warning: (\(VI_\d\) track_interface .*)$", ours.output, re.M)
    assert sorted(ours_said) == sorted(said), (ours.output, theirs.output)
