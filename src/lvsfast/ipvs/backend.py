"""The IPVS backend: makes the kernel's IPVS table match a desired :class:`Table`.

State discipline, as keepalived's users need it:
- the kernel's table is read once (at the first apply, or after a failure or :meth:`refresh`)
  and then tracked from the answers to what we send, so a single weight change with 100,000
  real servers present costs one SET_DEST, not a dump;
- entries that already match are adopted, never recreated; services we never owned are
  never touched;
- a changed weight or threshold is SET_DEST, so established connections survive;
- on close, the services we own are removed (keepalived's default), unless ``keep_on_close``.

Comparison happens in the kernel's terms (:func:`canonical_service`, :func:`canonical_dest`):
fwmark services are reported by the kernel as TCP, a non-persistent service's granularity is
meaningless, and tunnel parameters only matter for TUN.
"""
from __future__ import annotations

import dataclasses
import gc
import errno
import os
from typing import AbstractSet, Iterable, Iterator, Mapping, Sequence

from lvsfast.dataplane.backend import CONNECTIONS, SYNC_DAEMON, TIMEOUTS, BackendError, Pair, Unsupported
from lvsfast.dataplane.diff import Op, diff
from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table
from lvsfast.ipvs import wire
from lvsfast.ipvs.bulk import all_canonical, track_run
from lvsfast.ipvs.kernel import IPVSSocket, resolve_family_id

_NO_DESTS: dict[DestKey, Dest] = {}
#: From this many operations on, a batch is sent while it is encoded (kernel.batch_streamed).
STREAM_FROM = 2000
#: Bytes of messages handed over at a time: a little under one sendmsg (kernel.CHUNK).
STREAM_CHUNK = 120 * 1024


def canonical_key(key: ServiceKey) -> ServiceKey:
    if key.fwmark and key.protocol != "tcp":
        return dataclasses.replace(key, protocol="tcp")
    return key


def canonical_service(svc: Service) -> Service:
    key = canonical_key(svc.key)
    gran = svc.persistence_granularity
    if not svc.persistence_timeout:
        gran = 32 if key.family == 4 else 128
    if key is svc.key and gran == svc.persistence_granularity:
        return svc
    return dataclasses.replace(svc, key=key, persistence_granularity=gran)


def canonical_dest(d: Dest) -> Dest:
    """``d`` as the kernel reports it back: tunnel fields only for TUN, the port only for gue,
    checksum options only for gue/gre, and "nocsum" exactly when neither csum nor remcsum."""
    if d.forward != "tun" and d.tun_type == "ipip" and not (d.tun_port or d.tun_nocsum or d.tun_csum
                                                             or d.tun_remcsum):
        return d  # the common case, without building a copy
    if d.forward != "tun":
        want = dataclasses.replace(d, tun_type="ipip", tun_port=0, tun_nocsum=False, tun_csum=False,
                                   tun_remcsum=False)
    elif d.tun_type == "ipip":
        want = dataclasses.replace(d, tun_port=0, tun_nocsum=False, tun_csum=False, tun_remcsum=False)
    else:
        want = dataclasses.replace(d, tun_port=d.tun_port if d.tun_type == "gue" else 0,
                                   tun_nocsum=not (d.tun_csum or d.tun_remcsum))
    return d if want == d else want


def canonical_table(t: Table) -> Table:
    services = {}
    dests = {}
    for key, svc in t.services.items():
        c = canonical_service(svc)
        services[c.key] = c
        dests[c.key] = {dk: canonical_dest(d) for dk, d in t.dests.get(key, {}).items()}
    return Table(services, dests)


