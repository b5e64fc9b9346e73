"""``lvsfast``: keepalived's command line.

``-t`` is keepalived's configuration test: read, build, check the model and the environment
(interfaces in the current network namespace, script security), print every diagnostic as
``FILE:LINE: error|warning: ...`` on stderr (or to the file given as ``-t=FILE``), and exit with
keepalived 2.2.7's status: 0 clean, 5 anything to report, 6 a script-security violation or a
failed include check (includem, includew, ...), 2 a keyword missing its parameter.
(keepalived.8 lists 4 and 5; the 2.2.7 binary returns 5 and 6, which is what scripts see.)

Without ``-t`` the daemon runs (``lvsfast.daemon.main.run``) with the parsed :class:`Options`.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence, TextIO

from lvsfast import __version__
from lvsfast.frozen import record

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
DEFAULT_CONTROL_SOCKET = "/run/lvsfast/lvsfast.sock"

EXIT_OK = 0
EXIT_PROGRAM_ERROR = 2  # the daemon could not start; -t: a keyword lacks its parameter
EXIT_CONFIG_TEST = 5  # -t found something to report
EXIT_CONFIG_TEST_FATAL = 6  # -t: scripts would run insecurely, or an include check failed
EXIT_CONFIG_TEST_SECURITY = EXIT_CONFIG_TEST_FATAL
EXIT_USAGE = 64


@record
class Options:
    """The parsed command line, shared by the config test and the daemon."""

    use_file: str = DEFAULT_CONFIG
    config_test: bool = False
    config_test_log: str | None = None  # -t=FILE: diagnostics go to FILE instead of stderr
    dont_fork: bool = False
    log_console: bool = False
    log_detail: bool = False
    log_facility: str | None = None
    no_syslog: bool = False
    vrrp_only: bool = False
    check_only: bool = False
    pid: str | None = None
    vrrp_pid: str | None = None
    checkers_pid: str | None = None
    dump_conf: bool = False
    config_id: str | None = None
    dont_respawn: bool = False
    dont_release_vrrp: bool = False
    dont_release_ipvs: bool = False
    release_vips: bool = False
    all_config: bool = False
    # lvsfast's own
    lvs_backend: str | None = None  # overrides global_defs' lvs_backend
    control_socket: str = DEFAULT_CONTROL_SOCKET
    dump_dir: str = "/tmp"
    metrics: str | None = None  # [ADDR:]PORT for the Prometheus endpoint; off by default


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lvsfast",
        description="keepalived-compatible VRRP and load-balancer daemon (reads keepalived.conf).",
        epilog="Exit status with -t: 0 clean, 5 configuration problems, 6 script security violation "
               "or failed include check, 2 a keyword missing its parameter.")
    a = p.add_argument
    a("-f", "--use-file", metavar="FILE", default=DEFAULT_CONFIG,
      help=f"use the specified configuration file (default {DEFAULT_CONFIG})")
    a("-P", "--vrrp", dest="vrrp_only", action="store_true", help="only run the VRRP subsystem")
    a("-C", "--check", dest="check_only", action="store_true", help="only run the health-checker subsystem")
    a("-l", "--log-console", action="store_true", help="log messages to the local console")
    a("-D", "--log-detail", action="store_true", help="detailed log messages")
    a("-S", "--log-facility", metavar="FACILITY", help="syslog facility (accepted for compatibility)")
    a("-G", "--no-syslog", action="store_true", help="don't log via syslog")
    a("-R", "--dont-respawn", action="store_true", help="don't respawn child processes")
    a("-V", "--dont-release-vrrp", action="store_true", help="don't remove VIPs and routes on stop")
    a("-I", "--dont-release-ipvs", action="store_true", help="don't remove IPVS/nftables entries on stop")
    a("-X", "--release-vips", action="store_true", help="drop VIPs on transition from signal")
    a("-n", "--dont-fork", action="store_true", help="don't fork the daemon process")
    a("-d", "--dump-conf", action="store_true", help="dump the configuration data")
    a("-p", "--pid", metavar="FILE", help="pidfile for the parent process")
    a("-r", "--vrrp_pid", metavar="FILE", help="pidfile for the VRRP child process")
    a("-c", "--checkers_pid", metavar="FILE", help="pidfile for the checkers child process")
    a("-e", "--all-config", action="store_true", help="error if any configuration file is missing")
    a("-i", "--config-id", metavar="ID",
      help="skip configuration lines beginning '@' that don't match ID, or '@^' lines that do "
           "(default: the short host name)")
    a("-t", "--config-test", nargs="?", const="", default=None, metavar="LOG_FILE",
      help="check the configuration for errors and exit; diagnostics go to stderr, or LOG_FILE")
    a("-v", "--version", action="store_true", help="display the version number")
    a("--lvs-backend", choices=("ipvs", "nftables", "auto"),
      help="lvsfast: load-balancing data plane (overrides global_defs' lvs_backend)")
    a("--control-socket", metavar="PATH", default=DEFAULT_CONTROL_SOCKET,
      help=f"lvsfast: UNIX socket for lvsfastctl (default {DEFAULT_CONTROL_SOCKET})")
    a("--metrics", metavar="[ADDR:]PORT",
      help="lvsfast: serve Prometheus metrics (off by default; ADDR defaults to 127.0.0.1)")
    return p


def parse_options(argv: Sequence[str] | None = None) -> Options:
    ns = build_parser().parse_args(argv)
    return _options(ns)


def _options(ns: argparse.Namespace) -> Options:
    return Options(
        use_file=ns.use_file, config_test=ns.config_test is not None, config_test_log=ns.config_test or None,
        dont_fork=ns.dont_fork, log_console=ns.log_console, log_detail=ns.log_detail,
        log_facility=ns.log_facility, no_syslog=ns.no_syslog, vrrp_only=ns.vrrp_only, check_only=ns.check_only,
        pid=ns.pid, vrrp_pid=ns.vrrp_pid, checkers_pid=ns.checkers_pid, dump_conf=ns.dump_conf,
        config_id=ns.config_id, dont_respawn=ns.dont_respawn, dont_release_vrrp=ns.dont_release_vrrp,
        dont_release_ipvs=ns.dont_release_ipvs, release_vips=ns.release_vips, all_config=ns.all_config,
        lvs_backend=ns.lvs_backend, control_socket=ns.control_socket, metrics=ns.metrics)


def version_text() -> str:
    from lvsfast import compiled_core

    core = "compiled" if compiled_core() else "pure-Python twins"
    return (f"lvsfast {__version__} (reads keepalived 2.2 configuration)\n"
            f"core: {core}; python {sys.version.split()[0]}")


def config_test(options: Options, out: TextIO) -> int:
    """keepalived's ``-t``: returns the exit status."""
    from lvsfast.config import analyse

    a = analyse(options.use_file, options.config_id, lvs_backend=options.lvs_backend, environment=True)
    diagnostics = list(a.diagnostics)
    if options.all_config:
        # -e: a missing include is an error, as with keepalived's include_check.
        diagnostics = [d if "no file matches" not in d.message else
                       type(d)(d.file, d.line, "error", d.message) for d in diagnostics]
    for d in diagnostics:
        print(d, file=out)
    if options.dump_conf:
        from lvsfast.config.dump import dump

        print(dump(a.config))
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    if a.missing_value:
        print(f"{options.use_file}: configuration test failed: a keyword is missing its parameter", file=out)
        return EXIT_PROGRAM_ERROR
    if a.fatal:
        why = "script security" if a.security_violation else "include check"
        print(f"{options.use_file}: configuration test failed: {why}", file=out)
        return EXIT_CONFIG_TEST_FATAL
    if diagnostics:
        print(f"{options.use_file}: configuration test failed: {errors} error(s), {warnings} warning(s)", file=out)
        return EXIT_CONFIG_TEST
    print(f"{options.use_file}: configuration is valid", file=out)
    return EXIT_OK


def _run_daemon(options: Options) -> int:
    from lvsfast.config import load

    def load_config():  # re-read on every reload
        return load(options.use_file, options.config_id, lvs_backend=options.lvs_backend)

    from lvsfast.daemon.main import run
    if options.dump_conf:
        from lvsfast.config import analyse
        from lvsfast.config.dump import dump

        print(dump(analyse(options.use_file, options.config_id, lvs_backend=options.lvs_backend).config))
    try:
        return run(options, load_config)
    except ImportError as exc:
        print(f"lvsfast: the daemon is not available yet ({exc}); use -t to test a configuration", file=sys.stderr)
        return EXIT_PROGRAM_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:  # -h exits 0, bad usage 2: keep argparse's codes
        return int(exc.code or 0)
    if ns.version:
        print(version_text())
        return EXIT_OK
    options = _options(ns)
    if options.vrrp_only and options.check_only:
        print("lvsfast: -P and -C exclude each other", file=sys.stderr)
        return EXIT_USAGE
    if options.config_test:
        if options.config_test_log:
            with open(options.config_test_log, "a") as fh:
                return config_test(options, fh)
        return config_test(options, sys.stderr)
    return _run_daemon(options)


if __name__ == "__main__":
    sys.exit(main())
