"""The keyword inventory (config/support_table.py) against the page, the builder and the warnings.

- docs/keywords.md's status section is the table's rendering, so the page cannot drift.
- The builder's keyword tables and the inventory agree: every keyword the builder takes is
  listed, and every keyword listed as having an effect is one the builder takes.
- Every ``not-supported`` keyword, in its block, gives ``FILE:LINE: warning: KEYWORD is not
  supported by lvsfast; ignored``, and ``lvsfast -t`` keeps keepalived's exit status.
- The daemon logs those warnings at start and at every reload.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lvsfast.config import analyse
from lvsfast.config.support_table import (DIFFERENT, LVSFAST_ONLY, NOT_SUPPORTED, TABLE, TITLES, UNKNOWN,
                                          WORKS, markdown, splice)
from lvsfast.config.unsupported import NOT_SUPPORTED_SUFFIX, counts_for_verdict
from support.config import lvsfast_test

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "keywords.md"
TESTS = ROOT / "tests"
STATUSES = {WORKS, DIFFERENT, NOT_SUPPORTED, LVSFAST_ONLY, UNKNOWN}


# ---- the page -----------------------------------------------------------------------------------

def test_page_is_the_table():
    page = PAGE.read_text(encoding="utf-8")
    assert markdown() in page, ("docs/keywords.md's keyword status section differs from "
                                "support_table.py: run python -m lvsfast.config.support_table --write docs/keywords.md")
    assert splice(page) == page


def test_table_shape():
    assert set(TITLES) == set(TABLE), "every block has a heading on the page"
    for block, kws in TABLE.items():
        for kw, (status, note) in kws.items():
            assert status in STATUSES, (block, kw, status)
            if status in (DIFFERENT, UNKNOWN, LVSFAST_ONLY) and block not in ("global_defs", "virtual_server",
                                                                              "real_server", "vrrp_instance"):
                assert note, f"{block} {kw}: a {status} keyword says why"
            if status == DIFFERENT:
                assert note, f"{block} {kw}: works-differently states the difference"


# ---- the builder's tables -----------------------------------------------------------------------

def _builder(name: str):
    """A table of the builder's, wherever it lives (build.py's top level or config/blocks/)."""
    for where in ("lvsfast.config.build", "lvsfast.config.blocks"):
        mod = importlib.import_module(where)
        if hasattr(mod, name):
            return getattr(mod, name)
        for info in pkgutil.walk_packages(getattr(mod, "__path__", []), mod.__name__ + "."):
            sub = importlib.import_module(info.name)
            if hasattr(sub, name):
                return getattr(sub, name)
    raise AssertionError(f"the builder has no table {name} any more: update _builder_keywords()")


#: The top-level statements build() handles in its own branches (not a table of its own).
TOP_BRANCHES = {"global_defs", "vrrp_script", "vrrp_track_file", "track_file", "vrrp_track_process", "vrrp_sync_group",
                "vrrp_instance", "virtual_server_group", "virtual_server", "SSL", "static_ipaddress",
                "static_routes", "static_rules", "bfd_instance"}


def _builder_keywords() -> dict[str, set[str]]:
    """Block -> the keywords the builder takes there, from its handler tables."""
    checkers = _builder("_CHECKERS")
    common = set(_builder("_CHECKER_COMMON"))
    out = {
        "top": TOP_BRANCHES | set(_builder("TOP_LOOSE")),
        "global_defs": set(_builder("GLOBAL")),
        "vrrp_instance": set(_builder("INSTANCE")),
        "vrrp_sync_group": set(_builder("SYNC_GROUP")),
        "bfd_instance": set(_builder("BFD_KEYWORDS")),
        "vrrp_script": set(_builder("_SCRIPT")),
        "vrrp_track_file": set(_builder("TRACK_FILE")),
        "vrrp_track_process": set(_builder("TRACK_PROCESS")),
        "virtual_server": set(_builder("_VS")) | {"real_server"},
        "real_server": set(_builder("_RS")) | set(_builder("CHECKER_CLASSES")),
        "checker": common,
        "url": set(_builder("_URL")),
        "host": set(_builder("_SMTP_HOST")),
        "SSL": set(_builder("SSL")),
        "virtual_ipaddress": set(_builder("_ADDR_FLAGS")) | set(_builder("_ADDR_VALUES")) | {"preferred_lft"},
        "virtual_routes": (set(_builder("_ROUTE_FLAGS")) | set(_builder("_ROUTE_VALUE_OPTIONS"))
                           | set(_builder("_ROUTE_TYPES"))
                           # route_of()'s own branches
                           | {"via", "gw", "or", "src", "dev", "table", "scope", "metric", "preference", "priority",
                              "no_track", "to"}),
    }
    for kind in ("HTTP_GET", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK", "UDP_CHECK"):
        out[kind] = set(checkers[kind]) - common
    out["HTTP_GET"].add("nb_get_retry")  # keepalived's place for it; the builder takes it in every checker
    out["FILE_CHECK"] = set(checkers["FILE_CHECK"])
    out["BFD_CHECK"] = set(checkers["BFD_CHECK"])
    return out


def test_builder_takes_nothing_the_inventory_does_not_list():
    for block, accepted in _builder_keywords().items():
        missing = accepted - set(TABLE[block])
        assert not missing, f"{block}: the builder takes {sorted(missing)}, which support_table.py does not list"


def test_inventory_effects_are_keywords_the_builder_takes():
    for block, accepted in _builder_keywords().items():
        claimed = {kw for kw, (status, _) in TABLE[block].items() if status in (WORKS, DIFFERENT, LVSFAST_ONLY)}
        claimed.discard("include")  # the reader's, not the builder's
        wrong = claimed - accepted
        assert not wrong, f"{block}: support_table.py says {sorted(wrong)} work, but the builder does not take them"


# ---- every not-supported keyword warns, where it is -------------------------------------------

VS = "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.0.2 80 {\n"
WRAP = {
    "top": ("", ""),
    "global_defs": ("global_defs {\n", "}\n"),
    "vrrp_instance": ("vrrp_instance VI {\n interface eth0\n virtual_router_id 5\n", "}\n"),
    "authentication": ("vrrp_instance VI {\n interface eth0\n authentication {\n", "}\n}\n"),
    "vrrp_sync_group": ("vrrp_sync_group G {\n", "}\n"),
    "vrrp_script": ("vrrp_script S {\n script /bin/true\n", "}\n"),
    "vrrp_track_file": ("vrrp_track_file F {\n file /tmp/x\n", "}\n"),
    "vrrp_track_process": ("vrrp_track_process P {\n process foo\n", "}\n"),
    "SSL": ("SSL {\n", "}\n"),
    "virtual_server": ("virtual_server 10.0.0.1 80 {\n", "}\n"),
    "real_server": (VS, "}\n}\n"),
    "checker": (VS + "TCP_CHECK {\n", "}\n}\n}\n"),
    "HTTP_GET": (VS + "HTTP_GET {\n url {\n path /\n }\n", "}\n}\n}\n"),
    "url": (VS + "HTTP_GET {\n url {\n path /\n", "}\n}\n}\n}\n"),
    "SMTP_CHECK": (VS + "SMTP_CHECK {\n", "}\n}\n}\n"),
    "host": (VS + "SMTP_CHECK {\n host {\n", "}\n}\n}\n}\n"),
    "DNS_CHECK": (VS + "DNS_CHECK {\n", "}\n}\n}\n"),
    "MISC_CHECK": (VS + "MISC_CHECK {\n misc_path /bin/true\n", "}\n}\n}\n"),
    "UDP_CHECK": (VS + "UDP_CHECK {\n", "}\n}\n}\n"),
    "FILE_CHECK": (VS + "FILE_CHECK {\n track_file F\n", "}\n}\n}\n"),
    "bfd_instance": ("bfd_instance B {\n neighbor_ip 10.0.0.2\n", "}\n"),
    "BFD_CHECK": (VS + "BFD_CHECK {\n name B\n", "}\n}\n}\n"),
}
# Blocks whose lines carry options: the block, and a line with the option in it.
OPTION_LINES = {
    "virtual_ipaddress": ("virtual_ipaddress", "10.0.0.9/32 {kw} {value}"),
    "virtual_routes": ("virtual_routes", "10.1.0.0/16 dev eth0 {kw} {value}"),
    "virtual_rules": ("virtual_rules", "from 10.0.0.1 priority 5 {kw} {value}"),
    "unicast_peer": ("unicast_peer", "10.0.0.2 {kw} {value}"),
}
# Blocks lvsfast does not read at all: their keywords cannot be reached (the block warns).
UNREACHABLE = {"track_group", "garp_group"}


def _placed(block: str, kw: str) -> tuple[str, int]:
    """A configuration with ``kw`` in ``block``, and the line it is on."""
    if block in OPTION_LINES:
        name, line = OPTION_LINES[block]
        route_type = block == "virtual_routes" and kw in ("blackhole", "unreachable", "prohibit", "throw", "local",
                                                          "broadcast", "anycast", "multicast", "nat", "unicast")
        text = f"{kw} 10.1.0.0/16 dev eth0" if route_type else line.format(kw=kw, value="1")
        head = f"vrrp_instance VI {{\n interface eth0\n virtual_router_id 5\n {name} {{\n"
        return head + text + "\n }\n}\n", 5
    pre, post = WRAP[block]
    body = f"{kw} {{\n}}\n" if block == "top" else f"{kw} 1\n"
    return pre + body + post, pre.count("\n") + 1


CASES = [(b, kw, st) for b, kws in TABLE.items() if b not in UNREACHABLE for kw, (st, _) in kws.items()
         if st in (NOT_SUPPORTED, UNKNOWN) and kw != "include"]


@pytest.mark.parametrize("block,kw,status", CASES, ids=[f"{b}:{k}" for b, k, _ in CASES])
def test_not_supported_keyword_warns_at_its_line(block, kw, status):
    text, line = _placed(block, kw)
    a = analyse("t.conf", text=text)
    at_line = [d for d in a.diagnostics if d.line == line]
    if status == NOT_SUPPORTED:
        want = f"t.conf:{line}: warning: {kw} is not supported by lvsfast; ignored"
        assert want in [str(d) for d in at_line], f"{text}\n" + "\n".join(map(str, a.diagnostics))
    else:
        assert any(d.severity in ("warning", "error") and kw in d.message and "unknown" in d.message
                   and counts_for_verdict(d) for d in at_line), f"{text}\n" + "\n".join(map(str, a.diagnostics))


def test_values_are_not_taken_for_options():
    # "table local", "dev home": a value that spells an option is a value.
    text = textwrap.dedent("""\
        vrrp_instance VI {
         interface eth0
         virtual_router_id 5
         virtual_ipaddress {
          10.0.0.9/32 dev eth0 label home
         }
         virtual_routes {
          10.1.0.0/16 dev eth0 table local
         }
        }
        """)
    a = analyse("t.conf", text=text)
    assert not [d for d in a.diagnostics if d.message.endswith(NOT_SUPPORTED_SUFFIX)], a.diagnostics


def test_a_not_supported_block_warns_once():
    a = analyse("t.conf", text="garp_group {\n garp_interval 1\n interface eth0\n}\n")
    got = [str(d) for d in a.diagnostics if d.message.endswith(NOT_SUPPORTED_SUFFIX)]
    assert got == ["t.conf:1: warning: garp_group is not supported by lvsfast; ignored"]


def test_a_global_keyword_at_the_top_level_is_unknown_as_in_keepalived():
    a = analyse("t.conf", text="router_id r1\nvrrp_strict\n")
    assert [str(d) for d in a.diagnostics] == ["t.conf:1: warning: unknown keyword 'router_id'",
                                               "t.conf:2: warning: unknown keyword 'vrrp_strict'"]


# ---- lvsfast -t keeps keepalived's verdict ---------------------------------------------------------

SMTP_ONLY = """\
global_defs {
  notification_email {
    ops@example.com
  }
  smtp_server 127.0.0.1
  router_id r1
  lvs_flush
  no_checker_emails
}
"""


def test_config_test_warns_and_keeps_exit_zero(tmp_path):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(SMTP_ONLY)
    run = lvsfast_test(None, conf)
    assert run.returncode == 0, run.output
    for line, kw in ((7, "lvs_flush"), (8, "no_checker_emails")):
        assert f"{conf}:{line}: warning: {kw} is not supported by lvsfast; ignored" in run.output
    for kw in ("notification_email", "smtp_server", "router_id"):  # SMTP alerts work
        assert f"warning: {kw} is not supported" not in run.output
    assert run.output.rstrip().endswith(f"{conf}: configuration is valid")


def test_config_test_still_fails_on_a_real_problem(tmp_path):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(SMTP_ONLY + "bogus_keyword 1\n")
    run = lvsfast_test(None, conf)
    assert run.returncode == 5, run.output
    assert "0 error(s), 1 warning(s)" in run.output  # the not-supported ones are not counted


# ---- the daemon logs them at start and at every reload ----------------------------------------

RUNNER = """
import sys
from support.daemon_dummy import Conf, Opts
from lvsfast.config import load
from lvsfast.daemon.main import run

