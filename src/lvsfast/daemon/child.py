"""The body of a child process: one subsystem on its own uvloop loop, served over a channel."""
from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import pickle
import signal
import socket
import time
from typing import Any, Callable

from lvsfast import heap
from lvsfast.daemon import logs, pidfile, scheduling
from lvsfast.daemon.channel import Channel
from lvsfast.daemon.subsystem import config_view, resolve

log = logging.getLogger("lvsfast.child")

_PR_SET_PDEATHSIG = 1
NOT_READ_HERE = "no config read here for"  # the parent then sends its own copy


def _die_with_parent() -> None:
    # If the parent is SIGKILLed, the child must not live on holding VIPs unsupervised.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # uvloop is a dependency; this only helps odd platforms
        return asyncio.new_event_loop()


def fork_child(name: str, factory_spec: str, config: Any, options: Any, pid_path: str | None,
               load_config: Callable[[], Any] | None = None,
               in_child: Callable[[], None] | None = None) -> tuple[int, socket.socket]:
    """Fork the process that runs child ``name`` with ``config`` (its view); returns its pid and
    the parent's end of its channel. ``in_child`` runs first in the child (dropping what it
    must not inherit). The child never returns into the caller's code."""
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            parent_sock.close()
            if in_child is not None:
                in_child()
            code = run_child(name, factory_spec, child_sock, config, options, pid_path, load_config)
        finally:
            os._exit(code)
    child_sock.close()
    return pid, parent_sock


def run_child(name: str, factory_spec: str, sock: socket.socket, config: Any, options: Any,
              pid_path: str | None, load_config: Callable[[], Any] | None = None) -> int:
    """Run in the forked child; returns the exit status. Never returns into the parent's code."""
    # The fork copied the parent's loop state: its signal wakeup fd is a socket shared with the
    # parent, so a signal delivered here would wake the parent's loop. Cut every tie first.
    signal.set_wakeup_fd(-1)
    asyncio.events._set_running_loop(None)
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT,
                signal.SIGRTMIN + 2, signal.SIGRTMIN + 29):
        signal.signal(sig, signal.SIG_IGN)  # the parent owns these and talks to us over the channel
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _die_with_parent()
    ident = {"vrrp": "Lvsfast_vrrp", "checker": "Lvsfast_healthcheckers"}.get(name, f"Lvsfast_{name}")
    logs.setup(ident, **logs.options_kw(options, name))
    if pid_path:
        try:
            pidfile.write(pid_path)
        except pidfile.PidFileError as e:
            log.error("%s child: %s", name, e)
            return 1
    g = getattr(config, "global_defs", None)
    wanted, errors = scheduling.tuning(g.extra if g is not None else (), name)
    for problem in errors + scheduling.apply(wanted):
        log.error("%s child: %s", name, problem)
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_serve(name, factory_spec, sock, config, options, load_config))
    except Exception:
        log.exception("%s child failed", name)
        return 1
    finally:
        if pid_path:
            pidfile.remove(pid_path)


async def _serve(name: str, factory_spec: str, sock: socket.socket, config: Any, options: Any,
                 load_config: Callable[[], Any] | None = None) -> int:
    channel = Channel(sock)
    stopping = asyncio.Event()
    subsystem = resolve(factory_spec)(options=options, emit=channel.event)
    parsed: dict[str, Any] = {}  # source digest -> this child's view, read here for a reload

    def take(msg: dict[str, Any]) -> Any:
        digest = msg.get("parsed")
        view = parsed.pop(digest, None) if digest is not None else None
        parsed.clear()
        if digest is None:
            return pickle.loads(msg["config_pickle"])
        if view is None:
            raise RuntimeError(f"{NOT_READ_HERE} {digest}")
        return view

    async def on_request(msg: dict[str, Any]) -> Any:
        op = msg["op"]
        if op == "status":
            return subsystem.status()
        if op == "stats":
            return subsystem.stats(clear=bool(msg.get("clear")))
        if op == "parse":
            # Read here, the same files build the same model as the parent's reading: applied
            # at once when valid (the parent confirms it), it saves pickling and unpickling all
            # of it (as long as the reading itself, for a large table).
            parsed.clear()
            if load_config is None:
                return ""
            t0 = time.perf_counter()
            new = load_config()
            digest = getattr(new, "source_digest", "")
            if digest:
                parsed[digest] = config_view(name, new)
            # How long a reload takes, stage by stage, is what an operator with a large table asks.
            log.info("%s child read the new config in %.2f s", name, time.perf_counter() - t0)
            return digest
        if op == "reload":
            # A large config is hundreds of thousands of acyclic objects: the cyclic collector
            # would walk them again and again while they are made (as config.load and the IPVS
            # backend also avoid).
            paused = gc.isenabled()
            gc.disable()
            t0 = time.perf_counter()
            try:
                await subsystem.reload(take(msg))
            finally:
                if paused:
                    gc.enable()
            heap.trim()
            log.info("%s child applied the new config in %.2f s", name, time.perf_counter() - t0)
            return True
        if op == "stop":
            stopping.set()
            return True
        if op == "command":
            return await subsystem.command(msg["name"], msg.get("args", {}))
        raise ValueError(f"unknown request {op!r}")

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    await channel.start(on_request, subsystem.on_event)
    await subsystem.start(config)
    heap.trim()
    log.info("%s child started (pid %d)", name, os.getpid())
    closed = asyncio.create_task(channel.closed.wait())
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait({closed, stop}, return_when=asyncio.FIRST_COMPLETED)
    if closed.done() and not stop.done():
        log.warning("%s child: parent went away, stopping", name)
    await subsystem.stop()
    log.info("%s child stopped", name)
    channel.close()
    return 0
