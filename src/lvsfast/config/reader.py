"""The keepalived.conf language, up to a tree of statements; no keyword is interpreted here.

Handled as keepalived 2.2 does: ``#``/``!`` comments, quoted strings with shell-like escapes,
``{ }`` blocks (braces may share a line with other tokens), ``include`` with globs relative to
the including file, conditional lines ``@id`` / ``@^id`` against the config id, ``$NAME=value``
definitions (multi-line with a trailing backslash) and ``$NAME`` / ``${NAME}`` substitution,
pre-defined ``${_PWD}``, ``${_INSTANCE}``, ``${_RANDOM}``, ``${_HASH}``, ``${_BANG}``, and the
``~SEQ`` / ``~SEQx`` / ``~LST`` line replication. Every statement keeps the (file, line) it came
from, so later checks can point at it.
"""
from __future__ import annotations

import os

try:  # hashlib's own blake2b, without hashlib's loading of OpenSSL (3 ms of ``lvsfast -t``)
    from _blake2 import blake2b
except ImportError:
    from hashlib import blake2b

from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.lexical import (MAX_EXPANDED_LINES, MAX_INCLUDE_DEPTH, MAX_LINE_CHARS, MAX_NESTING,
                                     MAX_SPREAD, MAX_SUBST_PASSES, strip_comment, tokenize, unterminated)
from lvsfast.config.node import Node
from lvsfast.config.scan import build_tree, scan_lines

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Iterator

# Definitions, references and replication are recognised by hand rather than with ``re``: its
# import and the patterns' compilation were a fifth of ``lvsfast -t`` (issue 25).
_NAME_HEAD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_TAIL = _NAME_HEAD | frozenset("0123456789")


def _name_end(text: str, i: int) -> int:
    """Where the name ``[A-Za-z_][A-Za-z0-9_]*`` starting at ``i`` ends (``i``: none there)."""
    n = len(text)
    if i >= n or text[i] not in _NAME_HEAD:
        return i
    i += 1
    while i < n and text[i] in _NAME_TAIL:
        i += 1
    return i


def _definition(text: str) -> tuple[str, str] | None:
    """``$NAME=VALUE`` (leading blanks allowed): (NAME, VALUE), else None."""
    s = text.lstrip(" \t")
    if not s.startswith("$"):
        return None
    end = _name_end(s, 1)
    if end == 1 or not s.startswith("=", end):
        return None
    return s[1:end], s[end + 1:]


def _replication(text: str) -> tuple[str, int] | None:
    """``~SEQ(``, ``~SEQx(`` or ``~LST(`` at the start: (kind, index after the '('), else None."""
    if text.startswith("~"):
        for kind in ("SEQx", "SEQ", "LST"):
            if text.startswith(kind + "(", 1):
                return kind, len(kind) + 2
    return None


def _reference(text: str, i: int) -> tuple[str, str, int] | None:
    """The reference at ``text[i] == '$'``: ``${NAME}``, ``${NAME extra...}`` or ``$NAME``
    followed by a blank or the end; (NAME, extra, index after it), else None."""
    n = len(text)
    if text.startswith("{", i + 1):
        end = _name_end(text, i + 2)
        if end == i + 2:
            return None
        if text.startswith("}", end):
            return text[i + 2:end], "", end + 1
        if end < n and text[end] in " \t":
            close = text.find("}", end)
            if close >= 0:
                return text[i + 2:end], text[end:close], close + 1
        return None
    end = _name_end(text, i + 1)
    if end > i + 1 and (end == n or text[end] in " \t"):
        return text[i + 1:end], "", end
    return None


def default_config_id() -> str:
    """keepalived's default config id: the node name up to the first dot."""
    return os.uname().nodename.split(".", 1)[0]  # gethostname(), without importing socket