state, conf = sys.argv[1], sys.argv[2]

def load_config():
    real = load(conf)
    c = Conf({"value": 1})
    c.warnings = real.warnings
    return c

opts = Opts(state, f"{state}/ctl.sock", f"{state}/parent.pid", f"{state}/vrrp.pid", f"{state}/checkers.pid", state)
spec = "support.daemon_dummy:Dummy"
sys.exit(run(opts, load_config, factories={"vrrp": spec, "checker": spec}))
"""


def test_daemon_logs_not_supported_keywords_at_start_and_reload(tmp_path):
    from lvsfast.daemon import control
    from lvsfast.lab.netns import wait_for

    conf = tmp_path / "keepalived.conf"
    conf.write_text(SMTP_ONLY)
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    log = tmp_path / "daemon.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path), str(conf)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    sock = str(tmp_path / "ctl.sock")
    want = f"{conf}:7: warning: lvs_flush is not supported by lvsfast; ignored"
    try:
        def up():
            try:
                st = control.request(sock, "status", timeout=2)
            except (RuntimeError, OSError):
                return None
            return st if len(st["children"]) == 2 and all(c.get("status") for c in st["children"].values()) else None

        wait_for(up, timeout=30, what="daemon up")
        assert log.read_text().count(want) == 1, log.read_text()
        # The reload reads a file with one more unsupported keyword: both are said again.
        conf.write_text(SMTP_ONLY + "garp_group {\n garp_interval 1\n interface eth0\n}\n")
        answer = control.request(sock, "reload", timeout=30)
        assert answer.get("ok"), json.dumps(answer)
        wait_for(lambda: log.read_text().count(want) == 2 or None, timeout=10, what="reload logged")
        assert f"{conf}:10: warning: garp_group is not supported by lvsfast; ignored" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
