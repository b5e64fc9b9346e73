"""``lvsfast``: keepalived's command line.

``-t`` is keepalived's configuration test: read, build, check the model and the environment
(interfaces in the current network namespace, script security), print every diagnostic as
``FILE:LINE: error|warning: ...`` on stderr (or to the file given as ``--config-test=FILE`` or
``-tFILE``), and exit with keepalived 2.2.7's status: 0 clean (notices allowed), 5 anything to
report, 6 a script-security violation or a failed include check (includem, includew, ..., -e),
2 a keyword missing its parameter. (keepalived.8 lists 4 and 5; the 2.2.7 binary returns 5 and
6, which is what scripts see.)

The flags are keepalived 2.2.7's, read as its getopt_long() reads them (``lvsfast.cli_flags``);
a bad flag exits 1. Without ``-t`` the daemon runs (``lvsfast.daemon.main.run``) with the
parsed :class:`Options`; its files follow ``lvsfast.paths``.
"""
from __future__ import annotations

import sys

from lvsfast import __version__, paths
from lvsfast.cli_flags import FACILITIES, NONE, getopt, signum, umask, usage
from lvsfast.frozen import record

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Sequence, TextIO

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
DEFAULT_CONTROL_SOCKET = paths.DEFAULT_CONTROL_SOCKET
DEFAULT_LOG_FILE = "/tmp/keepalived.log"  # -g without a name, as keepalived

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
    config_test_log: str | None = None  # --config-test=FILE: diagnostics go to FILE instead of stderr
    dont_fork: bool = False
    log_console: bool = False
    log_detail: bool = False
    log_facility: str | None = None
    no_syslog: bool = False
    vrrp_only: bool = False
    check_only: bool = False
    no_bfd: bool = False  # -B: no BFD sessions (they run in the VRRP child)
    run_all: bool = False  # --all: every child, even one without configuration
    # The daemon's files, derived as keepalived derives its pid files (lvsfast.paths).
    pid: str = paths.DEFAULT_PID
    vrrp_pid: str = paths.DEFAULT_VRRP_PID
    checkers_pid: str = paths.DEFAULT_CHECKERS_PID
    dump_conf: bool = False
    config_id: str | None = None
    dont_respawn: bool = False
    dont_release_vrrp: bool = False
    dont_release_ipvs: bool = False
    release_vips: bool = False
    all_config: bool = False
    namespace: str | None = None  # -s: the network namespace to run in (else the config's net_namespace)
    instance: str | None = None  # the config's top-level instance, set by the daemon once read
    given_paths: tuple[str, ...] = ()  # which of pid, vrrp_pid, checkers_pid, control_socket the flags gave
    umask: int | None = None
    log_file: str | None = None  # -g: also log to this file (absolute)
    core_dump: bool = False
    snmp: bool = False  # -x: every SNMP MIB on (lvsfast.snmp.settings)
    snmp_agent_socket: str | None = None  # -A: the master agent's socket, over snmp_socket
    ignored: tuple[str, ...] = ()  # flags accepted for keepalived but without effect here
    # lvsfast's own
    lvs_backend: str | None = None  # overrides global_defs' lvs_backend
    control_socket: str = paths.DEFAULT_CONTROL_SOCKET
    dump_dir: str = "/tmp"
    metrics: str | None = None  # [ADDR:]PORT for the Prometheus endpoint; off by default


class Exit(Exception):
    """The command line asks to stop before running (``-v``, ``-h``, ``--signum``, a bad flag)."""

    def __init__(self, status: int, out: str = "", err: str = "") -> None:
        super().__init__(status)
        self.status, self.out, self.err = status, out, err