class _Reader:
    def __init__(self, config_id: str, diags: Diagnostics, all_config: bool = False):
        self.config_id = config_id
        self.diags = diags
        self.all_config = all_config  # keepalived's -e: every include is an includet
        self.defs: dict[str, str] = {}
        self.out: list[tuple[list[str], str, int, int]] = []
        self.indent = 0  # of the physical line being read: locates a missing '}'
        self.spread = 0

        self.stack: list[str] = []
        self.pwd_stack: list[str] = []
        # What was read, so that another process reading the same files can tell it built the
        # same model (see source_digest); ${_RANDOM} makes two readings differ.
        self.sources = blake2b(digest_size=16)
        self.deterministic = True

    # -- files ------------------------------------------------------------------------------

    def read_file(self, path: str, file: str, line: int) -> None:
        real = os.path.realpath(path)
        if real in self.stack:
            self.diags.error(file, line, f"include loop: {path} includes itself")
            return
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            self.diags.error(file, line, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
            return
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
            text = raw.decode("utf-8", "surrogateescape")
        except OSError as exc:
            self.diags.error(file if file else path, line, f"cannot read {path}: {exc.strerror or exc}")
            return
        self.sources.update(b"%d:%s\0" % (len(raw), os.fsencode(real)))
        self.sources.update(raw)
        self.stack.append(real)
        self.pwd_stack.append(os.path.dirname(os.path.abspath(path)))
        try:
            self.read_text(text, path)
        finally:
            self.stack.pop()
            self.pwd_stack.pop()

    def read_text(self, text: str, name: str) -> None:
        # The plain statements that make up most files are taken in the (compiled) scan; the
        # rest come back through other_line.
        scan_lines(self, text.split("\n"), name)

    def other_line(self, lines: list[str], i: int, stripped: str, name: str, lineno: int) -> int:
        """Everything but a plain statement: definitions (a multi-line one goes on from line
        ``i``), conditionals, replication, includes and quoted text. Returns the next line's index."""
        n = len(lines)
        if "$" in stripped and stripped.endswith("\\") and _definition(self._unconditional(stripped) or ""):
            # A multi-line definition: a line ending in '\' continues onto the next, whatever
            # it is; an empty line ends the definition, as in keepalived.
            parts = [stripped[:-1].rstrip()]
            while i < n:
                more = strip_comment(lines[i]).strip()
                i += 1
                if not more:
                    break
                if more.endswith("\\"):
                    parts.append(more[:-1].rstrip())
                else:
                    parts.append(more)
                    break
            head = parts[0]
            text = head + "\n".join(parts[1:]) if head.endswith("=") else "\n".join(parts)
            self.line(text, name, lineno, 0, multiline=True)
            return i
        self.line(stripped, name, lineno, 0)
        return i

    def _unconditional(self, line: str) -> str | None:
        """The line without its ``@id`` prefix, or None when the condition excludes it."""
        if not line.startswith("@"):
            return line
        word, _, rest = line.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        if word.startswith("@^"):
            ok = word[2:] != self.config_id
        else:
            ok = word[1:] == self.config_id
        return rest.strip() if ok else None

    # -- one logical line ---------------------------------------------------------------------

    def line(self, text: str, file: str, lineno: int, depth: int, multiline: bool = False) -> None:
        if depth > MAX_NESTING:
            self.diags.error(file, lineno, "definitions expand too deeply (recursive definition?)")
            return
        if depth == 0:
            self.spread = 0  # lines a multi-line definition has made of this one source line
        elif len(self.out) > MAX_EXPANDED_LINES:
            return
        text = self._unconditional(text.strip())
        if not text:
            return
        if text.startswith("$"):
            d = _definition(text)
            if d:
                name, value = d
                self.defs[name] = value.strip() if not multiline else value.strip(" \t")
                return
        if text.startswith("~") and _replication(text):
            self._replicate(text, file, lineno, depth)
            return
        if text.startswith("include"):
            word, _, rest = text.partition(" ")
            word, _, more = word.partition("\t")
            if word in INCLUDE_CHECKS:
                # Detected on the raw line, as keepalived does: brace expressions are glob syntax here.
                self._include(word, (more + " " + rest).split(), file, lineno)
                return
        if "$" in text:
            before = text
            text = self._substitute(text, file, lineno)
            if text is None:
                return
            if text == before:
                pass  # nothing was defined: "$NAME" stays as written
            elif "\n" in text:
                parts = text.split("\n")
                # A definition that names itself across its lines doubles at every level: stop
                # it here, where keepalived would have stopped, not after gigabytes.
                self.spread += len(parts)
                if self.spread > MAX_SPREAD:
                    if self.spread - len(parts) <= MAX_SPREAD:
                        self.diags.error(file, lineno, "definitions expand to more than "
                                         f"{MAX_SPREAD} lines (recursive definition?)")
                    return
                for part in parts:
                    self.line(part, file, lineno, depth + 1)
                return
            # A substitution may have produced a conditional, a definition or a replication.
            elif text.startswith(("@", "$", "~")):
                self.line(text, file, lineno, depth + 1)
                return
        tokens = tokenize(text)
        if not tokens:
            return
        if ('"' in text or "'" in text) and unterminated(text):
            # keepalived rejects the line too; a half-quoted command must not run as something else.
            self.diags.error(file, lineno, "unterminated quote - ignoring the line")
            return
        if tokens[0] in INCLUDE_CHECKS:
            self._include(tokens[0], tokens[1:], file, lineno)
            return
        if len(self.out) >= MAX_EXPANDED_LINES:
            if len(self.out) == MAX_EXPANDED_LINES:
                self.diags.error(file, lineno, f"configuration expands to more than {MAX_EXPANDED_LINES} lines")
                self.out.append(([], file, lineno, 0))
            return
        self.out.append((tokens, file, lineno, self.indent))

    def _lookup(self, name: str, extra: str) -> str | None:
        if name in self.defs:
            return self.defs[name]
        if name == "_PWD":
            return self.pwd_stack[-1] if self.pwd_stack else os.getcwd()
        if name == "_INSTANCE":
            return self.config_id
        if name == "_HASH":
            return "#"
        if name == "_BANG":
            return "!"
        if name == "_RANDOM":
            self.deterministic = False
            bounds = [int(x) for x in extra.split() if x.isdigit()]
            lo = bounds[0] if bounds else 0
            hi = bounds[1] if len(bounds) > 1 else 32767
            import random  # only for ${_RANDOM}: -t need not load it

            return str(random.randint(min(lo, hi), max(lo, hi)))
        return None

    def _substitute_once(self, text: str) -> str:
        """Every reference in ``text`` replaced once, left to right, by its value (one without
        a value stays as written); the values themselves are not searched in this pass."""
        out = []
        done = 0
        i = text.find("$")
        while i >= 0:
            ref = _reference(text, i)
            if ref is None:
                i = text.find("$", i + 1)
                continue
            name, extra, end = ref
            value = self._lookup(name, extra)
            if value is not None:
                out.append(text[done:i])
                out.append(value)
                done = end
            i = text.find("$", end)
        if not out:
            return text
        out.append(text[done:])
        return "".join(out)

    def _substitute(self, text: str, file: str, lineno: int) -> str | None:
        for _ in range(MAX_SUBST_PASSES):
            new = self._substitute_once(text)
            if new == text:
                return text
            if len(new) > MAX_LINE_CHARS:
                self.diags.error(file, lineno, "substitution makes the line longer than 1 MiB")
                return None
            text = new
        self.diags.error(file, lineno, "substitution does not terminate (recursive definition?)")
        return None

    def _replicate(self, text: str, file: str, lineno: int, depth: int) -> None:
        found = _replication(text)
        assert found is not None
        kind, start = found
        close = _matching_paren(text, start)
        if close < 0:
            self.diags.error(file, lineno, f"~{kind}( has no closing ')'")
            return
        inner, rest = text[start:close], text[close + 1:].strip()
        try:
            bindings = _seq(kind, inner) if kind != "LST" else _lst(inner)
        except ValueError as exc:
            self.diags.error(file, lineno, f"invalid ~{kind}({inner}): {exc}")
            return
        saved = {}
        for binding in bindings:
            for var, value in binding:
                saved.setdefault(var, self.defs.get(var))
                self.defs[var] = value
            self.spread = 0  # each replicated line has the budget of a source line
            self.line(rest, file, lineno, depth + 1)
            if len(self.out) > MAX_EXPANDED_LINES or self.diags.has_errors and len(self.diags.items) > 10000:
                break
        # keepalived does not promise the variable outlives the block; we restore it.
        for var, old in saved.items():
            if old is None:
                self.defs.pop(var, None)
            else:
                self.defs[var] = old

    def _include(self, word: str, patterns: list[str], file: str, lineno: int) -> None:
        import glob  # only for an include (it imports re): a file without one need not load it

        checks = INCLUDE_CHECKS["includet"] if self.all_config else INCLUDE_CHECKS[word]
        if not patterns:
            self.diags.error(file, lineno, f"{word} needs a file name or pattern")
            return
        base = self.pwd_stack[-1] if self.pwd_stack else os.getcwd()
        for pattern in patterns:
            pattern = pattern.strip("\"'")
            full = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
            expansions = expand_braces(full)
            matches: list[str] = []
            for e in expansions:
                found = sorted(glob.glob(e))
                if not found and len(expansions) > 1:
                    if "brace_match" in checks:
                        self._include_failed(file, lineno, f"{word} {pattern}: {e} matches no file")
                    elif not any(c in e for c in "*?["):
                        self.diags.notice(file, lineno, f"{word} {pattern}: {e} matches no file")
                matches.extend(found)
            if not matches:
                wildcard = any(c in pattern for c in "*?[")
                msg = f"{word} {pattern}: no file matches"
                if "wildcard_match" in checks or ("match" in checks and not wildcard):
                    self._include_failed(file, lineno, msg)
                elif not wildcard:
                    # keepalived 2.2.7 prints "Config files missing" and goes on: -t exits 0.
                    self.diags.notice(file, lineno, msg)
                # A plain include of an empty glob (conf.d/*.conf) is silent in keepalived, in -t
                # and at start; so it is here.
                continue
            for path in matches:
                if os.path.isdir(path):
                    continue
                if checks and not os.access(path, os.R_OK):
                    self._include_failed(file, lineno, f"{word}: {path} is not readable")
                    continue
                self.read_file(path, file, lineno)

    def _include_failed(self, file: str, lineno: int, msg: str) -> None:
        self.diags.error(file, lineno, msg)
        self.diags.fatal = True


INCLUDE_CHECKS: dict[str, frozenset[str]] = {
    "include": frozenset(),
    "includer": frozenset({"readable"}),
    "includem": frozenset({"readable", "match"}),
    "includew": frozenset({"readable", "wildcard_match"}),
    "includeb": frozenset({"readable", "brace_match"}),
    "includea": frozenset({"readable", "match", "wildcard_match", "brace_match"}),
    "includet": frozenset({"readable", "match", "wildcard_match", "brace_match"}),
}


def expand_braces(pattern: str) -> list[str]:
    """csh-style ``{a,b}`` expansion (``glob()`` with GLOB_BRACE), innermost-first, order kept."""
    start = -1
    depth = 0
    for i, c in enumerate(pattern):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1:i]
                parts, level, cur = [], 0, []
                for ch in inner:
                    if ch == "," and level == 0:
                        parts.append("".join(cur))
                        cur = []
                        continue
                    level += ch == "{"
                    level -= ch == "}"
                    cur.append(ch)
                parts.append("".join(cur))
                if len(parts) == 1:
                    continue  # "{x}" is literal
                head, tail = pattern[:start], pattern[i + 1:]
                out: list[str] = []
                for p in parts:
                    out.extend(expand_braces(head + p + tail))
                    if len(out) > 10000:
                        break
                return out
    return [pattern]


