"""``lvsfast -t`` against ``keepalived -t`` on the lines of issue #23's last items: static track
groups, VIP options, and route/rule options keepalived 2.2.7 reads its own way. Both run in one
namespace holding the interfaces the files name; each verdict (exit status) must be keepalived's,
and so must the lines each complains about."""
from __future__ import annotations

import uuid

import pytest

from lvsfast.lab.netns import Lab
from support.config import (interfaces_namespace, keepalived_flagged_lines, keepalived_test, lvsfast_flagged_lines,
                            lvsfast_test)
from support.requires import need_binary, need_root

INSTANCE = """vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {{
        10.9.9.9/32
{vips}    }}
{extra}}}
"""
GROUP = "track_group TG1 {\n    group {\n        VI_1\n    }\n}\n"


def _inst(vips: str = "", extra: str = "") -> str:
    return INSTANCE.format(vips="".join(f"        {v}\n" for v in vips.split(";") if v), extra=extra)


def _static(block: str, line: str) -> str:
    return f"{block} {{\n    {line}\n}}\n"


CASES = {
    # track_group (static track groups)
    "track_group on static lines": GROUP + _static("static_ipaddress", "192.168.77.1/24 dev eth1 track_group TG1")
    + _static("static_routes", "192.168.78.0/24 via 192.168.77.2 dev eth1 track_group TG1")
    + _static("static_rules", "from 192.168.79.0/24 table 100 iif eth1 preference 100 track_group TG1") + _inst(),
    "track_group not found": _static("static_ipaddress", "192.168.77.1/24 dev eth1 track_group TG2") + _inst(),
    "track_group used before its block": _static("static_ipaddress", "192.168.77.1/24 dev eth1 track_group TG1")
    + GROUP + _inst(),
    "track_group on a rule without iif": GROUP
    + _static("static_rules", "from 192.168.79.0/24 table 100 preference 100 track_group TG1") + _inst(),
    "track_group on a VIP": GROUP + _inst("10.9.9.10/32 track_group TG1"),
    "track_group naming no instance": "track_group TG1 {\n    group {\n        VI_9\n    }\n}\n" + _inst(),
    # VIP options
    "VIP options": _inst("10.9.9.10/24 brd + label eth0:x;10.9.9.11 peer 10.8.0.1;10.9.9.12/24 home noprefixroute",
                         "    virtual_ipaddress_excluded {\n        2001:db8::1/128 preferred_lft forever\n"
                         "        2001:db8::2/64 -nodad mngtmpaddr\n    }\n"),
    "VIP peer with a prefix": _inst("10.9.9.11 peer 10.8.0.1/30"),
    "VIP nodad without the dash": _inst("10.9.9.11/32 nodad"),
    "VIP brd on IPv6": _inst("", "    virtual_ipaddress_excluded {\n        2001:db8::1/64 brd +\n    }\n"),
}


@pytest.fixture(scope="module")
def ns():
    need_root()
    need_binary("ip", "keepalived")
    with Lab(prefix="dri" + uuid.uuid4().hex[:5]) as lab:
        yield interfaces_namespace(lab, "kwv", ("eth0", "eth1"))


@pytest.mark.keepalived
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verdict_and_lines_as_keepalived(ns, tmp_path, name):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CASES[name])
    theirs = keepalived_test(ns, conf, tmp_path)
    ours = lvsfast_test(ns, conf)
    assert ours.returncode == theirs.returncode, (ours.output, theirs.output)
    assert lvsfast_flagged_lines(ours, conf) == keepalived_flagged_lines(theirs, conf), (ours.output, theirs.output)
