"""``lvsfast-lab --scale-out``: the scale-out lab's scripted tour, and the measurement it and
``bench/scaleout.py`` share.

:func:`measure` runs one scenario: a fresh client (long-lived connections and a stream of new
ones) reaches a steady state, the action happens, the lab settles, and the figures come back:
the share of long-lived connections that survived (and on which real servers the lost ones
were), the new-connection outage, when the upstream's ECMP group changed, and each director's
share of the packets. The tour runs the scenarios in turn and exits 0 only if each behaved.
"""
from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from lvsfast.lab.netns import LabError, wait_for
from lvsfast.lab.scaleout import DIRECTORS, LAN, REAL_SERVERS, ScaleOut


@dataclass
class EcmpWatch:
    """Polls the upstream's next hops for the VIP; keeps (time, next hops) at each change."""

    lab: ScaleOut
    interval: float = 0.02
    changes: list[tuple[float, list[str]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.changes.append((time.monotonic(), self.lab.ecmp()))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                hops = self.lab.ecmp()
            except LabError:
                continue
            if hops != self.changes[-1][1]:
                self.changes.append((time.monotonic(), hops))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def _rx(lab: ScaleOut) -> dict[str, int]:
    out = {}
    for name, d in lab.directors.items():
        r = d.run("cat", "/sys/class/net/eth0/statistics/rx_packets", check=False)
        out[name] = int(r.stdout.strip() or 0)
    return out


def _at_work(lines: list[str], long: int) -> bool:
    for line in reversed(lines[-5:]):
        if line.startswith('{"t"'):
            progress = json.loads(line)
            return progress["long_alive"] >= long and progress["new_ok"] > 0
    return False


def _outage(failed: list[float], t0: float, period: float) -> float:
    """Seconds during which new connections failed, from the first failure after ``t0`` to the
    last (a lone failure counts one attempt's period)."""
    after = sorted(t for t in failed if t >= t0 - 1.0)
    if not after:
        return 0.0
    return round(after[-1] - after[0] + period, 3)


def measure(lab: ScaleOut, action: Callable[[], None], *, settle: float = 6.0, long: int = 60,
            rate: float = 50.0, steady: float = 2.0, name: str = "", client_args: tuple[str, ...] = ()) -> dict:
    """One scenario's figures (see the module's docstring); ``client_args`` go to lab/flows.py."""
    client = lab.client_flows("--long", str(long), "--rate", str(rate), "--duration", "300", *client_args)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(client.stdout), daemon=True)
    reader.start()
    # The action waits for the client to be at work: every long connection answered once and
    # new ones succeeding. In the emulated IPVS VM the client's Python alone takes seconds to
    # start, and a fixed wait let the action land before the first connection.
    wait_for(lambda: _at_work(lines, long), timeout=120, interval=0.1,
             what=f"{name}: the client's {long} long connections up and new ones succeeding")
    time.sleep(steady)
    before_rx = _rx(lab)
    watch = EcmpWatch(lab)
    hops_before = watch.changes[0][1]
    t0 = time.monotonic()
    action()
    acted = time.monotonic() - t0
    time.sleep(settle)
    watch.stop()
    after_rx = _rx(lab)
    client.send_signal(signal.SIGTERM)
    try:
        client.wait(20)
    except subprocess.TimeoutExpired:
        client.kill()
        client.wait(5)
    reader.join(5)
    final = next((json.loads(line)["final"] for line in reversed(lines) if line.startswith('{"final"')), None)
    if final is None:
        err = (lab.workdir / "client.err").read_text()[-1500:]
        raise LabError(f"{name}: the client gave no summary (exit {client.returncode}): {err}")
    lost = final["long_lost"]
    lost_after = [x for x in lost if x["at"] is not None and x["at"] >= t0 - 0.5]
    ecmp_change = next((round(t - t0, 3) for t, hops in watch.changes[1:] if t >= t0), None)
    # Directors in the ECMP group before or after: an idle one sees only the LAN's broadcasts.
    serving = {d for d in DIRECTORS if addr(d) in hops_before + watch.changes[-1][1]}
    rx = {d: after_rx[d] - before_rx[d] for d in after_rx if d in serving}
    total_rx = sum(rx.values()) or 1
    return {
        "scenario": name,
        "action_seconds": round(acted, 3),
        "long_connections": final["long"],
        "long_established": sum(final["long_per_rs"].values()),
        "long_survived": final["long_alive"],
        # Of the connections still up when the action came (one lost before it is reported apart).
        "long_survived_share": round(final["long_alive"] / max(1, sum(final["long_per_rs"].values())
                                                               - (len(lost) - len(lost_after))), 4),
        "long_lost_before_action": len(lost) - len(lost_after),
        "long_lost_by_rs": _count(x["rs"] for x in lost_after),
        "long_moved": final["long_moved"],
        "long_per_rs": final["long_per_rs"],
        "new_ok": final["new_ok"],
        "new_failed": len([t for t in final["new_failed_at"] if t >= t0 - 1.0]),
        "new_outage_seconds": _outage(final["new_failed_at"], t0, 1.0 / rate),
        "new_per_rs": final["new_per_rs"],
        "ecmp_before": hops_before,
        "ecmp_after": watch.changes[-1][1],
        "ecmp_changed_after_seconds": ecmp_change,
        "director_packet_share": {d: round(v / total_rx, 3) for d, v in rx.items() if d in serving},
    }


def _maglev_bound(flows: int, servers: int) -> float:
    """How many of ``flows`` may move when one of ``servers`` joins: its share, 1/servers, plus
    three standard deviations of the binomial count (the client's ports hash at random)."""
    p = 1 / servers
    return flows * p + 3 * (flows * p * (1 - p)) ** 0.5


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[str(i)] = out.get(str(i), 0) + 1
    return out


def addr(name: str) -> str:
    return f"{LAN}.{DIRECTORS[name]}"


def wait_ecmp(lab: ScaleOut, names: set[str], timeout: float = 30) -> None:
    want = sorted(addr(n) for n in names)
    wait_for(lambda: lab.ecmp() == want, timeout=timeout, interval=0.1,
             what=f"the upstream's ECMP group to be {', '.join(sorted(names))}")


def bring_up(lab: ScaleOut, name: str) -> None:
    """(Re)start a director's FRR and lvsfast."""
    lab.start_frr(name)
    lab.start_lvsfast(name)


def tour(lab: ScaleOut, out=print, *, quick: bool = False) -> int:
    """The scripted tour: each step says what it expects and whether it happened."""
    failures = 0
    settle = 4.0 if quick else 6.0
    long = 40 if quick else 60

    def step(what: str, ok: bool, detail: object = "") -> None:
        nonlocal failures
        out(f"{'ok  ' if ok else 'FAIL'} {what}" + (f"  {detail}" if detail else ""))
        failures += not ok

    def scenario(what: str, action: Callable[[], None], check: Callable[[dict], bool]) -> dict:
        try:
            r = measure(lab, action, settle=settle, long=long, name=what)
        except LabError as exc:
            step(what, False, exc)
            return {}
        brief = {k: r[k] for k in ("long_survived_share", "long_lost_by_rs", "new_failed", "new_outage_seconds",
                                   "ecmp_changed_after_seconds", "director_packet_share")}
        step(what, check(r), json.dumps(brief))
        return r

    up = {"d1", "d2", "d3"}
    try:
        wait_ecmp(lab, up, 60)
        step("the upstream has an ECMP route to the VIP over d1, d2 and d3", True)
    except LabError as exc:
        step("the upstream has an ECMP route to the VIP over d1, d2 and d3", False, exc)
        return 1
    all_rs = set(REAL_SERVERS)

    def spread(r: dict) -> bool:
        return (r["new_failed"] == 0 and set(r["new_per_rs"]) == all_rs and r["long_survived_share"] == 1.0
                and len(r["director_packet_share"]) == 3)

    scenario("steady: every director and every real server takes traffic, nothing fails", lambda: None, spread)
    scenario("d1 killed (SIGKILL lvsfast and FRR): >= 99% of established connections survive, new ones "
             "fail for <= 1 s", lambda: (lab.kill_director("d1"), wait_ecmp(lab, up - {"d1"}, 10)),
             lambda r: r["long_survived_share"] >= 0.99 and r["new_outage_seconds"] <= 1.0)
    scenario("d1 comes back: no connection fails", lambda: (bring_up(lab, "d1"), wait_ecmp(lab, up, 30)),
             lambda r: r["long_survived_share"] == 1.0 and r["new_failed"] == 0)
    scenario("d2 stopped gracefully (SIGTERM: withdraw, drain, stop): no connection fails",
             lambda: (lab.stop_lvsfast("d2"), wait_ecmp(lab, up - {"d2"}, 10)),
             lambda r: r["long_survived_share"] == 1.0 and r["new_failed"] == 0
             and r["ecmp_changed_after_seconds"] is not None and r["ecmp_changed_after_seconds"] < 1.0)
    step("d2's VIP is off its loopback after the graceful stop", not lab.announced("d2"))
    scenario("d1 reloaded without announce_route: it withdraws, no connection fails",
             lambda: (lab.reload_lvsfast("d1", announce=False), wait_ecmp(lab, up - {"d1", "d2"}, 10)),
             lambda r: r["long_survived_share"] == 1.0 and r["new_failed"] == 0)
    scenario("d1 reloaded with announce_route again: it announces, no connection fails",
             lambda: (lab.reload_lvsfast("d1"), wait_ecmp(lab, up - {"d2"}, 10)),
             lambda r: r["long_survived_share"] == 1.0 and r["new_failed"] == 0)
    scenario("d2's lvsfast started again: it announces, no connection fails",
             lambda: (lab.start_lvsfast("d2"), wait_ecmp(lab, up, 30)),
             lambda r: r["long_survived_share"] == 1.0 and r["new_failed"] == 0)
    if not quick:
        scenario("a fourth director d4 added: no connection fails",
                 lambda: (bring_up(lab, "d4"), wait_ecmp(lab, up | {"d4"}, 30)),
                 lambda r: r["long_survived_share"] == 1.0 and r["new_failed"] == 0)
        up = up | {"d4"}
    scenario("d3's cable cut: >= 99% of established connections survive, new ones fail for <= 1 s",
             lambda: (lab.set_cable("d3", False), wait_ecmp(lab, up - {"d3"}, 10)),
             lambda r: r["long_survived_share"] >= 0.99 and r["new_outage_seconds"] <= 1.0)
    # Back only once all its checks have run again: announced at its first real server back,
    # its Maglev table would differ from its peers' and break the flows ECMP gives it.
    scenario("d3's cable restored: the upstream uses it again, no connection fails",
             lambda: (lab.set_cable("d3", True), wait_ecmp(lab, up, 30)),
             lambda r: r["long_survived_share"] == 1.0 and r["new_failed"] == 0)
    scenario("rs3 stops: only rs3's connections are lost",
             lambda: lab.stop_http("rs3"),
             lambda r: set(r["long_lost_by_rs"]) <= {"rs3"})
    scenario("rs3 returns: at most about 1/6 of the connections made without it move (Maglev)",
             lambda: lab.start_http("rs3"),
             lambda r: sum(r["long_lost_by_rs"].values()) <= _maglev_bound(r["long_established"], len(REAL_SERVERS)))
    # FRR itself failing: bgpd killed on d1. The upstream drops d1 (its session went); lvsfast
    # withdraws nothing (the VIP stays on d1's loopback); bgpd started again re-announces it.
    lab.kill_frr("d1", ("bgpd",))
    try:
        wait_ecmp(lab, up - {"d1"}, 15)
        step("bgpd killed on d1: the upstream drops d1, lvsfast keeps the VIP announced locally",
             lab.announced("d1"))
    except LabError as exc:
        step("bgpd killed on d1: the upstream drops d1", False, exc)
    lab.restart_bgpd("d1")
    try:
        wait_ecmp(lab, up, 30)
        step("bgpd started again on d1: the upstream uses d1 again", True)
    except LabError as exc:
        step("bgpd started again on d1: the upstream uses d1 again", False, exc)
    out("tour passed" if failures == 0 else f"tour: {failures} step(s) failed")
    return 0 if failures == 0 else 1


def main(tour_only: bool = True, quick: bool = False) -> int:
    """``lvsfast-lab --scale-out``: build the lab, run the tour (or, without ``--tour``, hold the
    lab up until Ctrl-C for a look around), remove everything. Inside the IPVS VM (scripts/vm.sh
    sets LVSFAST_IPVS_VM=1) the directors program IPVS; elsewhere nftables."""
    import os
    import tempfile
    from pathlib import Path

    workdir = Path(tempfile.mkdtemp(prefix="lvsfast-scaleout-"))
    lab = ScaleOut(workdir, backend="ipvs" if os.environ.get("LVSFAST_IPVS_VM") == "1" else "nftables")

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"building the scale-out lab (namespaces {lab.lab.prefix}-*, logs in {workdir}) ...", flush=True)
        lab.start()
        if tour_only:
            return tour(lab, quick=quick)
        wait_ecmp(lab, {"d1", "d2", "d3"}, 60)
        print(f"up: vtysh --vty_socket {lab.frr_dir('up')} -c 'show ip bgp'; Ctrl-C removes the lab", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 130
    finally:
        lab.close()
        print("lab removed", flush=True)