def _matching_paren(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _seq(kind: str, inner: str) -> Iterator[tuple[tuple[str, str], ...]]:
    parts = [p.strip() for p in inner.split(",")]
    if len(parts) < 2 or len(parts) > 4:
        raise ValueError("expected (var, [start, [step,]] end)")
    var = parts[0]
    if not var or _name_end(var, 0) != len(var):
        raise ValueError(f"bad variable name {var!r}")
    nums = [int(p, 0) for p in parts[1:]]
    if len(nums) == 1:
        end = nums[0]
        start = 1 if end > 0 else -1
        step = 1 if end >= start else -1
    elif len(nums) == 2:
        start, end = nums
        step = 1 if end >= start else -1
    else:
        start, step, end = nums
    if step == 0:
        raise ValueError("step is 0")
    count = (end - start) // step + 1
    if count > MAX_EXPANDED_LINES:
        raise ValueError("too many values")
    fmt = "{:x}" if kind == "SEQx" else "{:d}"
    return (((var, fmt.format(start + k * step)),) for k in range(max(count, 0)))


def _lst(inner: str) -> list[tuple[tuple[str, str], ...]]:
    inner = inner.strip()
    if inner.startswith("{"):
        import re  # ~LST's {vars}, {values} groups only

        groups = re.findall(r"\{([^}]*)\}", inner)
        if len(groups) < 2:
            raise ValueError("expected ({vars}, {values}, ...)")
        names = [v.strip() for v in groups[0].split(",")]
        out = []
        for g in groups[1:]:
            vals = [v.strip() for v in g.split(",")]
            if len(vals) != len(names):
                raise ValueError(f"{{{g}}} does not give {len(names)} values")
            out.append(tuple(zip(names, vals)))
        return out
    parts = [p.strip() for p in inner.split(",")]
    if len(parts) < 2:
        raise ValueError("expected (var, value, ...)")
    return [((parts[0], v),) for v in parts[1:]]


def read(path: str, diags: Diagnostics, config_id: str | None = None, *,
         all_config: bool = False) -> tuple[Node, ...]:
    """Read ``path`` (and its includes) into top-level statements; problems go to ``diags``.

    ``all_config`` (keepalived's ``-e``) checks every include as ``includet`` does."""
    r = _Reader(config_id if config_id is not None else default_config_id(), diags, all_config)
    r.read_file(path, "", 0)
    diags.source_digest = f"{r.config_id}:{r.sources.hexdigest()}" if r.deterministic else ""
    return build_tree(r.out, diags)


def read_string(text: str, diags: Diagnostics, name: str = "<string>",
                config_id: str | None = None) -> tuple[Node, ...]:
    """As :func:`read`, for text in memory; includes resolve against the current directory."""
    r = _Reader(config_id if config_id is not None else default_config_id(), diags)
    r.read_text(text, name)
    return build_tree(r.out, diags)
