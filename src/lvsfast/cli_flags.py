"""keepalived 2.2.7's command-line flags, read as its ``getopt_long()`` reads them.

Each flag has a status: ``works`` (keepalived's effect), ``ignored`` (accepted, warned about at
start: ``option X is not supported by lvsfast; ignored``) or ``lvsfast`` (lvsfast's own).
Parsing follows glibc's ``getopt_long`` with keepalived's option string: short flags cluster
(``-nlD``), a required argument may follow in the same word or the next one (``-ffile``,
``-f file``), an optional one only in the same word (``-t=x`` names the file ``=x``, as in
keepalived), long options take ``--name=value`` or ``--name value``, an unambiguous prefix of a
long option stands for it (``--dump``), an exact name always wins (``--all``), and words that
are not options are reported (``Unexpected argument(s)``) and otherwise ignored.
keepalived's answers are kept: an unknown or ambiguous option or a missing argument is
reported and the command exits 1 after reading every flag.
"""
from __future__ import annotations

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import NamedTuple, Sequence
else:
    from lvsfast.frozen import NamedTuple

NONE, REQUIRED, OPTIONAL = 0, 1, 2


class Flag(NamedTuple):
    short: str | None
    long: str | None
    arg: int
    dest: str
    status: str  # works | ignored | lvsfast
    help: str
    metavar: str = ""


FLAGS: tuple[Flag, ...] = (
    Flag("f", "use-file", REQUIRED, "use_file", "works", "use the specified configuration file", "FILE"),
    Flag("P", "vrrp", NONE, "vrrp", "works", "only run the VRRP subsystem"),
    Flag("C", "check", NONE, "check", "works", "only run the health-checker subsystem"),
    Flag("B", "no_bfd", NONE, "no_bfd", "works", "don't run the BFD sessions (lvsfast runs them in the VRRP child)"),
    Flag(None, "all", NONE, "all", "works", "run every child process, even those without configuration"),
    Flag("l", "log-console", NONE, "log_console", "works", "log messages to the local console"),
    Flag("D", "log-detail", NONE, "log_detail", "works", "detailed log messages"),
    Flag("S", "log-facility", REQUIRED, "log_facility", "works",
         "syslog facility: 0-7, local0-7, user or daemon (default)", "FACILITY"),
    Flag("g", "log-file", OPTIONAL, "log_file", "works",
         "also log to FILE (default /tmp/keepalived.log); children to FILE_vrrp, FILE_healthcheckers", "FILE"),
    Flag(None, "flush-log-file", NONE, "flush_log_file", "works", "flush the log file on write (always done)"),
    Flag("G", "no-syslog", NONE, "no_syslog", "works", "don't log via syslog"),
    Flag("u", "umask", REQUIRED, "umask", "works", "umask for file creation (in numeric form)", "MASK"),
    Flag("X", "release-vips", NONE, "release_vips", "ignored", "drop VIPs on transition from signal"),
    Flag("V", "dont-release-vrrp", NONE, "dont_release_vrrp", "works", "don't remove VIPs and routes on stop"),
    Flag("I", "dont-release-ipvs", NONE, "dont_release_ipvs", "works",
         "don't remove IPVS/nftables entries on stop"),
    Flag("R", "dont-respawn", NONE, "dont_respawn", "works", "don't respawn child processes"),
    Flag("n", "dont-fork", NONE, "dont_fork", "works", "don't fork the daemon process"),
    Flag("d", "dump-conf", NONE, "dump_conf", "works", "dump the configuration data"),
    Flag("p", "pid", REQUIRED, "pid", "works", "pidfile for the parent process", "FILE"),
    Flag("r", "vrrp_pid", REQUIRED, "vrrp_pid", "works", "pidfile for the VRRP child process", "FILE"),
    Flag("T", "genhash", NONE, "genhash", "works",
         "genhash utility mode (lvsfast-genhash), with the options that follow"),
    Flag("c", "checkers_pid", REQUIRED, "checkers_pid", "works", "pidfile for the checkers child process", "FILE"),
    Flag("a", "address-monitoring", NONE, "address_monitoring", "ignored",
         "report all address additions/deletions notified via netlink"),
    Flag("b", "bfd_pid", REQUIRED, "bfd_pid", "ignored", "pidfile for the BFD child process", "FILE"),
    Flag("x", "snmp", NONE, "snmp", "works", "enable the SNMP subsystem (AgentX subagent)"),
    Flag("A", "snmp-agent-socket", REQUIRED, "snmp_agent_socket", "works",
         "socket of the SNMP master agent", "FILE"),
    Flag("s", "namespace", REQUIRED, "namespace", "works",
         "run in network namespace NAME (overrides net_namespace)", "NAME"),
    Flag("m", "core-dump", NONE, "core_dump", "works", "produce a core dump if terminated abnormally"),
    Flag("M", "core-dump-pattern", OPTIONAL, "core_dump_pattern", "ignored",
         "also set /proc/sys/kernel/core_pattern (lvsfast: sets -m only)", "PATN"),
    Flag(None, "no-mem-check", NONE, "no_mem_check", "ignored", "disable malloc() mem-checks"),
    Flag("L", "mem-check-log", NONE, "mem_check_log", "ignored", "log malloc/frees to syslog"),
    Flag("e", "all-config", NONE, "all_config", "works", "error if any configuration file is missing"),
    Flag("i", "config-id", REQUIRED, "config_id", "works",
         "skip lines beginning '@' that don't match ID, or '@^' lines that do (default: host name)", "ID"),
    Flag(None, "signum", REQUIRED, "signum", "works",
         "print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON", "SIGFUNC"),
    Flag("t", "config-test", OPTIONAL, "config_test", "works",
         "check the configuration and exit; diagnostics to stderr, or LOG_FILE", "LOG_FILE"),
    Flag(None, "perf", OPTIONAL, "perf", "ignored", "collect perf data (all, run or end)", "TYPE"),
    Flag(None, "debug", OPTIONAL, "debug", "ignored", "enable keepalived's debug options", "OPTS"),
    Flag("v", "version", NONE, "version", "works", "display the version number"),
    Flag("h", "help", NONE, "help", "works", "display this help message"),
    Flag(None, "lvs-backend", REQUIRED, "lvs_backend", "lvsfast",
         "load-balancing data plane: ipvs, nftables or auto (overrides global_defs' lvs_backend)", "BACKEND"),
    Flag(None, "control-socket", REQUIRED, "control_socket", "lvsfast",
         "UNIX socket for lvsfastctl (default: beside the pid file; /run/lvsfast/lvsfast.sock)", "PATH"),
    Flag(None, "metrics", REQUIRED, "metrics", "lvsfast",
         "serve Prometheus metrics on [ADDR:]PORT (off by default; ADDR defaults to 127.0.0.1)", "[ADDR:]PORT"),
)

