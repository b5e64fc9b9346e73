"""Network namespaces, veth pairs and bridges built with iproute2, torn down without leftovers.

A :class:`Lab` owns every namespace it makes (names carry a per-lab prefix), so tests running
side by side never collide and ``close()`` removes exactly what was made. Only addresses inside
these namespaces are ever used as targets.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Sequence


class LabError(RuntimeError):
    pass


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0,
        input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input, env=env)
    if check and proc.returncode != 0:
        raise LabError(f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


@dataclass
class Namespace:
    """One network namespace; ``name`` is the full ``ip netns`` name."""

    name: str

    def argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(self, *cmd: str, check: bool = True, timeout: float = 30.0,
            input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return run(self.argv(*cmd), check=check, timeout=timeout, input=input, env=env)

    def popen(self, *cmd: str, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        kw.setdefault("start_new_session", True)
        return subprocess.Popen(self.argv(*cmd), **kw)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("ip", *args, check=check)

    def addresses(self, dev: str) -> list[str]:
        out = self.ip("-o", "addr", "show", "dev", dev).stdout
        return [line.split()[3] for line in out.splitlines() if " inet" in line]

    def link_set(self, dev: str, up: bool) -> None:
        self.ip("link", "set", dev, "up" if up else "down")


@dataclass
class Lab:
    """A set of namespaces and links that are all removed together."""

    prefix: str = field(default_factory=lambda: "lf" + uuid.uuid4().hex[:6])
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    _procs: list[subprocess.Popen] = field(default_factory=list)
    _ports: int = 0

    def ns(self, short: str) -> Namespace:
        """Create (or return) the namespace ``<prefix>-<short>`` with loopback up."""
        if short in self.namespaces:
            return self.namespaces[short]
        name = f"{self.prefix}-{short}"
        run(["ip", "netns", "add", name])
        ns = Namespace(name)
        self.namespaces[short] = ns
        ns.ip("link", "set", "lo", "up")
        for key in ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"):
            ns.run("sysctl", "-qw", f"{key}=0", check=False)
        ns.run("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", check=False)
        ns.run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", check=False)
        return ns

    def veth(self, a: Namespace, a_dev: str, b: Namespace, b_dev: str) -> None:
        """A veth pair with ``a_dev`` in ``a`` and ``b_dev`` in ``b``, both up."""
        tmp_a, tmp_b = f"v{uuid.uuid4().hex[:10]}", f"v{uuid.uuid4().hex[:10]}"
        run(["ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b])
        run(["ip", "link", "set", tmp_a, "netns", a.name])
        run(["ip", "link", "set", tmp_b, "netns", b.name])
        a.ip("link", "set", tmp_a, "name", a_dev)
        b.ip("link", "set", tmp_b, "name", b_dev)
        a.link_set(a_dev, True)
        b.link_set(b_dev, True)

    def bridge(self, switch: Namespace, br: str = "br0") -> None:
        """A bridge in ``switch``; attach ports with :meth:`plug`."""
        switch.ip("link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        switch.run("sysctl", "-qw", f"net.ipv6.conf.{br}.disable_ipv6=1", check=False)
        switch.link_set(br, True)

    def plug(self, switch: Namespace, host: Namespace, host_dev: str, *, br: str = "br0",
             port: str | None = None) -> str:
        """Join ``host`` to the bridge in ``switch`` with a veth; returns the switch-side port name."""
        self._ports += 1
        port = port or f"p{self._ports}{host_dev}"[:15]
        self.veth(host, host_dev, switch, port)
        switch.ip("link", "set", port, "master", br)
        return port

    def spawn(self, ns: Namespace, *cmd: str, **kw) -> subprocess.Popen:
        """Start a process in ``ns`` that :meth:`close` will kill."""
        proc = ns.popen(*cmd, **kw)
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 15)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for proc in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:
                    pass
                proc.wait()
        self._procs.clear()
        for ns in self.namespaces.values():
            # Anything still running in the namespace (daemons that double-forked) goes too.
            pids = run(["ip", "netns", "pids", ns.name], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", ns.name], check=False)
        self.namespaces.clear()

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; raise LabError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)