def _explain(op: Op, code: int) -> str:
    err = -code
    what = f"{op.kind.replace('_', ' ')} {op.service}"
    if op.dest is not None or op.dest_key is not None:
        what += f" real server {op.dest_key or op.dest.key}"  # type: ignore[union-attr]
    reason = f"{os.strerror(err)} ({errno.errorcode.get(err, err)})"
    if op.kind in ("add_service", "edit_service") and err == errno.ENOENT and op.svc is not None:
        reason = (f"scheduler {op.svc.scheduler!r}"
                  + (f" or persistence engine {op.svc.persistence_engine!r}" if op.svc.persistence_engine else "")
                  + f" not available in this kernel ({reason})")
    elif err == errno.ESRCH:
        reason = f"virtual service not in the kernel ({reason})"
    return f"IPVS: {what}: {reason}"


def _split(t: Table, fwmark: bool) -> Table:
    keys = [k for k in t.services if bool(k.fwmark) == fwmark]
    return Table({k: t.services[k] for k in keys}, {k: t.dests[k] for k in keys if k in t.dests})


def _diff(current: Table, desired: Table, owned: AbstractSet[ServiceKey]) -> list[Op]:
    """dataplane.diff, run apart for fwmark and address services: diff sorts removals by
    ServiceKey, and a fwmark key (address None) does not order against an address key."""
    if len({bool(k.fwmark) for k in desired.services} | {bool(k.fwmark) for k in current.services}) < 2:
        return diff(current, desired, owned=owned)  # one kind of service only: nothing to split
    marks = diff(_split(current, True), _split(desired, True), owned=owned)
    addresses = diff(_split(current, False), _split(desired, False), owned=owned)
    if not marks or not addresses:
        return marks or addresses  # one part alone is in diff's order already
    rank = {"add_service": 0, "edit_service": 0, "add_dest": 1, "edit_dest": 1, "del_dest": 2, "del_service": 3}
    return sorted(marks + addresses, key=lambda op: rank[op.kind])  # stable: each part keeps diff's order


