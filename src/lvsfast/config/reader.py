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

import glob
import hashlib
import os
import random
import re
import socket
from typing import Iterator, NamedTuple

from lvsfast.config.diagnostics import Diagnostics

# Bounds that keep hostile or mistaken input from exhausting memory or time.
MAX_INCLUDE_DEPTH = 32
MAX_SUBST_PASSES = 64
MAX_LINE_CHARS = 1 << 20
MAX_EXPANDED_LINES = 2_000_000
MAX_NESTING = 64

_DEF_RE = re.compile(r"[ \t]*\$([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)
_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)((?:[ \t]+[^}]*)?)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=[ \t]|\Z)")
_REPL_RE = re.compile(r"~(SEQx?|LST)\(")


class Node(NamedTuple):
    """One statement: ``keyword args...`` and, for ``keyword args { ... }``, its children.

    A NamedTuple rather than a frozen dataclass: a large file makes hundreds of thousands of
    these, and a tuple is several times cheaper to create.
    """

    keyword: str
    args: tuple[str, ...]
    file: str
    line: int
    children: tuple["Node", ...] | None = None
    end_line: int = 0  # the line of the closing '}' of a block


    @property
    def is_block(self) -> bool:
        return self.children is not None


def default_config_id() -> str:
    """keepalived's default config id: the node name up to the first dot."""
    return socket.gethostname().split(".", 1)[0]


def strip_comment(line: str) -> str:
    """Cut the line at the first ``#`` or ``!`` that is not inside quotes."""
    if '"' not in line and "'" not in line:
        cut = len(line)
        i = line.find("#")
        if i >= 0:
            cut = i
        i = line.find("!", 0, cut)
        if i >= 0:
            cut = i
        return line[:cut]
    quote = ""
    escaped = False
    for i, c in enumerate(line):
        if escaped:
            escaped = False
        elif quote:
            if c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "#!":
            return line[:i]
    return line


_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def tokenize(line: str) -> list[str]:
    """Split a comment-free line into tokens; ``{`` and ``}`` outside quotes are tokens of their own."""
    if '"' not in line and "'" not in line and "${" not in line:
        if "{" in line or "}" in line:
            line = line.replace("{", " { ").replace("}", " } ")
        return line.split()
    tokens: list[str] = []
    cur: list[str] = []
    have = False  # a quoted empty string is still a token
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in " \t\r\n\f\v":
            if cur or have:
                tokens.append("".join(cur))
                cur, have = [], False
            i += 1
        elif c == "$" and line.startswith("${", i) and "}" in line[i:]:
            # An undefined ${NAME} stays as written; its braces are not a block.
            j = line.index("}", i) + 1
            cur.append(line[i:j])
            i = j
        elif c in "{}":
            if cur or have:
                tokens.append("".join(cur))
                cur, have = [], False
            tokens.append(c)
            i += 1
        elif c in "\"'":
            have = True
            i += 1
            while i < n and line[i] != c:
                ch = line[i]
                if ch == "\\" and i + 1 < n:
                    i, text = _escape(line, i + 1)
                    cur.append(text)
                    continue
                cur.append(ch)
                i += 1
            i += 1  # closing quote (an unterminated string runs to the end of the line)
        else:
            cur.append(c)
            i += 1
    if cur or have:
        tokens.append("".join(cur))
    return tokens


def _unterminated(line: str) -> bool:
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        i += 1
    return bool(quote)