SHORT = {f.short: f for f in FLAGS if f.short}
LONG = {f.long: f for f in FLAGS if f.long}


class Parsed(NamedTuple):
    """``(flag, value, spelling)`` in command-line order, the stray words, and the complaints."""

    flags: tuple[tuple[Flag, str | None, str], ...]
    extra: tuple[str, ...]
    errors: tuple[str, ...]


def _long(word: str) -> Flag | None:
    if word in LONG:
        return LONG[word]
    found = [f for name, f in LONG.items() if name.startswith(word)]
    return found[0] if len(found) == 1 else None  # none, or ambiguous: getopt answers '?'


def getopt(argv: Sequence[str]) -> Parsed:
    out: list[tuple[Flag, str | None, str]] = []
    extra: list[str] = []
    errors: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            extra.extend(argv[i:])
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            flag = _long(name) if name else None
            if flag is None or (flag.arg == NONE and eq):
                errors.append(f"Unknown option {word}")
                continue
            if flag.arg == REQUIRED:
                if not eq:
                    if i < len(argv):
                        value = argv[i]
                        i += 1
                    else:
                        value = ""
                if not value:  # keepalived refuses an empty argument (--use-file=)
                    errors.append(f"Missing parameter for option --{flag.long}")
                    continue
            out.append((flag, value if eq or flag.arg == REQUIRED else None, f"--{flag.long}"))
        elif word.startswith("-") and word != "-":
            j = 1
            while j < len(word):
                c = word[j]
                j += 1
                flag = SHORT.get(c)
                if flag is None:
                    errors.append(f"Unknown option -{c}")
                    continue
                if flag.arg == NONE:
                    out.append((flag, None, f"-{c}"))
                    continue
                value: str | None = word[j:] or None
                if flag.arg == REQUIRED and value is None:
                    if i < len(argv):
                        value = argv[i]
                        i += 1
                    else:
                        errors.append(f"Missing parameter for option -{c}")
                        break
                out.append((flag, value, f"-{c}"))
                break
        else:
            extra.append(word)
    return Parsed(tuple(out), tuple(extra), tuple(errors))


def usage(default_config: str) -> str:
    """``--help``: keepalived's flags, then those accepted but ignored, then lvsfast's own."""
    def line(f: Flag) -> str:
        opt = ", ".join(x for x in (f"-{f.short}" if f.short else "    ", f"--{f.long}") if x.strip())
        if f.short is None:
            opt = "    " + opt
        arg = {NONE: "", REQUIRED: f"={f.metavar}", OPTIONAL: f"[={f.metavar}]"}[f.arg]
        return f"  {opt + arg:<32} {f.help}"

    works = [line(f) for f in FLAGS if f.status == "works"]
    ignored = [line(f) for f in FLAGS if f.status == "ignored"]
    own = [line(f) for f in FLAGS if f.status == "lvsfast"]
    return "\n".join([
        "Usage: lvsfast [OPTION...]",
        "keepalived-compatible VRRP and load-balancer daemon (reads keepalived.conf).",
        f"Default configuration file: {default_config}", "",
        "keepalived's options:", *works, "",
        "Accepted for keepalived compatibility but not supported by lvsfast (a warning at start):",
        *ignored, "",
        "lvsfast's own options:", *own, "",
        "Exit status with -t: 0 clean, 5 configuration problems, 6 script security violation or",
        "failed include check, 2 a keyword missing its parameter; 1 for a bad option.", ""])


def signum(name: str) -> int | None:
    """keepalived's ``--signum``: the signal lvsfast handles for SIGFUNC, or None."""
    import signal

    return {"STOP": signal.SIGTERM, "RELOAD": signal.SIGHUP, "DATA": signal.SIGUSR1, "STATS": signal.SIGUSR2,
            "STATS_CLEAR": signal.SIGRTMIN + 29, "JSON": signal.SIGRTMIN + 2}.get(name)


def umask(text: str) -> int | None:
    """``-u MASK`` as keepalived reads it (strtol base 0: 022 octal, 0x12 hex); None if invalid."""
    try:
        if text[:2].lower() == "0x":
            value = int(text[2:], 16)
        elif text.startswith("0") and len(text) > 1:
            value = int(text[1:], 8)
        else:
            value = int(text, 10)
    except ValueError:
        return None
    return value & 0o777 if value >= 0 else None


FACILITIES = {"user": 1 << 3, "daemon": 3 << 3, **{f"local{n}": (16 + n) << 3 for n in range(8)},
              **{str(n): (16 + n) << 3 for n in range(8)}}
