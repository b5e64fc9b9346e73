"""``lvsfastctl``: status, reload, stop and runtime server state, over the control socket."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from lvsfast.daemon.control import request
from lvsfast.paths import DEFAULT_CONTROL_SOCKET, DaemonPaths


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lvsfastctl", description="Control a running lvsfast daemon.", allow_abbrev=False,
        epilog="The daemon is found with the flags it was started with (-p, -s), or the net_namespace "
               "and instance of its configuration (-s, -i), by the rule of lvsfast.paths: the socket "
               f"sits beside its pid file; with none, {DEFAULT_CONTROL_SOCKET}.")
    p.add_argument("--control-socket", default=os.environ.get("LVSFAST_CONTROL_SOCKET"),
                   metavar="PATH", help="the daemon's control socket (default: derived from -p/-s, "
                                        f"else {DEFAULT_CONTROL_SOCKET})")
    p.add_argument("-p", "--pid", metavar="FILE", help="the daemon's -p pid file")
    p.add_argument("-s", "--namespace", metavar="NAME", help="the daemon's -s or net_namespace network namespace")
    p.add_argument("-i", "--instance", metavar="NAME", help="the daemon's configured instance name")
    p.add_argument("--config-id", metavar="ID",
                   help="accepted with the daemon's other flags; does not select a daemon (nor in keepalived)")
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("status", help="instances, virtual and real servers, counters")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("reload", help="reload the configuration (a broken one keeps the running one)")
    sub.add_parser("stop", help="stop the daemon gracefully")
    sv = sub.add_parser("server", help="runtime state of a real server")
    sv.add_argument("action", choices=["drain", "disable", "enable", "weight"])
    sv.add_argument("virtual", metavar="VIP:PORT")
    sv.add_argument("real", metavar="RS:PORT")
    sv.add_argument("weight", nargs="?", type=int, help="with 'weight': the new weight")
    return p


def _print_status(result: Any) -> None:
    print(f"lvsfast pid {result.get('pid')}, reloads {result.get('reloads')} "
          f"(failed {result.get('failed_reloads')})")
    if result.get("last_reload_error"):
        print(f"  last reload error: {result['last_reload_error'].splitlines()[0]}")
    for name, child in result.get("children", {}).items():
        extra = f", last exit: {child['last_exit']}" if child.get("last_exit") else ""
        print(f"{name}: pid {child.get('pid')}, restarts {child.get('restarts')}{extra}")
        status = child.get("status")
        if status is not None:
            for line in json.dumps(status, indent=2, default=str).splitlines():
                print("  " + line)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.control_socket = DaemonPaths.derive(args).control_socket
    try:
        if args.cmd == "status":
            result = request(args.control_socket, "status")
            if args.json:
                print(json.dumps(result, indent=2, default=str))
            else:
                _print_status(result)
        elif args.cmd == "reload":
            result = request(args.control_socket, "reload")
            if not result.get("ok"):
                print(f"lvsfastctl: reload failed: {result.get('error')}", file=sys.stderr)
                return 1
            print("reloaded")
        elif args.cmd == "stop":
            request(args.control_socket, "stop")
            print("stopping")
        elif args.cmd == "server":
            if args.action == "weight" and args.weight is None:
                print("lvsfastctl: server weight needs a weight", file=sys.stderr)
                return 2
            result = request(args.control_socket, "server", action=args.action, virtual=args.virtual,
                             real=args.real, weight=args.weight)
            print(result if isinstance(result, str) else json.dumps(result, default=str))
    except RuntimeError as exc:
        print(f"lvsfastctl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
