"""What an instance tracks, as resolved from the configuration: the values that
:mod:`lvsfast.vrrp.spec` builds and :mod:`lvsfast.vrrp.track` decides with."""
from __future__ import annotations

from lvsfast.frozen import record


@record
class TrackSpec:
    kind: str  # "interface" | "script" | "file" | "process" | "bfd"
    name: str
    weight: int  # 0: FAULT on failure
    reverse: bool = False


@record
class ProcessSpec:
    """A vrrp_track_process: how many matching processes make it up."""

    name: str
    process: str
    param_match: str | None = None  # None: name only; "initial"/"partial": argv too
    args: tuple[str, ...] = ()
    quorum: int = 1
    quorum_max: int | None = None
    full_command: bool = False
