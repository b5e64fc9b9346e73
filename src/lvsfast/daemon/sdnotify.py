"""sd_notify(3) without libsystemd: READY, RELOADING, STOPPING, STATUS and watchdog keep-alives."""
from __future__ import annotations

import os
import socket
import time


class Notifier:
    """Sends state to systemd when started by it (``NOTIFY_SOCKET`` set); silent otherwise."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written with a leading '@'.
        self._addr = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        wanted = usec.isdigit() and (not pid or pid == str(os.getpid()))
        #: Seconds between keep-alives (half the watchdog period), or None without a watchdog.
        self.watchdog_interval: float | None = int(usec) / 2e6 if wanted else None

    @property
    def enabled(self) -> bool:
        return bool(self._addr)

    def send(self, **fields: str | int) -> bool:
        if not self._addr:
            return False
        msg = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto(msg, self._addr)
            return True
        except OSError:
            return False

    def ready(self, status: str = "running") -> bool:
        return self.send(ready=1, status=status)

    def reloading(self) -> bool:
        # Type=notify-reload wants MONOTONIC_USEC alongside RELOADING=1.
        return self.send(reloading=1, monotonic_usec=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> bool:
        return self.send(stopping=1)

    def status(self, text: str) -> bool:
        return self.send(status=text)

    def watchdog(self) -> bool:
        return self.send(watchdog=1)
