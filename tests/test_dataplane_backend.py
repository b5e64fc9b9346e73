"""The data-plane port: both backends implement the whole Backend Protocol, name what they can
do in ``capabilities`` and answer the rest with NotSupported; the checker asks only through it."""
from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path

import pytest

from lvsfast.check.service import CheckerService
from lvsfast.config import loads
from lvsfast.dataplane.backend import (CAPABILITIES, CONNECTIONS, SYNC_DAEMON, TIMEOUTS, WATCH, Backend, NotSupported,
                                       SyncDaemon, Timeouts, Unsupported)
from lvsfast.ipvs.backend import IPVSBackend
from lvsfast.nft.backend import NftBackend

SRC = Path(__file__).resolve().parent.parent / "src" / "lvsfast"
PROTOCOL_METHODS = [n for n, v in vars(Backend).items() if inspect.isfunction(v) and not n.startswith("_")]


def test_the_protocol_names_every_capability_the_checker_uses():
    assert set(PROTOCOL_METHODS) >= {"read", "apply", "close", "watch", "connections", "set_timeouts",
                                     "start_sync_daemon", "stop_sync_daemon"}
    assert CAPABILITIES == {WATCH, CONNECTIONS, TIMEOUTS, SYNC_DAEMON}


@pytest.mark.parametrize("cls,caps", [(IPVSBackend, {CONNECTIONS, TIMEOUTS, SYNC_DAEMON}),
                                      (NftBackend, {WATCH, CONNECTIONS})])
def test_each_backend_implements_the_protocol(cls, caps):
    for name in PROTOCOL_METHODS:
        ours, theirs = inspect.signature(getattr(cls, name)), inspect.signature(getattr(Backend, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        assert inspect.iscoroutinefunction(getattr(cls, name)) == inspect.iscoroutinefunction(getattr(Backend, name))
    assert cls.capabilities == caps


def test_what_a_backend_lacks_is_a_named_not_supported():
    ipvs = IPVSBackend(family_id=1)  # no socket until used
    with pytest.raises(NotSupported, match="ipvs: watch"):
        ipvs.watch(lambda change: None)
    nft = NftBackend.__new__(NftBackend)  # the answers need no libnftables context
    with pytest.raises(NotSupported, match="nftables: timeouts"):
        asyncio.run(nft.set_timeouts(Timeouts(1, 2, 3)))
    with pytest.raises(NotSupported, match="nftables: sync_daemon"):
        asyncio.run(nft.start_sync_daemon(SyncDaemon("master", "eth0")))


def test_the_checker_asks_the_port_not_the_backends():
    for path in (SRC / "check").glob("*.py"):
        text = path.read_text()
        assert "hasattr(" not in text, path
        assert not re.search(r"lvsfast\.(ipvs|nft)\b", text), path
    assert not [p for p in SRC.rglob("*.py") if "hasattr(" in p.read_text() and p.name != "frozen.py"]


class Bare(Unsupported):
    """A backend with none of the optional parts, recording what the checker asks of it."""

    name = "bare"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def apply(self, desired, *, reread=False):
        return []

    async def close(self, desired=None):
        pass


class Extras(Bare):
    """IPVS's extras, without a kernel."""

    name = "extras"
    capabilities = frozenset({TIMEOUTS, SYNC_DAEMON})

    async def set_timeouts(self, t):
        self.calls.append(("timeouts", t))

    async def start_sync_daemon(self, d):
        self.calls.append(("start", d.state, d.interface, d.sync_id))

    async def stop_sync_daemon(self, d):
        self.calls.append(("stop", d.state))


CONF = """global_defs {
    lvs_timeouts tcp 900 tcpfin 120 udp 300
    lvs_sync_daemon eth0 VI_1 id 7
    drift_repair off
}
"""


@pytest.mark.parametrize("backend", [Extras, Bare])
def test_timeouts_and_the_sync_daemon_follow_the_capabilities(backend, caplog):
    async def run() -> list:
        be = backend()
        svc = CheckerService(backend=be)
        await svc.start(loads(CONF))
        svc.on_event({"event": "vrrp_state", "instance": "VI_1", "state": "MASTER", "vips": []})
        for _ in range(3):
            await asyncio.sleep(0)
        await svc.stop()
        return be.calls

    calls = asyncio.run(run())
    assert "not supported" not in caplog.text
    if backend is Bare:
        assert calls == []  # asked nothing it lacks
    else:
        assert calls == [("timeouts", Timeouts(900, 120, 300)), ("start", "backup", "eth0", 7),
                         ("stop", "backup"), ("start", "master", "eth0", 7), ("stop", "master")]


def test_mastership_told_while_the_data_plane_starts_is_kept():
    # A MASTER instance may say so before the checker's first apply is done: the sync daemon
    # must stay master, not fall back to keepalived's starting backup.
    async def run() -> list:
        be = Extras()
        svc = CheckerService(backend=be)
        start = svc.upkeep.start

        async def late_start() -> None:
            svc.on_event({"event": "vrrp_state", "instance": "VI_1", "state": "MASTER", "vips": []})
            for _ in range(3):
                await asyncio.sleep(0)
            await start()

        svc.upkeep.start = late_start
        await svc.start(loads(CONF))
        await svc.stop()
        return be.calls

    assert asyncio.run(run()) == [("start", "master", "eth0", 7), ("timeouts", Timeouts(900, 120, 300)), ("stop", "master")]


def test_role_both_runs_master_and_backup_whatever_vrrp_says():
    # Active-active directors (scale-out, issue 27): each sends its own connections and holds
    # the others'; an instance's mastership does not move the threads.
    async def run() -> list:
        be = Extras()
        svc = CheckerService(backend=be)
        await svc.start(loads("global_defs {\n    lvs_sync_daemon eth1 role both id 27\n    drift_repair off\n}\n"))
        for state in ("MASTER", "BACKUP"):
            svc.on_event({"event": "vrrp_state", "instance": "VI_1", "state": state, "vips": []})
            for _ in range(3):
                await asyncio.sleep(0)
        await svc.stop()
        return be.calls

    assert asyncio.run(run()) == [("start", "master", "eth1", 27), ("start", "backup", "eth1", 27),
                                  ("stop", "master"), ("stop", "backup")]
