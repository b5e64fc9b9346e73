"""A stand-in subsystem for supervisor tests: records its lifecycle in a directory."""
from __future__ import annotations

import hashlib
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
        if op == "keepalived_data":  # SIGUSR1: the checker child writes its file where told
            Path(args["path"]).write_text(f"{self.name} check data\n")
            return args["path"]
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


class Conf(dict):
    """A config with a source digest (DUMMY_DIGEST=1): the checker child then reads it itself."""

    source_digest = ""


def main() -> int:
    from lvsfast.daemon.main import run

    state, conf = sys.argv[1], sys.argv[2]
    opts = Opts(state, f"{state}/ctl.sock", f"{state}/parent.pid", f"{state}/vrrp.pid",
                f"{state}/checkers.pid", state)
    parent = os.getpid()

    def load():
        # DUMMY_PARENT_CONF: the parent reads another file than the children, as when the file
        # changes between the checker's reading and the parent's.
        other = os.environ.get("DUMMY_PARENT_CONF")
        path = os.path.join(state, other) if other and os.getpid() == parent else conf
        if not os.path.exists(path):
            path = conf
        with open(path) as f:
            text = f.read()
        c = Conf(json.loads(text))  # a broken file raises, as a broken keepalived.conf would
        if os.environ.get("DUMMY_DIGEST"):
            c.source_digest = hashlib.sha256(text.encode()).hexdigest()
        return c

    spec = "support.daemon_dummy:Dummy"
    return run(opts, load, factories={"vrrp": spec, "checker": spec})


if __name__ == "__main__":
    sys.exit(main())