def _escape(line: str, i: int) -> tuple[int, str]:
    """Decode the escape starting at ``line[i]`` (just after a backslash)."""
    c = line[i]
    if c in _ESCAPES:
        return i + 1, _ESCAPES[c]
    if c in "01234567":
        j = i
        while j < len(line) and j < i + 3 and line[j] in "01234567":
            j += 1
        return j, chr(int(line[i:j], 8) & 0xFF)
    if c == "x":
        j = i + 1
        while j < len(line) and line[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 1:
            return i + 1, "x"
        return j, chr(int(line[i + 1:j][-2:], 16))
    if c == "c" and i + 1 < len(line):
        return i + 2, chr(ord(line[i + 1].upper()) ^ 0x40)
    return i + 1, c


class _Reader:
    def __init__(self, config_id: str, diags: Diagnostics):
        self.config_id = config_id
        self.diags = diags
        self.defs: dict[str, str] = {}
        self.out: list[tuple[list[str], str, int, int]] = []
        self.indent = 0  # of the physical line being read: locates a missing '}'

        self.stack: list[str] = []
        self.pwd_stack: list[str] = []
        # What was read, so that another process reading the same files can tell it built the
        # same model (see source_digest); ${_RANDOM} makes two readings differ.
        self.sources = hashlib.blake2b(digest_size=16)
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
        lines = text.split("\n")
        i, n = 0, len(lines)
        out = self.out
        while i < n:
            raw = lines[i]
            if "#" in raw or "!" in raw:
                raw = strip_comment(raw)
            lineno = i + 1
            i += 1
            stripped = raw.strip()
            if not stripped:
                continue
            # Indentation only matters on lines with braces (it locates a missing '}').
            if "{" in raw or "}" in raw or "$" in raw:
                if "\t" in raw:
                    raw = raw.expandtabs(8)
                self.indent = len(raw) - len(raw.lstrip())
            else:
                self.indent = 0
            # Fast path for the plain statements that make up most files.
            if (stripped[0] not in "@$~" and "$" not in stripped and '"' not in stripped and "'" not in stripped
                    and not stripped.startswith("include") and len(out) < MAX_EXPANDED_LINES):
                if self.indent or "{" in stripped or "}" in stripped:
                    stripped = stripped.replace("{", " { ").replace("}", " } ")
                out.append((stripped.split(), name, lineno, self.indent))
                continue
            if "$" in stripped and stripped.endswith("\\") and _DEF_RE.match(self._unconditional(stripped) or ""):
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
                continue
            self.line(stripped, name, lineno, 0)

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
        text = self._unconditional(text.strip())
        if not text:
            return
        if text.startswith("$"):
            m = _DEF_RE.match(text)
            if m:
                value = m.group(2)
                self.defs[m.group(1)] = value.strip() if not multiline else value.strip(" \t")
                return
        if text.startswith("~") and _REPL_RE.match(text):
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
                for part in text.split("\n"):
                    self.line(part, file, lineno, depth + 1)
                return
            # A substitution may have produced a conditional, a definition or a replication.
            elif text.startswith(("@", "$", "~")):
                self.line(text, file, lineno, depth + 1)
                return
        tokens = tokenize(text)
        if not tokens:
            return
        if ('"' in text or "'" in text) and _unterminated(text):
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
            return str(random.randint(min(lo, hi), max(lo, hi)))
        return None

    def _substitute(self, text: str, file: str, lineno: int) -> str | None:
        def repl(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(3)
            value = self._lookup(name, m.group(2) or "")
            return m.group(0) if value is None else value

        for _ in range(MAX_SUBST_PASSES):
            new = _REF_RE.sub(repl, text)
            if new == text:
                return text
            if len(new) > MAX_LINE_CHARS:
                self.diags.error(file, lineno, "substitution makes the line longer than 1 MiB")
                return None
            text = new
        self.diags.error(file, lineno, "substitution does not terminate (recursive definition?)")
        return None

    def _replicate(self, text: str, file: str, lineno: int, depth: int) -> None:
        m = _REPL_RE.match(text)
        assert m is not None
        kind = m.group(1)
        close = _matching_paren(text, m.end())
        if close < 0:
            self.diags.error(file, lineno, f"~{kind}( has no closing ')'")
            return
        inner, rest = text[m.end():close], text[close + 1:].strip()
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
        checks = INCLUDE_CHECKS[word]
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
                        self.diags.warning(file, lineno, f"{word} {pattern}: {e} matches no file")
                matches.extend(found)
            if not matches:
                wildcard = any(c in pattern for c in "*?[")
                msg = f"{word} {pattern}: no file matches"
                if "wildcard_match" in checks or ("match" in checks and not wildcard):
                    self._include_failed(file, lineno, msg)
                else:
                    # keepalived reports this too but does not fail -t for a plain include.
                    self.diags.warning(file, lineno, msg)
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
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
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


def read(path: str, diags: Diagnostics, config_id: str | None = None) -> tuple[Node, ...]:
    """Read ``path`` (and its includes) into top-level statements; problems go to ``diags``."""
    r = _Reader(config_id if config_id is not None else default_config_id(), diags)
    r.read_file(path, "", 0)
    diags.source_digest = f"{r.config_id}:{r.sources.hexdigest()}" if r.deterministic else ""
    return build_tree(r.out, diags)


def read_string(text: str, diags: Diagnostics, name: str = "<string>",
                config_id: str | None = None) -> tuple[Node, ...]:
    """As :func:`read`, for text in memory; includes resolve against the current directory."""
    r = _Reader(config_id if config_id is not None else default_config_id(), diags)
    r.read_text(text, name)
    return build_tree(r.out, diags)


def build_tree(lines: list[tuple[list[str], str, int, int]], diags: Diagnostics) -> tuple[Node, ...]:
    """Nest the statements by braces. An unclosed block is reported at the line that opened it.

    Counting braces only tells how many blocks are unclosed, not which: a missing '}' inside a
    block makes the outer block's '}' close the inner one. The indentation tells which: a '}'
    alone at the start of a line, indented less than the block it closes but exactly like an
    enclosing block's opener, points at the inner block as the one left open.
    """
    root: list[Node] = []
    # Each open block: (keyword, args, file, line, children, indent of its opening line)
    stack: list[tuple[str, tuple[str, ...], str, int, list[Node], int]] = []
    suspects: list[tuple[tuple[str, tuple[str, ...], str, int, list[Node], int], str, int, tuple]] = []
    children = root
    for tokens, file, lineno, indent in lines:
        if "{" not in tokens and "}" not in tokens:
            if tokens:
                children.append(Node(tokens[0], tuple(tokens[1:]), file, lineno))
            continue
        i, n = 0, len(tokens)
        if tokens.count("{") > 1:
            diags.warning(file, lineno, "more than one '{' on one line: keepalived 2.2 ignores every '{' after "
                          "the first on a line (lvsfast reads them all); put each block on its own line")
        while i < n:
            t = tokens[i]
            if t == "}":
                if not stack:
                    diags.error(file, lineno, "extra '}' with no block open")
                else:
                    if i == 0 and len(stack) > 1 and indent < stack[-1][5]:
                        outer = next((b for b in reversed(stack[:-1]) if b[5] == indent), None)
                        if outer is not None:
                            suspects.append((stack[-1], file, lineno, outer))
                    kw, args, f, ln, kids, _ = stack.pop()
                    children = stack[-1][4] if stack else root
                    children.append(Node(kw, args, f, ln, tuple(kids), lineno))
                i += 1
                continue
            if t == "{":
                # '{' on its own line opens a block for the statement just before it.
                if children and children[-1].children is None and len(stack) < MAX_NESTING:
                    prev = children.pop()
                    stack.append((prev.keyword, prev.args, prev.file, prev.line, [], indent))
                else:
                    diags.error(file, lineno, "'{' without a keyword before it")
                    stack.append(("{", (), file, lineno, [], indent))
                children = stack[-1][4]
                i += 1
                continue
            j = i + 1
            while j < n and tokens[j] != "{" and tokens[j] != "}":
                j += 1
            if j < n and tokens[j] == "{":
                if len(stack) >= MAX_NESTING:
                    diags.error(file, lineno, f"blocks nested deeper than {MAX_NESTING}")
                stack.append((t, tuple(tokens[i + 1:j]), file, lineno, [], indent))
                children = stack[-1][4]
                i = j + 1
            else:
                children.append(Node(t, tuple(tokens[i + 1:j]), file, lineno))
                i = j
    unclosed = len(stack)
    for (kw, args, f, ln, _, _), cfile, cline, outer in suspects[:unclosed]:
        what = " ".join((kw,) + args)
        owhat = " ".join((outer[0],) + outer[1])
        where = f"line {cline}" if cfile == f else f"{cfile}:{cline}"
        diags.error(f, ln, f"block '{what}' is never closed: the '}}' at {where} is indented like "
                    f"'{owhat}' (line {outer[3]}), so it closes this block instead")
    unclosed -= len(suspects[:unclosed])
    while stack:
        kw, args, f, ln, kids, _ = stack.pop()
        if len(stack) < unclosed:
            what = " ".join((kw,) + args)
            diags.error(f, ln, f"block '{what}' is never closed: '{{' has no matching '}}'")
        children = stack[-1][4] if stack else root
        children.append(Node(kw, args, f, ln, tuple(kids)))
    return tuple(root)
