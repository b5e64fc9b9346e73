"""What the micro benches (bench/test_bench_*.py) share: per-operation medians, the closing table of
how many times slower each implementation is than the compiled core, and the common result rows.

A module asks for the ``medians`` fixture and calls ``medians.record(benchmark, group, impl)`` after
each measurement. At the module's end the table is printed; a module may add lines with a
``summary(medians) -> list[str]`` function. With ``--bench-results[=DIR]`` a module that declares
``RESULT_NAME`` and ``RESULT_ROWS`` also writes DIR/<UTC>-<RESULT_NAME>.json (default bench/results)
through bench/results_file.py: the common rows only, never pytest-benchmark's raw samples (use
``--benchmark-json`` for those, and keep them out of bench/results: a run once wrote 30 MB).
"""
from __future__ import annotations

import pytest

import results_file

#: an implementation's name in a results file's baseline_name
BASELINE_NAMES = {"python": "pure-Python twin", "struct": "struct.unpack", "scapy": "scapy"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-results", nargs="?", const=str(results_file.RESULTS), default=None, metavar="DIR",
                     help="write each micro bench module's common result rows (no samples) to "
                          "DIR/<UTC>-<name>.json (DIR defaults to bench/results)")


def _loadavg() -> list[str]:
    with open("/proc/loadavg") as f:  # a shared machine: the load the figures were taken under
        return f.read().split()[:3]


class Medians:
    """(group, impl) -> {median, min, max, n} of one module's benchmarks, in ns per operation."""

    def __init__(self) -> None:
        self.by: dict[tuple[str, str], dict] = {}
        self.loadavg = _loadavg()

    def record(self, benchmark, group: str, which: str, per_call: int = 1) -> None:
        benchmark.extra_info["loadavg"] = _loadavg()
        stats = getattr(benchmark, "stats", None)
        if stats is not None:  # None under --benchmark-disable
            st = stats.stats
            self.by[(group, which)] = {"median": st.median * 1e9 / per_call, "min": st.min * 1e9 / per_call,
                                       "max": st.max * 1e9 / per_call, "n": st.rounds}

    def ns(self, group: str, which: str) -> float | None:
        """The median in ns per operation, or None when that pair was not measured."""
        st = self.by.get((group, which))
        return st["median"] if st else None

    def table(self, title: str) -> list[str]:
        lines = ["", f"{title}: median per operation, and how many times slower than the compiled core"]
        for group in dict.fromkeys(g for g, _ in self.by):
            base = self.ns(group, "compiled")
            for (g, which), st in self.by.items():
                if g == group:
                    ratio = f"{st['median'] / base:8.1f}x" if base else "        "
                    lines.append(f"  {group:<44} {which:<10} {st['median']:12.1f} ns {ratio}")
        return lines

    def rows(self, wanted: tuple[tuple[str, str, str], ...]) -> list[dict]:
        """Common rows for (group, case, metric): the compiled core (or the one implementation
        measured) as lvsfast, every other implementation of the group as a baseline."""
        out = []
        for group, case, metric in wanted:
            impls = {w: st for (g, w), st in self.by.items() if g == group}
            if not impls:
                continue
            ours = "compiled" if "compiled" in impls else next(iter(impls))
            others = [w for w in impls if w != ours]
            for w in others:
                out.append(results_file.row(case, metric, "ns", impls[ours], BASELINE_NAMES.get(w, w), impls[w]))
            if not others:
                out.append(results_file.row(case, metric, "ns", impls[ours]))
        return out


@pytest.fixture(scope="module")
def medians(request: pytest.FixtureRequest):
    m = Medians()
    yield m
    if not m.by:
        return
    mod = request.module
    lines = m.table(getattr(mod, "TITLE", mod.__name__))
    if hasattr(mod, "summary"):
        lines += mod.summary(m)
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print("\n".join(lines))
        where = request.config.getoption("--bench-results")
        if where and hasattr(mod, "RESULT_ROWS"):
            doc = {"scenario": mod.RESULT_NAME, "what": (mod.__doc__ or "").split("\n", 1)[0],
                   "how": "pytest-benchmark, medians per operation over rounds (batches divided by their size); "
                          "loadavg at the start and the end", "loadavg": [m.loadavg, _loadavg()],
                   "results": m.rows(mod.RESULT_ROWS)}
            path = results_file.write(mod.RESULT_NAME, doc, directory=where)
            print(f"wrote {path}")

