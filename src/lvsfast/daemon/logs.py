"""Logging as keepalived does it: console with -l, syslog/journald otherwise, one line per event."""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys

ROOT = "lvsfast"


class _ConsoleFormatter(logging.Formatter):
    def __init__(self, ident: str, detail: bool) -> None:
        fmt = "%(asctime)s: %(message)s" if not detail else "%(asctime)s: [%(name)s] %(message)s"
        super().__init__(fmt, datefmt="%a %b %d %H:%M:%S %Y")
        self.ident = ident


def facility(name: str | None) -> int:
    """keepalived's ``-S``: 0-7 and local0-7 are LOG_LOCAL0-7; user; daemon (the default)."""
    from lvsfast.cli_flags import FACILITIES

    return FACILITIES.get(name or "daemon", FACILITIES["daemon"])


def options_kw(options: object, child: str | None = None) -> dict:
    """The logging flags of ``options`` (-l -D -S -G -g) as :func:`setup`'s keywords."""
    from lvsfast.paths import log_file_for

    log_file = getattr(options, "log_file", None)
    return {"console": bool(getattr(options, "log_console", child is not None)),
            "detail": bool(getattr(options, "log_detail", False)),
            "facility": facility(getattr(options, "log_facility", None)),
            "syslog": not getattr(options, "no_syslog", False),
            "log_file": log_file_for(log_file, child) if child else log_file}


def setup(ident: str, *, console: bool, detail: bool = False, facility: int = logging.handlers.SysLogHandler.LOG_DAEMON,
          log_file: str | None = None, syslog: bool = True) -> logging.Logger:
    """Configure the ``lvsfast`` logger for this process (parent or child) and return it.

    ``log_file`` (keepalived's ``-g``) is written as well, flushed after every line; ``syslog``
    False (``-G``) leaves only the console (``-l``) and the file."""
    logger = logging.getLogger(ROOT)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.setLevel(logging.DEBUG if detail else logging.INFO)
    logger.propagate = False
    handler: logging.Handler
    if not console and not syslog:
        handler = logging.NullHandler()
    elif console or not os.path.exists("/dev/log"):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ConsoleFormatter(ident, detail))
    else:
        handler = logging.handlers.SysLogHandler(address="/dev/log", facility=facility)
        handler.ident = f"{ident}[{os.getpid()}]: "
        handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    if log_file:
        try:
            to_file = logging.FileHandler(log_file)
        except OSError as exc:
            logger.error("cannot open log file %s: %s", log_file, exc.strerror or exc)
        else:
            to_file.setFormatter(_ConsoleFormatter(ident, detail))
            logger.addHandler(to_file)
    return logger
