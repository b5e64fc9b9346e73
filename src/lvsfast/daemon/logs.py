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


def setup(ident: str, *, console: bool, detail: bool = False, facility: int = logging.handlers.SysLogHandler.LOG_DAEMON,
          log_file: str | None = None) -> logging.Logger:
    """Configure the ``lvsfast`` logger for this process (parent or child) and return it.

    ``log_file`` (keepalived's ``-g``) is written as well, flushed after every line."""
    logger = logging.getLogger(ROOT)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.setLevel(logging.DEBUG if detail else logging.INFO)
    logger.propagate = False
    handler: logging.Handler
    if console or not os.path.exists("/dev/log"):
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