BACKENDS = ("ipvs", "nftables", "auto")
PATH_OPTIONS = ("pid", "vrrp_pid", "checkers_pid", "control_socket")


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """keepalived's flags as its getopt_long() reads them; raises :class:`Exit` to stop early."""
    parsed = getopt(sys.argv[1:] if argv is None else argv)
    v: dict = {}
    vrrp = check = True
    ignored: list[str] = []
    notes: list[str] = []
    for flag, value, spelled in parsed.flags:
        d = flag.dest
        if d == "help":
            raise Exit(EXIT_OK, usage(DEFAULT_CONFIG))
        if d == "version":
            raise Exit(EXIT_OK, version_text() + "\n")
        if d == "signum":
            number = signum(value or "")
            if number is None:
                raise Exit(1, err=f"Unknown sigfunc {value}\n")
            raise Exit(EXIT_OK, f"{int(number)}\n")
        if d == "genhash":  # handled by main(); parse_options alone just stops
            raise Exit(1, err="lvsfast: -T/--genhash must be given to lvsfast's main()\n")
        if d == "vrrp":
            check = False
        elif d == "check":
            vrrp = False
        elif d == "all":
            vrrp = check = True
            v["run_all"] = True
        elif d == "config_test":
            v["config_test"] = True
            v["config_test_log"] = value or None
        elif d == "log_file":
            import os

            v[d] = os.path.abspath(value or DEFAULT_LOG_FILE)
        elif d == "flush_log_file":
            pass  # the log file is flushed after every line anyway
        elif d == "log_facility":
            if value in FACILITIES:
                v["log_facility"] = value
            else:
                notes.append(f"Invalid log facility '{value}'")
        elif d == "umask":
            mask = umask(value or "")
            if mask is None:
                notes.append(f"Invalid --umask option {value}")
            else:
                v["umask"] = mask
        elif d == "core_dump_pattern":
            v["core_dump"] = True
            ignored.append(spelled)
        elif d == "lvs_backend":
            if value not in BACKENDS:
                raise Exit(1, err=f"lvsfast: --lvs-backend must be one of {', '.join(BACKENDS)}, not {value!r}\n")
            v[d] = value
        elif flag.status == "ignored":
            ignored.append(spelled)
        else:
            v[d] = True if flag.arg == NONE else value
    if parsed.errors:
        raise Exit(1, err="".join(f"{e}\n" for e in parsed.errors))
    for note in notes:
        print(note, file=sys.stderr)
    if parsed.extra:
        print("Unexpected argument(s): " + "".join(f"{w} " for w in parsed.extra))
    v["vrrp_only"] = vrrp and not check
    v["check_only"] = check and not vrrp
    if not (vrrp or check):
        raise Exit(EXIT_USAGE, err="lvsfast: -P and -C exclude each other\n")
    v["ignored"] = tuple(dict.fromkeys(ignored))
    v["given_paths"] = tuple(k for k in PATH_OPTIONS if v.get(k))
    where = paths.DaemonPaths.derive(pid=v.get("pid"), vrrp_pid=v.get("vrrp_pid"), checkers_pid=v.get("checkers_pid"),
                                     control_socket=v.get("control_socket"), namespace=v.get("namespace"))
    v.update(pid=where.pid, vrrp_pid=where.vrrp_pid, checkers_pid=where.checkers_pid,
             control_socket=where.control_socket, dump_dir=where.dump_dir)
    return Options(**v)


def version_text() -> str:
    from lvsfast import compiled_core

    core = "compiled" if compiled_core() else "pure-Python twins"
    return (f"lvsfast {__version__} (reads keepalived 2.2 configuration)\n"
            f"core: {core}; python {sys.version.split()[0]}")


