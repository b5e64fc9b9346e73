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
    # use_ipvlan
    "use_ipvlan": _inst("", "    use_ipvlan ipvl0 10.9.9.20/24 private\n"),
    "use_ipvlan without an address": _inst("", "    use_ipvlan ipvl0\n"),
    "use_ipvlan twice": _inst("", "    use_ipvlan ipvl0 10.9.9.20/24\n    use_ipvlan ipvl1 10.9.9.21/24\n"),
    # route and rule lines
    **{f"virtual_routes {line}": _inst("", f"    virtual_routes {{\n        {line}\n    }}\n") for line in (
        "192.168.5.0/24 dev eth0 append", "192.168.5.0/24 dev eth0 vrf blue", "192.168.5.0/24 dev eth0 proto 4",
        "192.168.5.0/24 dev eth0 protocol 4", "192.168.5.0/24 dev eth0 track_group TG1",
        "192.168.5.0/24 dev eth0 prepend", "192.168.5.0/24 dev eth0 no_track protocol bird")},
    **{f"static_routes {line}": _static("static_routes", line) + _inst() for line in (
        "192.168.5.0/24 dev eth0 append", "192.168.5.0/24 dev eth0 vrf blue", "192.168.5.0/24 dev eth0 proto 4",
        "192.168.5.0/24 dev eth0 protocol 4", "192.168.5.0/24 via 10.0.0.1 protocol 4",
        "192.168.5.0/24 via 10.0.0.1", "192.168.5.0/24 dev eth0 protocol keepalived")},
    **{f"virtual_rules {line}": _inst("", f"    virtual_rules {{\n        {line}\n    }}\n") for line in (
        "from 192.168.5.0/24 table 100 preference 10 l3mdev", "from 192.168.5.0/24 preference 10 l3mdev",
        "from 192.168.5.0/24 preference 10 l3mdev 1", "from 192.168.5.0/24 preference 10 l3mdev table 100",
        "from 192.168.5.0/24 table 100 preference 10 track_group TG1",
        # man 5 keepalived.conf's own examples
        "from 192.168.28.0/24 to 192.168.29.0/26 table 7 iif eth0 oif eth1 tos 22 fwmark 24/12 preference 39 "
        "realms 30/20 goto 40",
        "to 1:2:3:4:6:6:7:0/112 from 8:6:5:4:3:2::/96 l3mdev protocol 12 ip_proto UDP sport 10-20 dport 20-30",
        "to 1:2:3:4:6:6:7:0/112 from 8:6:5:4:3:2::/96 l3mdev protocol 12 ipproto UDP sport 10-20 dport 20-30",
        "to 10.0.0.0/8", "from 10.0.0.0/8 preference 5 type unreachable", "from 10.0.0.0/8 preference 5 nop",
        "from 10.0.0.0/8 preference 50 goto 40", "from 10.0.0.0/8 goto 40", "from 10.0.0.0/8 table 0 preference 5")},
}


# keepalived names no line for these (it finds them once the whole file is read); lvsfast does.
NO_LINE = {"use_ipvlan without an address"}


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
    if name in NO_LINE:
        return
    assert lvsfast_flagged_lines(ours, conf) == keepalived_flagged_lines(theirs, conf), (ours.output, theirs.output)
