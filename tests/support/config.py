"""Helpers for the configuration tests: a namespace holding the interface names configs use,
and runners for ``keepalived -t`` and ``lvsfast -t`` inside it."""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lvsfast.lab.netns import Lab, Namespace
from support.requires import need_binary, need_root

#: Interface names used by Debian's keepalived samples, the example and the tests.
SAMPLE_INTERFACES = ("eth0", "eth1", "eth2", "eth3", "eth0.1")


def interfaces_namespace(lab: Lab, short: str = "cfg", names=SAMPLE_INTERFACES) -> Namespace:
    """A namespace where each of ``names`` exists (veth ends; the kernel may lack dummy/vlan)."""
    ns = lab.ns(short)
    for i, name in enumerate(names):
        ns.ip("link", "add", name, "type", "veth", "peer", "name", f"peer{i}")
        ns.ip("link", "set", name, "up")
    return ns


@dataclass(frozen=True)
class TestRun:
    returncode: int
    output: str

    def lines(self, pattern: str) -> set[int]:
        return {int(x) for x in re.findall(pattern, self.output, re.M)}


def keepalived_test(ns: Namespace, conf: Path, workdir: Path) -> TestRun:
    """``keepalived -t`` with its own pid files, so it never touches the host's daemon."""
    argv = ns.argv("keepalived", "-t", "-n", "-f", str(conf), "-p", str(workdir / "k.pid"),
                   "-r", str(workdir / "k_vrrp.pid"), "-c", str(workdir / "k_check.pid"))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return TestRun(p.returncode, p.stdout + p.stderr)


def keepalived_flagged_lines(run: TestRun, conf: Path) -> set[int]:
    # keepalived 2.2.7 prints "(FILE: Line N) message"; complaints about no line have no prefix.
    return run.lines(r"\(" + re.escape(str(conf)) + r": Line (\d+)\)")


def lvsfast_test(ns: Namespace | None, conf: Path, *extra: str) -> TestRun:
    cmd = [sys.executable, "-m", "lvsfast.cli", "-t", "-f", str(conf), *extra]
    argv = ns.argv(*cmd) if ns is not None else cmd
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return TestRun(p.returncode, p.stdout + p.stderr)


def lvsfast_flagged_lines(run: TestRun, conf: Path) -> set[int]:
    return run.lines("^" + re.escape(str(conf)) + r":(\d+): (?:error|warning): ")


def both_tests(ns: Namespace, text: str, workdir: Path) -> tuple[Path, TestRun, TestRun]:
    """``text`` written to workdir/keepalived.conf and tested by both: (conf, lvsfast's run, keepalived's)."""
    conf = workdir / "keepalived.conf"
    conf.write_text(text)
    return conf, lvsfast_test(ns, conf), keepalived_test(ns, conf, workdir)


def keepalived_namespace(short: str, names=SAMPLE_INTERFACES) -> Iterator[Namespace]:
    """For a module fixture (``yield from``): a namespace with ``names`` to run both ``-t`` in."""
    need_root()
    need_binary("ip", "keepalived")
    with Lab() as lab:
        yield interfaces_namespace(lab, short, names)
