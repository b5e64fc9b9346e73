#!/usr/bin/env python3
"""Advert send jitter with and without a blackholed mail server, side by side (issue #24).

    python bench/smtp_jitter.py [--seconds S] [--json PATH]

The same master as bench/advert_jitter.py (advert_int 0.01, VRRPv3, a real backup), once without
mail and once with ``smtp_alert`` towards 192.0.2.25:25, routed through the monitor namespace,
which does not forward: every SYN is dropped silently and each attempt hangs until
smtp_connect_timeout (30 s). The BACKUP mail at start and then the MASTER mail keep the parent's
mailer stuck for the whole capture. The mail goes from the parent process, never the VRRP child, so both rows should
read the same; a difference would be a regression.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from advert_jitter import one, rows_beside  # noqa: E402

BLACKHOLED = ("    notification_email {\n        ops@example.org\n    }\n    notification_email_from lb@example.org\n"
              "    smtp_server 192.0.2.25 25\n    smtp_connect_timeout 30\n    smtp_alert\n")
KEYS = ("adverts", "expected", "send_jitter_p50_ms", "send_jitter_p99_ms", "send_jitter_max_ms", "p99_ms",
        "max_ms", "over_30ms", "backup_takeovers")


def _blackhole(r1, mon) -> None:
    r1.ip("route", "add", "192.0.2.0/24", "via", "10.0.0.9")
    mon.run("sysctl", "-qw", "net.ipv4.ip_forward=0")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = {}
    for case, extra in (("no mail", ""), ("blackholed mail server", BLACKHOLED)):
        r = one("lvsfast", 0, a.seconds, extra=extra, prepare=_blackhole if extra else None)
        rows[case] = {k: r[k] for k in KEYS}
        print(case, json.dumps(rows[case]), flush=True)
    print("| " + " | ".join(("case",) + KEYS) + " |")
    print("|" + "---|" * (len(KEYS) + 1))
    for case, r in rows.items():
        print("| " + " | ".join([case] + [str(r[k]) for k in KEYS]) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(harness(rows, a.seconds), indent=1))
    return 0


def harness(rows: dict, seconds: float) -> dict:
    """The harness's format (bench/run.py): the blackholed run against the same master without mail."""
    results = rows_beside("advert_int 0.01, blackholed mail server", rows["blackholed mail server"],
                          "the same master without a mail server", rows["no mail"])
    return {"scenario": "smtp_jitter", "what": __doc__.splitlines()[0], "how": __doc__, "seconds": seconds,
            "results": results, "raw": rows}


if __name__ == "__main__":
    sys.exit(main())
