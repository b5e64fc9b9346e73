"""The operator's runtime overrides, kept in a state file so they survive reloads and restarts."""
from __future__ import annotations

import json
import os

from lvsfast.dataplane.model import DestKey, ServiceKey
from lvsfast.dataplane.pool import Override, Pair

DEFAULT_PATH = "/var/lib/lvsfast/runtime-state.json"
_VERSION = 1


def _skey_to_json(k: ServiceKey) -> dict:
    return {"family": k.family, "protocol": k.protocol, "address": k.address, "port": k.port, "fwmark": k.fwmark}


# os.path, not pathlib: the checker child reads this file at every start, and pathlib would
# bring urllib.parse and its own classes into the child for two file operations.
def save(path: str | os.PathLike[str], overrides: dict[Pair, Override]) -> None:
    """Atomically write the overrides (a crash mid-write leaves the previous file intact)."""
    p = os.fspath(path)
    os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
    entries = [{"service": _skey_to_json(s), "real": {"address": d.address, "port": d.port},
                "state": o.state, "weight": o.weight} for (s, d), o in sorted(overrides.items())]
    tmp = p + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"version": _VERSION, "overrides": entries}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)


def load(path: str | os.PathLike[str]) -> dict[Pair, Override]:
    """The saved overrides; a missing file is an empty state, a corrupt one raises ValueError."""
    p = os.fspath(path)
    try:
        with open(p) as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}:{exc.lineno}: error: runtime state is not valid JSON: {exc.msg}") from None
    out: dict[Pair, Override] = {}
    for e in data.get("overrides", []):
        s = e["service"]
        key = ServiceKey(s["family"], s["protocol"], s["address"], s["port"], s["fwmark"])
        out[(key, DestKey(e["real"]["address"], e["real"]["port"]))] = Override(e.get("state"), e.get("weight"))
    return out
