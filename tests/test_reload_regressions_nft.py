"""Reload correctness on nftables (issue #11): keepalived's reload failures, each replayed against
the real daemon with real HTTP servers in namespaces. The cases are shared with the IPVS run
(tests/ipvs_vm/test_ipvsvm_reload.py) and live in support/reload_lab.py. Removal under load and
outside deletions on nftables are in test_drain_nft.py and test_drift_nft.py."""
from __future__ import annotations

from support.reload_lab import ReloadCases, reload_lab  # noqa: F401  (fixture)


class TestReloadOnNftables(ReloadCases):
    backend = "nftables"
