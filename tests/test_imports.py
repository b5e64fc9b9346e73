"""Each command imports only what it needs (issue 25): structural, from ``python -X importtime``.

``lvsfast -t`` reads, builds and checks a configuration: it must not load the event loop, TLS,
netlink libraries, the checker, the VRRP engine or a data plane. The daemon's parent holds no
child's stack, and each child's stack holds none of the other's. Timings live in
bench/startup.py; these tests only say what is loaded.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "keepalived.conf"

#: Never on the -t path: the daemon's machinery, and what only a running daemon needs.
NOT_ON_CONFIG_TEST = (
    "asyncio", "uvloop", "pyroute2", "ssl", "_ssl", "cryptography", "prometheus_client", "socket",
    "_hashlib", "ctypes", "json", "dataclasses", "inspect", "pickle", "logging", "subprocess",
    "lvsfast.check", "lvsfast.vrrp", "lvsfast.ipvs", "lvsfast.nft", "lvsfast.dataplane",
    "lvsfast.daemon.main", "lvsfast.daemon.supervisor", "lvsfast.daemon.child", "lvsfast.daemon.metrics",
    "lvsfast.config.dump",
    # The stdlib modules that were most of -t's import time (issue 25 part 4): annotations name
    # typing's types under TYPE_CHECKING only; the reader, values and blocks recognise their
    # syntax without re; ipaddress only for what is not a canonical IPv4 address; glob only for
    # an include, shlex only for a configured script (the example has neither).
    "typing", "re", "enum", "ipaddress", "functools", "collections", "importlib", "glob", "shlex",
)
#: Never in the parent before it forks: the children's own stacks.
NOT_IN_PARENT = ("pyroute2", "prometheus_client", "cryptography", "lvsfast.vrrp", "lvsfast.check",
                 "lvsfast.ipvs", "lvsfast.nft", "lvsfast.daemon.metrics",
                 "pathlib", "urllib")  # 8 ms before the first child could start: os.path does
#: The parent's own stack, imported once the children are forked (no child uses it; the VRRP
#: child would wait for it): supervision, the control socket, the FIFOs, sd_notify.
PARENT_AFTER_FORK = ("lvsfast.daemon.supervisor", "lvsfast.daemon.control", "lvsfast.daemon.fifos",
                     "lvsfast.daemon.sdnotify", "json")
#: What each child must not hold of the other's.
NOT_IN_VRRP_CHILD = ("pyroute2", "lvsfast.check", "lvsfast.ipvs", "lvsfast.nft", "lvsfast.dataplane.backend",
                     "prometheus_client",
                     "hashlib", "hmac",  # AH's digest, imported only where authentication AH is configured
                     "pathlib", "urllib")
NOT_IN_CHECKER_CHILD = ("pyroute2", "lvsfast.vrrp", "lvsfast.ipvs", "prometheus_client")


#: What the installed ``lvsfast`` script runs (``-m lvsfast.cli`` would add runpy's own imports).
SCRIPT = "import sys\nfrom lvsfast.cli import main\nsys.exit(main())"


def imported(*args: str) -> set[str]:
    """The modules ``python -X importtime ARGS`` imports, read from its import-time report."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    assert "lvsfast" in names, proc.stderr[-2000:]
    return names


def loaded(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    """The forbidden modules (or their submodules) among ``names``."""
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


def test_config_test_loads_no_daemon_machinery() -> None:
    names = imported("-c", SCRIPT, "-t", "-f", str(EXAMPLE))
    assert "lvsfast.config.model" in names and "lvsfast.config.build" in names
    assert loaded(names, NOT_ON_CONFIG_TEST) == []


def test_config_test_with_dump_adds_only_the_dumper() -> None:
    names = imported("-c", SCRIPT, "-t", "-d", "-f", str(EXAMPLE))
    assert "lvsfast.config.dump" in names
    # The dump walks the model with dataclasses.fields (and writes JSON): only when asked for.
    dumper = ("json", "dataclasses", "inspect", "lvsfast.config.dump", "re", "enum", "functools", "collections",
              "typing", "ipaddress", "importlib")  # inspect's own
    assert loaded(names, tuple(n for n in NOT_ON_CONFIG_TEST if n not in dumper)) == []


def test_the_daemon_parent_holds_no_child_stack() -> None:
    names = imported("-c", "import lvsfast.cli, lvsfast.config, lvsfast.daemon.main\n"
                           "from lvsfast.daemon.subsystem import preload\npreload()")
    assert "asyncio" in names
    assert loaded(names, NOT_IN_PARENT) == []
    assert loaded(names, PARENT_AFTER_FORK) == []


@pytest.mark.parametrize(("stack", "forbidden"), [
    ("import lvsfast.vrrp.service", NOT_IN_VRRP_CHILD),
    ("import lvsfast.check.service, lvsfast.nft.backend", NOT_IN_CHECKER_CHILD),
], ids=["vrrp", "checker"])
def test_each_child_holds_only_its_own_stack(stack: str, forbidden: tuple[str, ...]) -> None:
    names = imported("-c", f"import lvsfast.daemon.main\n{stack}")
    assert loaded(names, forbidden) == []
