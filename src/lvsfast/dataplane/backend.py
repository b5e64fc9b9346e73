"""What a data-plane backend offers the daemon and the checker."""
from __future__ import annotations

from typing import Protocol

from lvsfast.dataplane.diff import Op
from lvsfast.dataplane.model import Table


class BackendError(RuntimeError):
    """A kernel refusal, with the service and real server named in the message."""


class Backend(Protocol):
    name: str  # "ipvs" | "nftables"

    async def read(self) -> Table:
        """The kernel's current table, as far as this backend owns or can see it."""

    async def apply(self, desired: Table) -> list[Op]:
        """Read once, diff, send only the differences; return what was done."""

    async def close(self, desired: Table | None = None) -> None:
        """Remove what lvsfast owns (or leave it, per configuration) and release sockets."""
