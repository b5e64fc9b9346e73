"""``lvsfast`` without ``-t``: load and validate the config, then run the parent and its children."""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Callable

from lvsfast import heap
from lvsfast.daemon import logs, pidfile
from lvsfast.daemon.child import fork_child
from lvsfast.daemon.subsystem import DEFAULT_FACTORIES, config_view, preload
from lvsfast.paths import DaemonPaths

# The parent's own stack (supervision, control socket, FIFOs, sd_notify) is imported after the
# children are forked (see run): no child uses it, and the VRRP child starts that much sooner.
if TYPE_CHECKING:
    from lvsfast.daemon.supervisor import ChildState, Supervisor

log = logging.getLogger("lvsfast.parent")


def _opt(options: Any, name: str, default: Any = None) -> Any:
    return getattr(options, name, default) or default


def wanted_children(options: Any, config: Any) -> list[str]:
    """Which children to run: -P/-C select one; otherwise those the config has work for."""
    if _opt(options, "vrrp_only"):
        return ["vrrp"]
    if _opt(options, "check_only"):
        return ["checker"]
    if _opt(options, "run_all"):  # --all: even a child without configuration
        return ["vrrp", "checker"]
    names = []
    # keepalived runs its VRRP process for the static_* blocks alone too: they live there. So
    # do lvsfast's BFD sessions (keepalived: a BFD process), which BFD_CHECK needs as well.
    if any(getattr(config, k, None) for k in ("vrrp_instances", "vrrp_sync_groups", "static_ipaddress",
                                              "static_routes", "static_rules", "bfd_instances")):
        names.append("vrrp")
    if getattr(config, "virtual_servers", None):
        names.append("checker")
    return names or ["vrrp", "checker"]


def adopt_identity(options: Any, config: Any) -> Any:
    """The config's top-level net_namespace (joined here, before any socket or child) and
    instance: ``options`` with the paths they derive, as ``-s`` gives them. ``-s`` wins over
    net_namespace (keepalived logs the override the same way); explicit -p/-r/-c and
    --control-socket win over the derived paths. Raises OSError when the namespace is missing."""
    g = getattr(config, "global_defs", None)
    configured = getattr(g, "net_namespace", None)
    instance = getattr(g, "instance", None)
    use_pid_dir = bool(getattr(g, "use_pid_dir", False))
    given = _opt(options, "namespace")
    if not (configured or instance or use_pid_dir):
        return options
    if given and configured and given != configured:
        log.info("Overriding config net_namespace '%s' with command line namespace '%s'", configured, given)
    if configured and not given:
        from lvsfast import namespace

        try:
            namespace.enter(configured)
        except OSError as exc:
            raise OSError(exc.errno, namespace.failure(configured, exc)) from None
    explicit = set(_opt(options, "given_paths", ()))
    where = DaemonPaths.derive(namespace=given or configured, instance=instance, use_pid_dir=use_pid_dir,
                               **{k: getattr(options, k) for k in explicit})
    changes = dict(namespace=given or configured, instance=instance, pid=where.pid, vrrp_pid=where.vrrp_pid,
                   checkers_pid=where.checkers_pid, control_socket=where.control_socket)
    import types

    if isinstance(options, types.SimpleNamespace):  # the daemon tests' stand-ins
        return types.SimpleNamespace(**{**vars(options), **changes})
    from lvsfast.frozen import replace

    return replace(options, **changes)


def same_identity(options: Any, load_config: Callable[[], Any], overridden: bool = False) -> Callable[[], Any]:
    """``load_config`` that refuses a reading whose net_namespace or instance differs from the
    running daemon's: keepalived cannot change them at a reload either, and keeps running.
    ``overridden``: -s was given, so the config's net_namespace does not count (as keepalived)."""
    running_ns = _opt(options, "namespace")
    running_instance = _opt(options, "instance")

    def load() -> Any:
        new = load_config()
        g = getattr(new, "global_defs", None)
        ns, instance = getattr(g, "net_namespace", None), getattr(g, "instance", None)
        if not overridden and (ns or None) != (running_ns or None):
            raise ValueError("Cannot change network namespace at a reload - please restart lvsfast "
                             f"(running in {running_ns or 'the default namespace'}, the config says {ns or 'none'})")
        if (instance or None) != (running_instance or None):
            raise ValueError("Cannot change instance name at a reload - please restart lvsfast "
                             f"(running as {running_instance or 'no instance'}, the config says {instance or 'none'})")
        return new
    return load


