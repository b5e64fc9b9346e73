"""Every default path of one lvsfast daemon, and how they follow keepalived's flags.

keepalived tells two daemons on one host apart by their pid files, and derives those from the
network namespace (``-s``/``net_namespace``) and ``instance``; lvsfast derives the rest of its
per-daemon files from the same inputs, so keepalived's flags alone keep two daemons apart:

- nothing given: ``/run/lvsfast.pid``, ``/run/lvsfast_vrrp.pid``, ``/run/lvsfast_checkers.pid``
  and the control socket ``/run/lvsfast/lvsfast.sock``;
- a namespace NS and/or an instance NAME: the pid files go to ``/run/lvsfast/NS/`` (or
  ``/run/lvsfast/``) as ``lvsfast[_NAME].pid``, ``lvsfast_vrrp[_NAME].pid`` and
  ``lvsfast_checkers[_NAME].pid`` (keepalived: ``/run/keepalived/...``);
- ``use_pid_dir`` alone: the same names in ``/run/lvsfast/``;
- ``-p``/``-r``/``-c FILE``: that pid file, as given (over any of the above);
- the control socket sits beside the main pid file, with ``.sock`` for ``.pid``
  (``-p /run/ns1/lb.pid`` -> ``/run/ns1/lb.sock``); only the default pid file keeps
  ``/run/lvsfast/lvsfast.sock``. ``--control-socket`` overrides;
- the checker's runtime state: ``/var/lib/lvsfast/runtime-state.json`` beside the default
  socket, ``SOCKET.state.json`` otherwise;
- dump files: keepalived's names in its temporary directory (``$TMPDIR`` when it is an
  absolute path, else ``/tmp``); its ``data_use_instance`` inserts ``.NS_NAME`` (or ``.NS``,
  ``.NAME``) before the extension: ``/tmp/keepalived_check.blue_lb.data``
  (:meth:`DaemonPaths.dump_file`).

``lvsfastctl`` takes the same ``-p``/``-s`` flags and finds the socket by the same rule.
"""
from __future__ import annotations

import os
TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from lvsfast.frozen import NamedTuple

RUN_DIR = "/run"
PID_DIR = "/run/lvsfast"
DEFAULT_PID = "/run/lvsfast.pid"
DEFAULT_VRRP_PID = "/run/lvsfast_vrrp.pid"
DEFAULT_CHECKERS_PID = "/run/lvsfast_checkers.pid"
DEFAULT_CONTROL_SOCKET = "/run/lvsfast/lvsfast.sock"
DEFAULT_STATE_FILE = "/var/lib/lvsfast/runtime-state.json"
DEFAULT_DUMP_DIR = "/tmp"
DUMP_NAMES = {"data": "keepalived.data", "stats": "keepalived.stats", "json": "keepalived.json",
              "check_data": "keepalived_check.data"}


class DaemonPaths(NamedTuple):
    """The files of one daemon; build it with :meth:`derive`."""

    pid: str = DEFAULT_PID
    vrrp_pid: str = DEFAULT_VRRP_PID
    checkers_pid: str = DEFAULT_CHECKERS_PID
    control_socket: str = DEFAULT_CONTROL_SOCKET
    state_file: str = DEFAULT_STATE_FILE
    dump_dir: str = DEFAULT_DUMP_DIR
    namespace: str | None = None
    instance: str | None = None

    @classmethod
    def derive(cls, options: Any = None, *, pid: str | None = None, vrrp_pid: str | None = None,
               checkers_pid: str | None = None, control_socket: str | None = None,
               namespace: str | None = None, instance: str | None = None,
               use_pid_dir: bool = False) -> "DaemonPaths":
        """The paths for ``options`` (anything with keepalived's option names); keywords win."""
        def given(value: str | None, name: str) -> str | None:
            return value if value else (getattr(options, name, None) or None)

        namespace = given(namespace, "namespace")
        instance = given(instance, "instance")
        if namespace or instance or use_pid_dir:
            where = os.path.join(PID_DIR, namespace) if namespace else PID_DIR
            tail = f"_{instance}.pid" if instance else ".pid"
            defaults = tuple(os.path.join(where, stem + tail)
                             for stem in ("lvsfast", "lvsfast_vrrp", "lvsfast_checkers"))
        else:
            defaults = (DEFAULT_PID, DEFAULT_VRRP_PID, DEFAULT_CHECKERS_PID)
        main = given(pid, "pid") or defaults[0]
        sock = given(control_socket, "control_socket") or socket_for(main)
        return cls(main, given(vrrp_pid, "vrrp_pid") or defaults[1],
                   given(checkers_pid, "checkers_pid") or defaults[2], sock, state_file_for(sock),
                   getattr(options, "dump_dir", None) or tmp_dir(), namespace, instance)

    def dump_file(self, kind: str, use_instance: bool = False) -> str:
        """keepalived's dump file for ``kind`` (data, stats, json, check_data); with
        ``data_use_instance`` (``use_instance``) and a namespace or instance, keepalived's
        ``stem.NS_NAME.ext``."""
        stem, dot, ext = DUMP_NAMES[kind].rpartition(".")
        tag = "_".join(part for part in (self.namespace, self.instance) if part)
        if use_instance and tag:
            stem += f".{tag}"
        return os.path.join(self.dump_dir, f"{stem}{dot}{ext}")


def tmp_dir() -> str:
    """keepalived's temporary directory, where its dump files go: ``$TMPDIR`` if absolute."""
    given = os.environ.get("TMPDIR", "")
    return given if given.startswith("/") else DEFAULT_DUMP_DIR


def log_file_for(path: str | None, child: str) -> str | None:
    """keepalived's ``-g FILE`` for a child: ``_vrrp`` or ``_healthcheckers`` before the last '.'."""
    if not path:
        return None
    suffix = {"vrrp": "vrrp", "checker": "healthcheckers"}.get(child, child)
    head, tail = os.path.split(path)
    stem, dot, ext = tail.rpartition(".")
    name = f"{stem}_{suffix}.{ext}" if dot and stem else f"{tail}_{suffix}"
    return os.path.join(head, name)


def socket_for(pid_path: str) -> str:
    """The control socket of the daemon whose main pid file is ``pid_path``."""
    if os.path.normpath(pid_path) == DEFAULT_PID:
        return DEFAULT_CONTROL_SOCKET
    base = pid_path[:-4] if pid_path.endswith(".pid") else pid_path
    return base + ".sock"


def state_file_for(control_socket: str) -> str:
    """Where the checker keeps runtime server state (drain, weight) across restarts."""
    if control_socket == DEFAULT_CONTROL_SOCKET:
        return DEFAULT_STATE_FILE
    return f"{control_socket}.state.json"
