"""keepalived.conf's lexical layer: comments, tokens, quotes and escapes, and the bounds that
keep hostile or mistaken input from exhausting memory or time."""
from __future__ import annotations

# Bounds that keep hostile or mistaken input from exhausting memory or time.
MAX_INCLUDE_DEPTH = 32
MAX_SUBST_PASSES = 64
MAX_LINE_CHARS = 1 << 20
MAX_EXPANDED_LINES = 2_000_000
MAX_NESTING = 64
MAX_SPREAD = 100_000  # lines one source line may become through multi-line definitions


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


def unterminated(line: str) -> bool:
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
