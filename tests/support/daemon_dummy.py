"""A stand-in subsystem for supervisor tests: records its lifecycle in a directory."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Dummy:
    def __init__(self, options: Any, emit) -> None:
        self.name = os.environ.get("DUMMY_NAME", "dummy")
        self.dir = Path(options.state_dir)
        self.emit = emit
        self.config: Any = None
        self.events: list[dict] = []

    def _log(self, what: str) -> None:
        with open(self.dir / f"{os.getpid()}.log", "a") as f:
            f.write(what + "\n")

    async def start(self, config: Any) -> None:
        self.config = config
        self._log(f"start {config['value']}")
        self.emit("hello", pid=os.getpid())

    async def reload(self, config: Any) -> None:
        self.config = config
        self._log(f"reload {config['value']}")

    async def stop(self) -> None:
        self._log("stop")

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "value": self.config["value"], "events": self.events}

    def stats(self, clear: bool = False) -> dict[str, Any]:
        return {"adverts": 1}

    async def command(self, op: str, args: dict[str, Any]) -> Any:
        if op == "emit":
            self.emit("ping", source=os.getpid())
            return "sent"
        return {"op": op, "args": args}

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@dataclass(frozen=True)
class Opts:
    state_dir: str
    control_socket: str
    pid: str
    vrrp_pid: str
    checkers_pid: str
    dump_dir: str
    dont_fork: bool = True
    log_console: bool = True
    log_detail: bool = False


def main() -> int:
    from lvsfast.daemon.main import run

    state, conf = sys.argv[1], sys.argv[2]
    opts = Opts(state, f"{state}/ctl.sock", f"{state}/parent.pid", f"{state}/vrrp.pid",
                f"{state}/checkers.pid", state)

    def load():
        with open(conf) as f:
            return json.load(f)  # a broken file raises, as a broken keepalived.conf would

    spec = "support.daemon_dummy:Dummy"
    return run(opts, load, factories={"vrrp": spec, "checker": spec})


if __name__ == "__main__":
    sys.exit(main())
