"""The parent's AgentX subagent: serves the MIBs to the local snmpd and sends its notifications.

It runs on the parent's loop, never in a VRRP or checker child, so an snmpd that is slow,
stopped or gone costs the adverts nothing: a walk costs the VRRP child one status answer per
second at most (the rows are cached that long), and a notification is written to the socket
without waiting; one that cannot be written (no master agent, or its socket full) is counted
and dropped, as net-snmp drops a subagent's trap when the master is away. When the master
agent goes away the subagent connects again, every few seconds, and registers again.
Imported only when an SNMP keyword or ``-x`` asks for it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any, Awaitable, Callable

from lvsfast.snmp import agentx as ax
from lvsfast.snmp import mib, rfc, traps
from lvsfast.snmp.settings import Settings, address
from lvsfast.snmp.view import View

log = logging.getLogger("lvsfast.snmp")

AGENT_OID = (1, 3, 6, 1, 4, 1, 9586, 100, 5)
CACHE_FOR = 1.0  # seconds a snapshot answers requests for (a walk is hundreds of GetNexts)
PING_EVERY = 15.0
ANSWER_WITHIN = 5.0
MAX_BUFFERED = 256 * 1024  # bytes waiting for a stopped master before notifications are dropped
RETRY_MAX = 5.0
BATCH_FOR = 0.05  # seconds the events of one failover are gathered for

StatusSource = Callable[[str], Awaitable[dict[str, Any]]]


def version_string() -> str:
    try:
        from importlib.metadata import version

        return f"lvsfast v{version('lvsfast')}"
    except Exception:  # an uninstalled source tree
        return "lvsfast"


class Agent:
    def __init__(self, settings: Settings, config: Any, status: StatusSource, router_id: str) -> None:
        self.settings = settings
        self.config = config
        self.router_id = router_id
        self._status = status
        self._started = time.monotonic()
        self._view: tuple[float, View, mib.Snapshot] | None = None
        self._task: asyncio.Task | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._session = 0
        self._packet = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self._events: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._events_task: asyncio.Task | None = None
        self.connected = False
        self.counts = {"connects": 0, "requests": 0, "notifications": 0, "dropped": 0}

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        self._events_task = asyncio.ensure_future(self._send_events())

    def update(self, settings: Settings, config: Any, router_id: str) -> None:
        """After a reload: new rows at once; a new socket or MIB set means registering again."""
        again = (settings.socket, settings.vrrp, settings.checker, settings.rfcv2, settings.rfcv3) != (
            self.settings.socket, self.settings.vrrp, self.settings.checker, self.settings.rfcv2, self.settings.rfcv3)
        self.settings, self.config, self.router_id, self._view = settings, config, router_id, None
        if again and self._writer is not None:
            self._writer.close()

    def close(self) -> None:
        for task in (self._task, self._events_task):
            if task is not None:
                task.cancel()
        if self._writer is not None:
            if self.connected:
                self._send(ax.close_pdu(self._session, self._next()))
            self._writer.close()
        self.connected = False

    def status(self) -> dict[str, Any]:
        return {"connected": self.connected, "socket": self.settings.socket, **self.counts}

    # ---- notifications -----------------------------------------------------------------------

    def event(self, event: dict[str, Any]) -> None:
        """A relayed child event; its notifications go out from a task of their own."""
        if not self.settings.traps or event.get("event") not in ("vrrp_state", "vrrp_group", "real_server", "quorum"):
            return
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self.counts["dropped"] += 1

    async def _send_events(self) -> None:
        while True:
            batch = [await self._events.get()]
            # A failover moves many instances at once: their events are taken together and
            # answered from one fresh snapshot, so the VRRP child gives one status answer, not
            # one per instance, at the moment it is busiest.
            await asyncio.sleep(BATCH_FOR)
            while not self._events.empty():
                batch.append(self._events.get_nowait())
            try:
                # A new master's notifications carry its reason and address: fresh rows.
                fresh = any(e.get("state") == "MASTER" or e.get("event") in ("real_server", "quorum") for e in batch)
                snap = await self.snapshot(fresh=fresh)
            except Exception:
                log.exception("SNMP notifications: no snapshot")
                continue
            for event in batch:
                try:
                    self._notify_event(event, snap)
                except Exception:  # a bad event must not end the notifications
                    log.exception("SNMP notification for %r", event)

    def _notify_event(self, event: dict[str, Any], snap: mib.Snapshot) -> None:
        if event.get("event") in ("real_server", "quorum"):
            if self.settings.checker:
                from lvsfast.snmp import checker_mib

                found = checker_mib.trap(event, snap)
                if found:
                    self.notify(found)
            return
        for varbinds in traps.for_event(event, snap, self.settings):
            self.notify(varbinds)

    def notify(self, varbinds: list[ax.VarBind]) -> bool:
        w = self._writer
        if not self.connected or w is None or w.transport.get_write_buffer_size() > MAX_BUFFERED:
            self.counts["dropped"] += 1
            return False
        self._send(ax.notify_pdu(self._session, self._next(), varbinds))
        self.counts["notifications"] += 1
        return True

    # ---- rows --------------------------------------------------------------------------------

    async def snapshot(self, fresh: bool = False) -> mib.Snapshot:
        if self._view is not None and not fresh and time.monotonic() - self._view[0] < CACHE_FOR:
            return self._view[2]
        vrrp: dict[str, Any] = {}
        if self.settings.vrrp or self.settings.rfcv2 or self.settings.rfcv3 or self.settings.traps:
            try:
                vrrp = await self._status("vrrp") or {}
            except Exception as exc:  # no VRRP child (-C), or a restarting one: no rows
                log.debug("SNMP: no VRRP status: %s", exc)
        checker: dict[str, Any] = {}
        if self.settings.checker and self.config.virtual_servers:
            try:
                checker = await self._status("checker") or {}
            except Exception as exc:  # no checker child (-P), or a restarting one
                log.debug("SNMP: no checker status: %s", exc)
        names = {i.get("keepalived", {}).get("data", {}).get("ifp_ifname", "") for i in
                 (vrrp.get("instances") or {}).values() if isinstance(i, dict)}
        names |= {getattr(v, "dev", None) or "" for i in self.config.vrrp_instances
                  for v in (*i.virtual_ipaddress, *i.virtual_ipaddress_excluded, *i.virtual_routes)}
        names |= {getattr(v, "dev", None) or "" for v in (*getattr(self.config, "static_ipaddress", ()),
                                                         *getattr(self.config, "static_routes", ()))}
        snap = mib.Snapshot(config=self.config, vrrp=vrrp, links=mib.link_facts({n for n in names if n}),
                            router_id=self.router_id, version=version_string(), traps=self.settings.traps,
                            started=self._started, checker=checker)
        rows = list(mib.global_rows(snap)) if (self.settings.vrrp or self.settings.checker) else []
        if self.settings.vrrp:
            rows += mib.vrrp_rows(snap)
            rows += mib.track_rows(snap)
            rows += mib.route_rows(snap)
            rows += mib.rule_rows(snap)
        if self.settings.checker:
            from lvsfast.snmp import checker_mib

            rows += checker_mib.rows(snap)
        rows += rfc.rows(snap, v2=self.settings.rfcv2, v3=self.settings.rfcv3)
        self._view = (time.monotonic(), View(rows), snap)
        return snap

    async def view(self) -> View:
        await self.snapshot()
        assert self._view is not None
        return self._view[1]

    def subtrees(self) -> list[ax.OID]:
        s = self.settings
        out = []
        if s.vrrp or s.checker:
            out.append(mib.GLOBAL)
        if s.vrrp:
            out.append(mib.VRRP)
        if s.checker:
            out.append(mib.CHECK)
        if s.rfcv2:
            out.append(rfc.VRRP_MIB)
        if s.rfcv3:
            out.append(rfc.VRRPV3_MIB)
        return out

    # ---- the connection ----------------------------------------------------------------------

    async def _run(self) -> None:
        delay, told = 1.0, False
        while True:
            try:
                await self._session_once()
                delay, told = 1.0, False
            except asyncio.CancelledError:
                raise
            except (OSError, ax.AgentXError, asyncio.TimeoutError, ConnectionError) as exc:
                (log.debug if told else log.warning)("SNMP: master agent at %s: %s; trying again",
                                                     self.settings.socket, exc or type(exc).__name__)
                told = True
            finally:
                self.connected = False
                for fut in self._waiting.values():
                    fut.cancel()
                self._waiting.clear()
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        kind, where = address(self.settings.socket)
        if kind == "unix":
            return await asyncio.wait_for(asyncio.open_unix_connection(where), ANSWER_WITHIN)
        return await asyncio.wait_for(asyncio.open_connection(*where), ANSWER_WITHIN)

    async def _session_once(self) -> None:
        reader, self._writer = await self._connect()
        sock = self._writer.get_extra_info("socket")
        if sock is not None and sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reading = asyncio.ensure_future(self._read(reader))
        try:
            opened = await self._ask(ax.open_pdu(self._next(), AGENT_OID, f"lvsfast pid {os.getpid()}"))
            if opened.error:
                raise ConnectionError(f"the master agent refused the session (error {opened.error})")
            self._session = opened.header.session
            for subtree in self.subtrees():
                answer = await self._ask(ax.register_pdu(self._session, self._next(), subtree))
                if answer.error:
                    log.warning("SNMP: the master agent refused %s (error %d)",
                                ".".join(map(str, subtree)), answer.error)
            self.connected = True
            self.counts["connects"] += 1
            log.info("SNMP: AgentX subagent connected to %s", self.settings.socket)
            while not reading.done():
                done, _ = await asyncio.wait({reading}, timeout=PING_EVERY)
                if not done:
                    await self._ask(ax.ping_pdu(self._session, self._next()))
            reading.result()
            raise ConnectionError("the master agent closed the connection")
        finally:
            reading.cancel()

    def _next(self) -> int:
        self._packet = (self._packet + 1) & 0xFFFFFFFF
        return self._packet

    def _send(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)

    async def _ask(self, data: bytes) -> ax.Pdu:
        packet = ax.parse_header(data[:ax.HEADER]).packet
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[packet] = fut
        self._send(data)
        try:
            return await asyncio.wait_for(fut, ANSWER_WITHIN)
        finally:
            self._waiting.pop(packet, None)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = bytearray()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            buffer += chunk
            for header, payload in ax.split(buffer):
                await self._handle(ax.parse_pdu(header, payload))

    async def _handle(self, pdu: ax.Pdu) -> None:
        h = pdu.header
        if h.type == ax.RESPONSE:
            fut = self._waiting.get(h.packet)
            if fut is not None and not fut.done():
                fut.set_result(pdu)
            return
        if h.type == ax.CLOSE:
            raise ConnectionError(f"the master agent closed the session (reason {pdu.reason})")
        if h.type in (ax.GET, ax.GETNEXT, ax.GETBULK):
            self.counts["requests"] += 1
            try:
                varbinds = (await self.view()).answer(pdu)
            except Exception:
                log.exception("SNMP: answering %s", pdu)
                self._send(ax.response_pdu(h, [], ax.PROCESSING_ERROR, 1))
                return
            self._send(ax.response_pdu(h, varbinds))
        elif h.type == ax.TESTSET:
            self._send(ax.response_pdu(h, [], ax.NOT_WRITABLE, 1))
        elif h.type in (ax.COMMITSET, ax.UNDOSET, ax.CLEANUPSET):
            if h.type != ax.CLEANUPSET:
                self._send(ax.response_pdu(h, []))
