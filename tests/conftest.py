"""Shared fixtures: the compiled/twin parametrization, markers from what a test uses, and the CI
rule that a skip is a failure."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.requires import OUT_OF_UNIT_RUN, UNIT_ONLY

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HERE = Path(__file__).parent

#: Fixtures that build network namespaces (support/netns.py's lab and those built on it, and the
#: modules' own labs): a test using one is marked netns and root, so scripts/test.sh's unit run
#: leaves it out. A namespace test missed here still asks need_root(), which skips it there.
NAMESPACE_FIXTURES = frozenset({"lab", "segment", "reload_lab", "vlab", "sample_ns", "mutant_ns", "lab_ns", "nlab",
                                "router"})
#: Tests that run in (or boot) the IPVS VM.
VM_RUNNER = HERE / "test_ipvs_in_vm.py"
VM_PATHS = (HERE / "ipvs_vm", VM_RUNNER)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # With CI=true nothing is silently left out: a skipped test (no root, no netns,
    # no peer binary, no VM) fails the run. xfail is left alone, and so is a test the unit run
    # (LVSFAST_TEST_UNIT_ONLY) leaves to the main run because it needs root.
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if UNIT_ONLY and reason.startswith(f"Skipped: {OUT_OF_UNIT_RUN}"):
            return
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


def pytest_configure(config):
    config.addinivalue_line("markers", "compiled: runs against the compiled core")


def pytest_collection_modifyitems(config, items):
    # The VM's results are read last: it runs in the background meanwhile (see below).
    items.sort(key=lambda item: Path(str(item.path)) == VM_RUNNER)
    for item in items:
        path = Path(str(item.path))
        if any(path == p or p in path.parents for p in VM_PATHS):
            item.add_marker(pytest.mark.vm)
            item.add_marker(pytest.mark.root)
        if NAMESPACE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.netns)
            item.add_marker(pytest.mark.root)


def _vm_runner(session):
    for item in session.items:
        if Path(str(item.path)) == VM_RUNNER:
            return item.module
    return None


def pytest_collection_finish(session):
    # The emulated IPVS VM takes 8-10 minutes of its own CPU: when its tests are selected it boots
    # now and runs beside the host's tests, which read nothing of it until the end.
    runner = _vm_runner(session)
    if runner is not None and not session.config.option.collectonly:
        runner.start_in_background()


def pytest_sessionfinish(session):
    runner = _vm_runner(session)
    if runner is not None:
        runner.BACKGROUND.kill()