def _importable(spec: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(spec.partition(":")[0]) is not None
    except ImportError:
        return False


def _daemonize() -> None:
    # Classic double fork: the daemon is no session leader and can never reacquire a terminal.
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def run(options: Any, load_config: Callable[[], Any],
        factories: dict[str, str] | None = None) -> int:
    """Run the daemon until stopped; returns the exit status."""
    logs.setup("Lvsfast", **logs.options_kw(options))
    try:
        config = load_config()
    except Exception as exc:
        print(str(exc), file=sys.stderr)
        log.error("configuration is not valid, not starting:\n%s", exc)
        return 1
    for w in getattr(config, "warnings", ()):  # as keepalived logs its configuration's complaints
        log.warning("%s", w)
    command_line_ns = _opt(options, "namespace")
    try:
        options = adopt_identity(options, config)
    except OSError as exc:
        print(f"lvsfast: {exc}", file=sys.stderr)
        log.error("%s", exc)
        return 1
    load_config = same_identity(options, load_config, overridden=bool(command_line_ns))
    specs = dict(factories or DEFAULT_FACTORIES)
    names = wanted_children(options, config)
    missing = [n for n in names if not _importable(specs[n])]
    if missing:
        # Said on the terminal before forking, rather than dying in the background.
        print(f"lvsfast: this build has no {' and '.join(missing)} subsystem yet "
              f"({', '.join(specs[n] for n in missing)}); run the others with -P or -C", file=sys.stderr)
        return 2
    pid_paths = {
        "vrrp": _opt(options, "vrrp_pid", pidfile.DEFAULT_VRRP),
        "checker": _opt(options, "checkers_pid", pidfile.DEFAULT_CHECKERS),
    }
    parent_pid = _opt(options, "pid", pidfile.DEFAULT_PARENT)
    if not _opt(options, "dont_fork"):
        _daemonize()
    try:
        pidfile.write(parent_pid)
    except pidfile.PidFileError as exc:
        log.error("%s", exc)
        return 1
    # Fork after the imports every child needs (each imports its own subsystem after the fork):
    # the children then share the interpreter's and those modules' pages.
    preload()
    loop = _new_loop()  # uvloop's too: imported once, here
    # Move everything made so far (the modules, the config) out of the collector's reach: a
    # child's collections would otherwise write to those objects' headers and un-share their
    # pages (copy-on-write). The young generations hold the reading's garbage; a full collection
    # would walk every module's objects again (5-15 ms before the first fork) to free nothing more.
    gc.collect(1)
    heap.trim()  # the reading's garbage: what the children inherit is what is in use
    gc.freeze()
    forked: dict[str, tuple[int, Any, float]] = {}  # name -> pid, the channel's end, when
    if _children_first(config):
        # Nothing of the parent's has to come first (keepalived runs the startup script and opens
        # the notify FIFOs before any child): fork now, VRRP first, before the parent's own stack
        # is even imported. An address owner holds its VIPs that much sooner.
        import time

        def close_ends() -> None:  # a child holds no end of another child's channel
            for _, sock, _ in forked.values():
                sock.close()

        for name in sorted(names, key=lambda n: n != "vrrp"):
            pid, sock = fork_child(name, specs[name], config_view(name, config), options, pid_paths.get(name),
                                   load_config, close_ends)
            forked[name] = (pid, sock, time.monotonic())
    from lvsfast.daemon.supervisor import ChildState

    children = {n: ChildState(n, specs[n], pid_paths.get(n)) for n in names}
    for name, (pid, sock, started) in forked.items():
        children[name].pid, children[name].sock, children[name].started = pid, sock, started
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(_main(options, load_config, config, children))
    finally:
        pidfile.remove(parent_pid)


def _children_first(config: Any) -> bool:
    """Whether the children may start before the parent's supervision runs: no startup script
    and no notify FIFO, which keepalived's parent has ready before any child starts."""
    g = getattr(config, "global_defs", None)
    if g is None:
        return True
    return not any(getattr(g, k, None) is not None for k in ("startup_script", "notify_fifo", "vrrp_notify_fifo",
                                                              "lvs_notify_fifo"))


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


async def _main(options: Any, load_config: Callable[[], Any], config: Any,
                children: dict[str, ChildState]) -> int:
    from lvsfast.daemon.control import DEFAULT_SOCKET, ControlServer
    from lvsfast.daemon.supervisor import Supervisor

    sup = Supervisor(options=options, load_config=load_config, children=children,
                     dump_dir=_opt(options, "dump_dir", "/tmp"))
    control = ControlServer(_opt(options, "control_socket", DEFAULT_SOCKET), _dispatcher(sup))
    try:
        await control.start()
    except (OSError, RuntimeError) as exc:
        log.error("control socket: %s", exc)
        _stop_forked(children)
        return 1
    metrics = None
    refresher = None
    if _opt(options, "metrics"):
        from lvsfast.daemon import metrics as prom

        snapshot = prom.Snapshot()
        try:
            metrics = prom.serve(_opt(options, "metrics"), snapshot)
        except (OSError, ValueError) as exc:
            log.error("metrics endpoint: %s", exc)
            await control.close()
            _stop_forked(children)
            return 1

        async def refresh() -> None:
            while True:
                try:
                    snapshot.set(await sup.status())
                except Exception as exc:  # a slow child must not stop the refresher
                    log.debug("metrics refresh: %s", exc)
                await asyncio.sleep(2)
        refresher = asyncio.ensure_future(refresh())
    try:
        return await sup.run(config)
    finally:
        if refresher is not None:
            refresher.cancel()
        if metrics is not None:
            metrics.shutdown()
        await control.close()


def _stop_forked(children: dict[str, ChildState]) -> None:
    """The daemon cannot run after all: the children forked early stop (VRRP releasing its VIPs)."""
    import signal

    for child in children.values():
        if child.sock is not None and child.pid:
            os.kill(child.pid, signal.SIGTERM)
    for child in children.values():
        if child.sock is not None and child.pid:
            os.waitpid(child.pid, 0)
            child.sock.close()


def _dispatcher(sup: Supervisor):
    async def dispatch(req: dict[str, Any]) -> Any:
        op = req["op"]
        if op == "status":
            return await sup.status()
        if op == "reload":
            return await sup.reload()
        if op == "stop":
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(sup.stop()))
            return "stopping"
        if op == "stats":
            return {n: await sup.ask(n, "stats", clear=bool(req.get("clear"))) for n in sup.children}
        if op == "server":
            return await sup.ask("checker", "command", name="server", args={k: v for k, v in req.items() if k != "op"})
        raise ValueError(f"unknown request {op!r}")
    return dispatch
