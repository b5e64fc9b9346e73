"""Prometheus metrics (lvsfast's own; keepalived has none): the figures ``lvsfastctl status`` shows.

Off by default. ``--metrics [ADDR:]PORT`` serves them, on 127.0.0.1 unless an address is given.
The parent refreshes a snapshot of its children's status every few seconds on its own loop, and
the HTTP thread of prometheus-client renders that snapshot: a scrape never waits on a child.
"""
from __future__ import annotations

import threading
from typing import Any, Iterator

STATES = ("INIT", "BACKUP", "MASTER", "FAULT")


def parse_listen(text: str) -> tuple[str, int]:
    """``PORT`` or ``ADDR:PORT`` (``[v6]:PORT``); the default address is loopback."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--metrics {text!r}: expected [ADDR:]PORT")
    return host, int(port)


class Snapshot:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {}

    def set(self, status: dict[str, Any]) -> None:
        with self._lock:
            self._status = status

    def get(self) -> dict[str, Any]:
        with self._lock:
            return self._status


class Collector:
    """A prometheus-client collector over a :class:`Snapshot` of the supervisor's status."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        st = self.snapshot.get()
        up = GaugeMetricFamily("lvsfast_child_up", "Child process running", labels=["child"])
        restarts = CounterMetricFamily("lvsfast_child_restarts", "Child restarts after a crash", labels=["child"])
        reloads = CounterMetricFamily("lvsfast_reloads", "Configuration reloads", labels=["result"])
        reloads.add_metric(["ok"], st.get("reloads", 0))
        reloads.add_metric(["failed"], st.get("failed_reloads", 0))
        state = GaugeMetricFamily("lvsfast_vrrp_state", "VRRP instance state (1 for the current one)",
                                  labels=["instance", "state"])
        prio = GaugeMetricFamily("lvsfast_vrrp_priority", "Effective VRRP priority", labels=["instance"])
        trans = CounterMetricFamily("lvsfast_vrrp_transitions", "VRRP state transitions", labels=["instance"])
        sent = CounterMetricFamily("lvsfast_vrrp_adverts_sent", "Adverts sent", labels=["instance"])
        recv = CounterMetricFamily("lvsfast_vrrp_adverts_received", "Adverts accepted", labels=["instance"])
        drops = CounterMetricFamily("lvsfast_vrrp_packets", "Received VRRP packets by outcome",
                                    labels=["link", "outcome"])
        rs_up = GaugeMetricFamily("lvsfast_real_server_up", "Real server passes all its checks",
                                  labels=["virtual_server", "real_server"])
        rs_w = GaugeMetricFamily("lvsfast_real_server_weight", "Weight in the kernel (absent: not in the kernel)",
                                 labels=["virtual_server", "real_server"])
        for name, child in st.get("children", {}).items():
            up.add_metric([name], 1 if child.get("pid") else 0)
            restarts.add_metric([name], child.get("restarts", 0))
            body = child.get("status") or {}
            for inst, i in body.get("instances", {}).items():
                for s in STATES:
                    state.add_metric([inst, s], 1 if i.get("state") == s else 0)
                prio.add_metric([inst], i.get("priority", 0))
                trans.add_metric([inst], i.get("transitions", 0))
                sent.add_metric([inst], i.get("adverts_sent", 0))
                recv.add_metric([inst], i.get("adverts_received", 0))
            for link, counters in body.get("counters", {}).items():
                for outcome, n in counters.items():
                    drops.add_metric([link, outcome], n)
            for vs, v in body.get("virtual_servers", {}).items():
                for rs, r in v.get("real_servers", {}).items():
                    rs_up.add_metric([vs, rs], 1 if r.get("up") else 0)
                    if r.get("weight") is not None:
                        rs_w.add_metric([vs, rs], r["weight"])
        yield from (up, restarts, reloads, state, prio, trans, sent, recv, drops, rs_up, rs_w)


def serve(listen: str, snapshot: Snapshot):
    """Start the HTTP endpoint in a thread; returns the server (``shutdown()`` stops it)."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, port = parse_listen(listen)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(Collector(snapshot))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