class IPVSBackend(Unsupported):
    """:class:`lvsfast.dataplane.backend.Backend` for the kernel's IPVS over generic netlink.
    IPVS sends no change notifications: no ``watch`` (drift is found by comparison)."""

    name = "ipvs"
    capabilities = frozenset({CONNECTIONS, TIMEOUTS, SYNC_DAEMON})

    def __init__(self, *, keep_on_close: bool = False, family_id: int | None = None) -> None:
        self.keep_on_close = keep_on_close
        self._family_id = family_id
        self._sock: IPVSSocket | None = None
        self._known: Table | None = None  # the kernel's table as we last saw and changed it
        self._owned: set[ServiceKey] = set()
        # kernel key -> (Service, dests mapping) objects of the last successful apply
        self._applied: dict[ServiceKey, tuple[Service, object]] = {}
        # The desired table of the last successful apply, while _applied matches it exactly: a
        # table made from it by a delta is diffed only where the delta says.
        self._last: Table | None = None

    # ---- plumbing ------------------------------------------------------------------------

    async def open(self) -> IPVSSocket:
        if self._sock is None:
            if self._family_id is None:
                self._family_id = await resolve_family_id()
            self._sock = IPVSSocket(self._family_id)
        return self._sock

    @property
    def messages_sent(self) -> int:
        """Netlink requests sent so far (dumps count one each)."""
        return self._sock.messages_sent if self._sock else 0

    @property
    def owned(self) -> frozenset[ServiceKey]:
        return frozenset(self._owned)

    # ---- reading -------------------------------------------------------------------------

    def _read_sync(self, sock: IPVSSocket) -> Table:
        fid = sock.family_id
        services: dict[ServiceKey, Service] = {}
        for svc in sock.dump(wire.dump_services_msg(fid), wire.decode_service):
            services[svc.key] = svc
        dests: dict[ServiceKey, dict[DestKey, Dest]] = {}
        for key in services:
            family = key.family
            dests[key] = {s.dest.key: s.dest for s in sock.dump(
                wire.dump_dests_msg(fid, key), lambda p: wire.decode_dest(p, family))}
        return Table(services, dests)

    async def read(self) -> Table:
        """Every IPVS service in the kernel with its real servers (fwmark services as TCP)."""
        sock = await self.open()
        try:
            table = self._read_sync(sock)
        except OSError as e:
            raise BackendError(f"IPVS: reading the kernel's table failed: {e}") from e
        self._known = table
        self._last = None
        return Table(dict(table.services), {k: dict(v) for k, v in table.dests.items()})

    async def dest_states(self, key: ServiceKey) -> list[wire.DestState]:
        """The real servers of one service with their connection counters (for draining)."""
        sock = await self.open()
        key = canonical_key(key)
        try:
            return sock.dump(wire.dump_dests_msg(sock.family_id, key), lambda p: wire.decode_dest(p, key.family))
        except OSError as e:
            raise BackendError(f"IPVS: listing real servers of {key} failed: {e}") from e

    async def connections(self, pairs: Sequence[Pair]) -> Mapping[Pair, int]:
        """Active and inactive connections of each (service, real server), from IPVS's counters."""
        out: dict[Pair, int] = {}
        for skey in {s for s, _ in pairs}:
            for st in await self.dest_states(skey):
                out[(skey, st.dest.key)] = st.active_conns + st.inactive_conns
        return {p: out.get(p, 0) for p in pairs}

    async def refresh(self) -> None:
        """Forget what we think the kernel holds; the next apply reads it again."""
        self._known = None
        self._applied.clear()
        self._last = None

    # ---- writing -------------------------------------------------------------------------

    def _encode(self, fid: int, op: Op) -> bytes:
        k = op.service
        if op.kind == "add_service":
            return wire.service_msg(fid, wire.IPVS_CMD_NEW_SERVICE, op.svc)  # type: ignore[arg-type]
        if op.kind == "edit_service":
            return wire.service_msg(fid, wire.IPVS_CMD_SET_SERVICE, op.svc)  # type: ignore[arg-type]
        if op.kind == "del_service":
            return wire.del_service_msg(fid, k)
        if op.kind == "add_dest":
            return wire.dest_msg(fid, wire.IPVS_CMD_NEW_DEST, k, op.dest)  # type: ignore[arg-type]
        if op.kind == "edit_dest":
            return wire.dest_msg(fid, wire.IPVS_CMD_SET_DEST, k, op.dest)  # type: ignore[arg-type]
        return wire.del_dest_msg(fid, k, op.dest_key)  # type: ignore[arg-type]

    def _send(self, sock: IPVSSocket, ops: list[Op]) -> list[str]:
        """Send ``ops`` as one batch, track the successes in ``_known``; return failure messages."""
        failures: list[str] = []
        encodable: list[Op] = []
        if len(ops) >= STREAM_FROM:
            # A big load: the kernel takes each chunk (in a helper thread) while the next is encoded.
            result = sock.batch_streamed(self._encoded(sock.family_id, ops, encodable, failures))
        else:
            msgs: list[bytes] = []
            for chunk in self._encoded(sock.family_id, ops, encodable, failures):
                msgs += chunk
            result = sock.batch(msgs) if msgs else None
        if self._known is None:
            self._known = Table({}, {})
        # Our own dicts, changed in place so tracking costs what the change costs.
        services: dict = self._known.services  # type: ignore[assignment]
        dests: dict = self._known.dests  # type: ignore[assignment]
        if result is None or not any(result.errors):
            self._track_all(encodable, services, dests)
            return failures
        for i, op in enumerate(encodable):
            code = result.errors[i]
            # Already gone is what a deletion wants (someone else removed it first).
            if (op.kind, -code) in (("del_service", errno.ESRCH), ("del_dest", errno.ENOENT)):
                code = 0
            if code:
                failures.append(_explain(op, code))
                continue
            k = op.service
            if op.kind in ("add_service", "edit_service"):
                services[k] = op.svc
                dests.setdefault(k, {})
                self._owned.add(k)
            elif op.kind == "del_service":
                services.pop(k, None)
                dests.pop(k, None)
                self._owned.discard(k)
            elif op.kind in ("add_dest", "edit_dest"):
                dests.setdefault(k, {})[op.dest.key] = op.dest  # type: ignore[union-attr]
            else:
                dests.get(k, {}).pop(op.dest_key, None)
        return failures

    def _encoded(self, fid: int, ops: list[Op], encodable: list[Op], failures: list[str]) -> Iterator[list[bytes]]:
        """The messages for ``ops``, about a kernel chunk at a time; each op that encodes goes to
        ``encodable`` (in the messages' order), each that cannot to ``failures``."""
        msgs: list[bytes] = []
        size = 0
        i, n = 0, len(ops)
        # Real servers are nearly all of a big load: their runs are encoded in one call each.
        encode_run = wire.dest_msg.encode_run
        while i < n:
            j, size = encode_run(fid, ops, i, msgs, size, STREAM_CHUNK)
            encodable += ops[i:j]
            if j < n and size < STREAM_CHUNK:
                # Another kind of op, or a real server the run could not encode (its error is
                # raised again here).
                op = ops[j]
                j += 1
                try:
                    m = self._encode(fid, op)
                except wire.WireError as e:
                    failures.append(f"IPVS: {op}: {e}")
                else:
                    encodable.append(op)
                    msgs.append(m)
                    size += len(m)
            i = j
            if size >= STREAM_CHUNK:
                yield msgs
                msgs, size = [], 0
        if msgs:
            yield msgs

    def _track_all(self, ops: list[Op], services: dict, dests: dict) -> None:
        """Record a batch the kernel took whole (the common case, without per-op error checks)."""
        owned = self._owned
        i, n = 0, len(ops)
        while i < n:
            i = track_run(ops, i, dests)  # a run of real servers, in one call
            if i == n:
                break
            op = ops[i]
            i += 1
            kind, k = op.kind, op.service
            if kind == "add_service" or kind == "edit_service":
                services[k] = op.svc
                dests.setdefault(k, {})
                owned.add(k)
            elif kind == "del_service":
                services.pop(k, None)
                dests.pop(k, None)
                owned.discard(k)
            else:
                dests.get(k, {}).pop(op.dest_key, None)

    async def apply(self, desired: Table, *, reread: bool = False) -> list[Op]:
        """Make the kernel hold ``desired`` for the services we own; return the operations sent.
        ``reread``: :meth:`refresh` first (drift repair: the kernel is read again).

        Only services whose desired entry changed since the last successful apply are diffed:
        a service whose ``Service`` and real-server mapping are the very objects applied last
        time (``Table.with_dest`` keeps the others' objects) is skipped without a look, so one
        changed weight costs one service's diff, not the table's.

        Raises :class:`BackendError` naming each refused service and real server after sending
        everything else (the rest of the batch still applies); the next apply re-reads the kernel.
        """
        if reread:
            await self.refresh()
        sock = await self.open()
        # Loading 100,000 entries allocates millions of small objects: the cyclic GC would walk
        # them again and again, and none of them form cycles (as the config loader does).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return await self._apply(sock, desired)
        finally:
            if gc_was_enabled:
                gc.enable()

    async def _apply(self, sock: IPVSSocket, desired: Table) -> list[Op]:
        if self._known is None:
            await self.read()
            self._applied.clear()
        applied = self._applied
        want_services: dict[ServiceKey, Service] = {}
        want_dests: dict[ServiceKey, dict[DestKey, Dest]] = {}
        sources: dict[ServiceKey, tuple[Service, object]] = {}
        seen: set[ServiceKey] = set()
        hint = desired.changed_since(self._last)
        self._last = None  # until this apply has succeeded
        wanted = desired.services
        candidates = wanted.items() if hint is None else [(k, wanted[k]) for k in hint if k in wanted]
        for key, svc in candidates:
            inner = desired.dests.get(key, _NO_DESTS)
            ckey = canonical_key(key)
            seen.add(ckey)
            prev = applied.get(ckey)
            if prev is not None and prev[0] is svc and prev[1] is inner:
                continue
            want_services[ckey] = canonical_service(svc)
            # Nearly always every dest is canonical already (not tunnelled): no copy then.
            want_dests[ckey] = inner if all_canonical(inner.values(), canonical_dest) else {
                dk: canonical_dest(d) for dk, d in inner.items()}
            sources[ckey] = (svc, inner)
        if hint is None:
            gone = [k for k in self._owned if k not in seen]
        else:
            gone = [ck for ck in {canonical_key(k) for k in hint if k not in wanted} if ck in self._owned and ck not in seen]
        known = self._known
        assert known is not None
        keys = [k for k in (*want_services, *gone) if k in known.services]
        current = Table({k: known.services[k] for k in keys}, {k: known.dests.get(k, {}) for k in keys})
        # Services we want are ours from now on (adopted if they already exist).
        self._owned.update(want_services)
        ops = _diff(current, Table(want_services, want_dests), self._owned)
        failures = self._send(sock, ops) if ops else []
        if failures:
            self._known = None
            applied.clear()
            err = BackendError("; ".join(failures))
            err.ops = ops  # type: ignore[attr-defined]
            raise err
        applied.update(sources)
        for k in gone:
            applied.pop(k, None)
        self._last = desired
        return ops

    async def apply_ops(self, ops: list[Op]) -> list[Op]:
        """Send known changes (from the checker, say) without diffing the whole table: the cost
        is proportional to the change. Ops use model values; they are put in kernel form here."""
        sock = await self.open()
        if self._known is None:
            await self.read()
        canon = [op._replace(service=canonical_key(op.service), svc=canonical_service(op.svc) if op.svc else None,
                             dest=canonical_dest(op.dest) if op.dest else None) for op in ops]
        self._last = None
        for op in canon:
            self._applied.pop(op.service, None)
            if op.kind in ("add_service", "edit_service"):
                self._owned.add(op.service)
        failures = self._send(sock, canon)
        if failures:
            self._known = None
            raise BackendError("; ".join(failures))
        return canon

    async def remove(self, keys: Iterable[ServiceKey]) -> list[Op]:
        """Delete these services (and their real servers) from the kernel."""
        sock = await self.open()
        ops = [Op("del_service", canonical_key(k)) for k in keys]
        self._last = None
        for op in ops:
            self._applied.pop(op.service, None)
        failures = self._send(sock, ops)
        if failures:
            self._known = None
            raise BackendError("; ".join(failures))
        return ops

    async def close(self, desired: Table | None = None) -> None:
        """Remove the services we own (keepalived's behaviour on stop) and release the socket."""
        try:
            if self._sock is not None and not self.keep_on_close:
                owned = set(self._owned)
                if desired is not None:
                    owned |= {canonical_key(k) for k in desired.services}
                if owned:
                    await self.remove(sorted(owned, key=str))
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    # ---- global settings -----------------------------------------------------------------

    async def _one(self, msg: bytes, what: str) -> None:
        sock = await self.open()
        code = sock.request(msg)
        if code:
            raise BackendError(f"IPVS: {what}: {os.strerror(-code)} ({errno.errorcode.get(-code, -code)})")

    async def set_timeouts(self, t: wire.Timeouts) -> None:
        """``lvs_timeouts``: tcp, tcpfin and udp connection timeouts (0 keeps the kernel's)."""
        sock = await self.open()
        await self._one(wire.timeouts_msg(sock.family_id, t), f"setting timeouts {t}")

    async def start_sync_daemon(self, d: wire.SyncDaemon) -> None:
        """``lvs_sync_daemon``: start the kernel's master or backup connection-sync thread."""
        sock = await self.open()
        await self._one(wire.daemon_msg(sock.family_id, wire.IPVS_CMD_NEW_DAEMON, d),
                        f"starting {d.state} sync daemon on {d.interface} (id {d.sync_id})")

    async def stop_sync_daemon(self, d: wire.SyncDaemon) -> None:
        sock = await self.open()
        await self._one(wire.daemon_msg(sock.family_id, wire.IPVS_CMD_DEL_DAEMON, d),
                        f"stopping {d.state} sync daemon")
