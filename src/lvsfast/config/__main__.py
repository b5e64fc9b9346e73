"""``python -m lvsfast.config FILE [CONFIG_ID]``: print the diagnostics and the model as JSON."""
from __future__ import annotations

import sys

from lvsfast.config import analyse
from lvsfast.config.dump import dump


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m lvsfast.config FILE [CONFIG_ID]", file=sys.stderr)
        return 64
    a = analyse(argv[0], argv[1] if len(argv) > 1 else None)
    for d in a.diagnostics:
        print(d, file=sys.stderr)
    print(dump(a.config))
    return 1 if a.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
