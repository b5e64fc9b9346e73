"""The reader's hot loops, pure Python: the plain lines of a file into statements, and the
statements into a tree. Twin of the compiled ``lvsfast._core.conf_scan``; both must give the
same statements, the same tree and the same diagnostics for any input."""
from __future__ import annotations


from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.node import Node
from lvsfast.config.lexical import MAX_EXPANDED_LINES, MAX_NESTING, strip_comment

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Any


def scan_lines(reader: Any, lines: list[str], name: str) -> None:
    """Append each plain statement of ``lines`` to ``reader.out`` as (tokens, file, line, indent);
    hand every other non-empty line to ``reader.other_line``. Comments are cut first."""
    out = reader.out
    i, n = 0, len(lines)
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
            indent = len(raw) - len(raw.lstrip())
        else:
            indent = 0
        if (stripped[0] not in "@$~" and "$" not in stripped and '"' not in stripped and "'" not in stripped
                and not stripped.startswith("include") and len(out) < MAX_EXPANDED_LINES):
            if indent or "{" in stripped or "}" in stripped:
                stripped = stripped.replace("{", " { ").replace("}", " } ")
            out.append((stripped.split(), name, lineno, indent))
            continue
        reader.indent = indent  # where other_line's statements are appended with
        i = reader.other_line(lines, i, stripped, name, lineno)


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
