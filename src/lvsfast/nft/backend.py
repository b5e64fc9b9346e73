"""The nftables backend: lvsfast's own table, changed in one libnftables transaction per apply.

It remembers what it last wrote, so an update costs what changed (one weight: one service's
rule, slot map and one set element), not a listing of the whole table. ``read()`` always asks
the kernel; ``apply(..., reread=True)`` does too, for repair after outside changes.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Mapping, Sequence

from lvsfast.dataplane.backend import CONNECTIONS, WATCH, BackendError, Pair, Unsupported
from lvsfast.dataplane.diff import Op, diff
from lvsfast.dataplane.model import Table
from lvsfast.nft import fastpath, render
from lvsfast.nft.libnft import Nft, NftError
from lvsfast.nft.parse import table_from_json
from lvsfast.nft.render import TABLE, transaction
from lvsfast.nft.support import unsupported
from lvsfast.nft.watch import ChangeWatch, OutsideChange

log = logging.getLogger("lvsfast.nft")

# Scripts bigger than this run in a thread so a full rebuild does not stall the event loop.
_THREAD_ABOVE = 256 * 1024


def check(desired: Table) -> list[str]:
    """Every reason ``desired`` cannot be programmed with nftables (empty when it can)."""
    errors = []
    for key, svc in desired.services.items():
        why = unsupported(svc)
        if why:
            errors.append(why)
        for d in desired.dests.get(key, {}).values():
            why = unsupported(d)
            if why:
                errors.append(f"{key}: {why}")
            elif d.forward != svc.forward and "tun" not in (d.forward, svc.forward):
                errors.append(f"{key}: real server {d.key}: lb_kind {d.forward.upper()} in a "
                              f"{svc.forward.upper()} virtual server needs the IPVS backend (lvs_backend ipvs)")
            elif key.fwmark and d.key.port:
                errors.append(f"{key}: real server {d.key}: a fwmark service keeps the client's port; "
                              f"give no port or use the IPVS backend (lvs_backend ipvs)")
    return errors


def changed_part(current: Table, desired: Table) -> tuple[Table, Table]:
    """The services that differ, from each side. A table made from ``current`` by a delta names
    them (the cost is the change's); otherwise identity first: Table.with_dest shares unchanged
    services' dicts, so a one-server change costs a pass over services, not over real servers."""
    hint = desired.changed_since(current)
    if hint is not None:
        # Made from the very table we hold: only the services it names can differ.
        keys = [k for k in hint if k in current.services or k in desired.services]

        def cut(t: Table) -> Table:
            return Table({k: t.services[k] for k in keys if k in t.services},
                         {k: t.dests.get(k, {}) for k in keys if k in t.services})
        return cut(current), cut(desired)
    keys = []
    cs, cd = current.services, current.dests
    if cs is not desired.services:
        for key, svc in desired.services.items():
            have = cs.get(key)
            if have is not svc and (have is None or render.differs(have, svc)):
                keys.append(key)
        keys += [k for k in cs if k not in desired.services]
    seen = set(keys)
    for key, b in desired.dests.items():
        a = cd.get(key)
        if a is not b and key not in seen and key in desired.services and dict(a or {}) != dict(b or {}):
            keys.append(key)

    def part(t: Table) -> Table:
        return Table({k: t.services[k] for k in keys if k in t.services},
                     {k: t.dests.get(k, {}) for k in keys if k in t.services})
    return part(current), part(desired)


class NftBackend(Unsupported):
    """:class:`lvsfast.dataplane.backend.Backend` for nftables: no IPVS timeouts nor sync daemon."""

    name = "nftables"
    capabilities = frozenset({WATCH, CONNECTIONS})

    def __init__(self, table: str = TABLE) -> None:
        self.table = table
        self._nft = Nft()
        self._state: Table | None = None  # what our table holds, as last read or written
        self._exists = False
        self._nl: fastpath.NlSocket | None = None
        self.fast_updates = 0  # how many applies took the raw-netlink path (for tests and bench)
        self._seen_generation: int | None = None  # ruleset generation at the last full re-read
        self.rereads_skipped = 0
        self._watch: ChangeWatch | None = None

    def watch(self, on_change: Callable[[OutsideChange], None]) -> None:
        """Call ``on_change`` when another process commits a change to our table (from nf_tables'
        notifications, on the running loop). Idempotent; stopped by ``close``."""
        if self._watch is None:
            self._watch = ChangeWatch(self.table, on_change)

    async def connections(self, pairs: Sequence[Pair]) -> Mapping[Pair, int]:
        """conntrack's live NAT flows to each (service, real server) (needs the conntrack tool)."""
        from lvsfast.nft.conntrack import connections

        counts = await connections()
        return {pair: counts.get(pair, 0) for pair in pairs}

    def _fast(self, cur: Table, desired: Table) -> bool:
        """Send a dests-only change of existing plain services as raw netlink; False if not such a change.

        ``cur`` and ``desired`` hold only the services that differ.
        """
        if not self._exists or cur.services.keys() != desired.services.keys():
            return False
        changed = []
        for key, svc in desired.services.items():
            if render.differs(cur.services[key], svc) or not fastpath.eligible(cur.services[key], svc):
                return False
            changed.append((svc, cur.dests.get(key, {}), desired.dests.get(key, {})))
        if self._nl is None:
            self._nl = fastpath.NlSocket()

        def build(seq: int) -> list[bytes]:
            msgs: list[bytes] = []
            for svc, old, new in changed:
                msgs += fastpath.update_batch(self.table, svc, old, new, seq + len(msgs))
            return msgs

        try:
            self._nl.batch(build)
        except OSError as exc:
            self._state = None
            names = ", ".join(str(svc.key) for svc, _, _ in changed)
            raise BackendError(f"nftables: update of {names} in table ip {self.table} refused: {exc}") from exc
        self.fast_updates += 1
        return True

    def _read_sync(self) -> Table:
        try:
            items = self._nft.list_json(f"table ip {self.table}")
        except NftError as exc:
            if "No such file or directory" in str(exc):
                self._exists = False
                return Table()
            raise BackendError(f"nftables: reading table ip {self.table}: {exc}") from exc
        self._exists = True
        return table_from_json(items)

    async def read(self) -> Table:
        self._state = self._read_sync()
        return self._state

    def script(self, desired: Table, *, reread: bool = False) -> tuple[str, list[Op]]:
        """The transaction ``apply`` would run, and the operations it stands for."""
        if self._state is None or reread:
            self._state = self._read_sync()
        cur, want = changed_part(self._state, desired)
        errors = check(want)
        if errors:
            raise BackendError("; ".join(errors))
        return transaction(cur, want, exists=self._exists, table=self.table), diff(cur, want)

    def _run(self, text: str) -> None:
        try:
            self._nft.run(text)
        except NftError as exc:
            self._state = None  # unknown now: read again next time
            raise BackendError(f"nftables: transaction on table ip {self.table} refused: {exc}") from exc

    def _unchanged_since_read(self) -> bool:
        """True when no transaction at all was committed since our last full re-read: then the
        kernel still holds what we know, and repair needs no listing (which is what costs, in
        time and in the memory of parsing it). The generation is taken before reading, so a
        change that lands during the read is seen by the next check."""
        try:
            if self._nl is None:
                self._nl = fastpath.NlSocket()
            gen = self._nl.generation()
        except OSError:
            self._seen_generation = None
            return False
        if gen == self._seen_generation and self._state is not None:
            return True
        self._seen_generation = gen
        return False

    async def apply(self, desired: Table, *, reread: bool = False) -> list[Op]:
        if reread and self._unchanged_since_read():
            reread = False
            self.rereads_skipped += 1
        if self._state is None or reread:
            self._state = self._read_sync()
        cur, want = changed_part(self._state, desired)
        if not cur.services and not want.services:
            if not self._exists:
                self._run(transaction(cur, want, exists=False, table=self.table))
                self._exists = True
            # The kernel holds what ``desired`` says: keep that, which the caller keeps anyway,
            # rather than a second copy of the whole table parsed from the listing.
            self._state = desired
            return []
        errors = check(want)
        if errors:
            raise BackendError("; ".join(errors))
        ops = diff(cur, want)
        if not self._fast(cur, want):
            text = transaction(cur, want, exists=self._exists, table=self.table)
            try:
                if len(text) > _THREAD_ABOVE:
                    await asyncio.to_thread(self._run, text)
                else:
                    self._run(text)
            except BackendError as exc:
                if not reread:
                    raise
                # The table was damaged from outside in a way the diff cannot mend: start over.
                log.warning("nftables: %s; rebuilding table ip %s", exc, self.table)
                await self.rebuild(desired)
        self._state = desired
        self._exists = True
        return ops

    async def rebuild(self, desired: Table) -> None:
        """Replace our whole table in one transaction (repair of a table changed from outside).

        Established connections are untouched (conntrack keeps their NAT); persistence sets restart.
        """
        errors = check(desired)
        if errors:
            raise BackendError("; ".join(errors))
        self._read_sync()
        text = (f"delete table ip {self.table}\n" if self._exists else "") + transaction(
            Table(), desired, exists=False, table=self.table)
        await asyncio.to_thread(self._run, text)
        self._state = desired
        self._exists = True

    async def close(self, desired: Table | None = None) -> None:
        """Delete our table (only ours) and free the libnftables context."""
        try:
            self._nft.run(f"destroy table ip {self.table}")
        except NftError:
            try:
                self._nft.run(f"delete table ip {self.table}")
            except NftError as exc:
                if "No such file or directory" not in str(exc):
                    raise BackendError(f"nftables: deleting table ip {self.table}: {exc}") from exc
        finally:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
            self._state = None
            self._exists = False
            self._nft.close()
            if self._nl is not None:
                self._nl.close()
                self._nl = None
