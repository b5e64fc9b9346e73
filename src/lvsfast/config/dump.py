"""A readable dump of the model (``lvsfast -d``): JSON, one object per block, defaults included."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from lvsfast.config.model import Config


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"__type__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if f.name in ("keyword_lines", "warnings", "source_digest"):
                continue
            out[f.name] = _plain(getattr(obj, f.name))
        return out
    if isinstance(obj, (tuple, list)):
        return [_plain(x) for x in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


def dump(config: Config) -> str:
    return json.dumps(_plain(config), indent=2, default=str)


def as_dict(config: Config) -> dict[str, Any]:
    return _plain(config)