def config_test(options: Options, out: TextIO) -> int:
    """keepalived's ``-t``: returns the exit status."""
    from lvsfast.config import analyse

    try:
        a = analyse(options.use_file, options.config_id, lvs_backend=options.lvs_backend, environment=True,
                    all_config=options.all_config, before_environment=None if options.namespace else _join_configured)
    except _NoNamespace as exc:  # keepalived -t also joins net_namespace to check the interfaces there
        print(f"lvsfast: {exc}", file=sys.stderr)
        return 1
    diagnostics = a.diagnostics
    for d in diagnostics:
        print(d, file=out)
    if options.dump_conf:
        from lvsfast.config.dump import dump

        print(dump(a.config))
    from lvsfast.config.unsupported import counts_for_verdict  # keepalived accepts those keywords
    # Notices (a missing plain include) and lvsfast's not-supported warnings leave keepalived's verdict.
    counted = [d for d in diagnostics if counts_for_verdict(d) and d.severity in ("error", "warning")]
    errors = sum(1 for d in counted if d.severity == "error")
    warnings = len(counted) - errors
    if a.missing_value:
        print(f"{options.use_file}: configuration test failed: a keyword is missing its parameter", file=out)
        return EXIT_PROGRAM_ERROR
    if a.fatal:
        why = "script security" if a.security_violation else "include check"
        print(f"{options.use_file}: configuration test failed: {why}", file=out)
        return EXIT_CONFIG_TEST_FATAL
    if counted:
        print(f"{options.use_file}: configuration test failed: {errors} error(s), {warnings} warning(s)", file=out)
        return EXIT_CONFIG_TEST
    print(f"{options.use_file}: configuration is valid", file=out)
    return EXIT_OK


class _NoNamespace(Exception):
    pass


def _join_configured(config) -> None:
    """-t: the interfaces are checked inside the top-level net_namespace, as keepalived -t does."""
    name = config.global_defs.net_namespace
    if name:
        from lvsfast import namespace

        try:
            namespace.enter(name)
        except OSError as exc:
            raise _NoNamespace(namespace.failure(name, exc)) from None


def _run_daemon(options: Options) -> int:
    from lvsfast.config import load

    def load_config():  # re-read on every reload
        return load(options.use_file, options.config_id, lvs_backend=options.lvs_backend,
                    all_config=options.all_config)

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


def _apply_process_flags(options: Options, out: TextIO) -> int | None:
    """-u, -m, -s and the warnings for ignored flags; a status if the process cannot go on."""
    for spelled in options.ignored:
        print(f"lvsfast: warning: option {spelled} is not supported by lvsfast; ignored", file=out)
    if options.umask is not None:
        import os

        os.umask(options.umask)
    if options.core_dump:
        import resource

        try:
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (OSError, ValueError) as exc:
            print(f"lvsfast: -m: cannot raise the core size limit: {exc}", file=out)
    if options.namespace:
        from lvsfast import namespace

        try:
            namespace.enter(options.namespace)
        except OSError as exc:
            print(f"lvsfast: {namespace.failure(options.namespace, exc)}", file=sys.stderr)
            return 1
    return None


def _genhash_at(argv: Sequence[str]) -> int | None:
    """Where -T/--genhash is: keepalived then runs genhash on the words after it."""
    for i, word in enumerate(argv):
        if word == "-T" or (len(word) > 3 and "--genhash".startswith(word)):
            return i
    return None


def _exit_now(status: int) -> None:
    """End ``-t`` as keepalived's does, without the interpreter's tear-down (freeing every
    module and object one by one: a few ms of a run whose work is done): output flushed first."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    from_command_line = argv is None  # the process is ours to end (not a caller's main([...]))
    argv = sys.argv[1:] if argv is None else list(argv)
    at = _genhash_at(argv)
    if at is not None:
        if at:
            print(f"Warning -- `{argv[at]}` not used as first option, previous options ignored", file=sys.stderr)
        from lvsfast.check.genhash import main as genhash

        return genhash(argv[at + 1:])
    try:
        options = parse_options(argv)
    except Exit as stop:  # -h, -v, --signum, or a bad flag: keepalived's output and status
        sys.stdout.write(stop.out)
        sys.stderr.write(stop.err)
        return stop.status
    if options.config_test:
        if options.config_test_log:
            with open(options.config_test_log, "a") as fh:
                status = _apply_process_flags(options, fh) or config_test(options, fh)
        else:
            status = _apply_process_flags(options, sys.stderr) or config_test(options, sys.stderr)
        if from_command_line:
            _exit_now(status)
        return status
    return _apply_process_flags(options, sys.stderr) or _run_daemon(options)


if __name__ == "__main__":
    sys.exit(main())
