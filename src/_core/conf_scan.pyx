# The keepalived.conf reader's hot loops: plain lines into statements, statements into a tree.
# Twin: lvsfast/config/_scan_py.py. Both must give the same statements, the same tree and the
# same diagnostics for any input; tests/config/test_config_scan.py runs them side by side.
#
# What is faster here: one pass over each line's characters finds the comment marks, braces,
# quotes and '$' and cuts the tokens (str.split and the brace padding made three copies), and
# the tree's nodes are made without NamedTuple's Python-level __new__.
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.unicode cimport Py_UNICODE_ISSPACE

from lvsfast.config.lexical import MAX_EXPANDED_LINES as _MAX_EXPANDED_LINES
from lvsfast.config.lexical import MAX_NESTING as _MAX_NESTING
from lvsfast.config.lexical import strip_comment
from lvsfast.config.node import Node

cdef Py_ssize_t MAX_EXPANDED_LINES = _MAX_EXPANDED_LINES
cdef Py_ssize_t MAX_NESTING = _MAX_NESTING

cdef enum:
    F_HASH = 1      # '#' or '!': a comment may start here
    F_BRACE = 2     # '{' or '}'
    F_DOLLAR = 4
    F_QUOTE = 8     # '"' or "'"
    F_TAB = 16      # a tab in the leading whitespace


cdef inline int _scan(str s, Py_ssize_t *first) noexcept:
    """The line's flags, and in ``first`` the index of its first non-whitespace character
    (len(s) when there is none)."""
    cdef int flags = 0
    cdef Py_ssize_t i = 0, n = len(s)
    cdef Py_UCS4 c
    cdef bint lead = True
    first[0] = n
    for i in range(n):
        c = s[i]
        if lead:
            if Py_UNICODE_ISSPACE(c):
                if c == u'\t':
                    flags |= F_TAB
                continue
            lead = False
            first[0] = i
        if c == u'#' or c == u'!':
            flags |= F_HASH
        elif c == u'{' or c == u'}':
            flags |= F_BRACE
        elif c == u'$':
            flags |= F_DOLLAR
        elif c == u'"' or c == u"'":
            flags |= F_QUOTE
    return flags


cdef list _tokens(str s, Py_ssize_t start):
    """str.split() of ``s`` with every '{' and '}' a token of its own."""
    cdef list out = []
    cdef Py_ssize_t i, n = len(s), begin = -1
    cdef Py_UCS4 c
    for i in range(start, n):
        c = s[i]
        if Py_UNICODE_ISSPACE(c):
            if begin >= 0:
                out.append(s[begin:i])
                begin = -1
        elif c == u'{' or c == u'}':
            if begin >= 0:
                out.append(s[begin:i])
                begin = -1
            out.append(u'{' if c == u'{' else u'}')
        elif begin < 0:
            begin = i
    if begin >= 0:
        out.append(s[begin:n])
    return out


def scan_lines(reader, list lines, str name):
    """Append each plain statement of ``lines`` to ``reader.out`` as (tokens, file, line, indent);
    hand every other non-empty line to ``reader.other_line``. Comments are cut first."""
    cdef list out = reader.out
    cdef Py_ssize_t i = 0, n = len(lines), first = 0, indent
    cdef int flags
    cdef str raw, expanded
    cdef Py_UCS4 c0
    while i < n:
        raw = lines[i]
        lineno = i + 1
        i += 1
        flags = _scan(raw, &first)
        if flags & F_HASH:
            raw = strip_comment(raw)
            flags = _scan(raw, &first) & ~F_HASH
        if first == len(raw):
            continue
        # Indentation only matters on lines with braces (it locates a missing '}').
        if flags & (F_BRACE | F_DOLLAR):
            if flags & F_TAB:
                expanded = raw.expandtabs(8)
                indent = len(expanded) - len(expanded.lstrip())
            else:
                indent = first
        else:
            indent = 0
        c0 = raw[first]
        if (not flags & (F_DOLLAR | F_QUOTE) and c0 != u'@' and c0 != u'~'
                and not raw.startswith(u"include", first) and len(out) < MAX_EXPANDED_LINES):
            out.append((_tokens(raw, first), name, lineno, indent))
            continue
        reader.indent = indent  # where other_line's statements are appended with
        i = reader.other_line(lines, i, raw.strip(), name, lineno)


cdef tuple _part(list tokens, Py_ssize_t start, Py_ssize_t end):
    """tuple(tokens[start:end]), without the list slice in between."""
    cdef Py_ssize_t i
    cdef tuple out = PyTuple_New(end - start)
    for i in range(start, end):
        t = tokens[i]
        Py_INCREF(t)
        PyTuple_SET_ITEM(out, i - start, t)
    return out


cdef inline object _node(str keyword, tuple args, str file, object line, object children, object end_line):
    return tuple.__new__(Node, (keyword, args, file, line, children, end_line))


def build_tree(list lines, diags):
    """Nest the statements by braces. An unclosed block is reported at the line that opened it.

    Counting braces only tells how many blocks are unclosed, not which: a missing '}' inside a
    block makes the outer block's '}' close the inner one. The indentation tells which: a '}'
    alone at the start of a line, indented less than the block it closes but exactly like an
    enclosing block's opener, points at the inner block as the one left open.
    """
    cdef list root = []
    # Each open block: (keyword, args, file, line, children, indent of its opening line)
    cdef list stack = []
    cdef list suspects = []
    cdef list children = root
    cdef list tokens, kids
    cdef tuple entry, b, top
    cdef Py_ssize_t i, j, n, indent, braces, unclosed, k
    cdef str t, file
    cdef object prev
    for entry in lines:
        tokens = <list>entry[0]
        file = <str>entry[1]
        lineno = entry[2]
        n = len(tokens)
        braces = 0
        for k in range(n):
            t = <str>tokens[k]
            if t == u'{' or t == u'}':
                braces += 1
        if braces == 0:
            if n:
                children.append(_node(<str>tokens[0], _part(tokens, 1, n), file, lineno, None, 0))
            continue
        indent = entry[3]
        i = 0
        if tokens.count(u'{') > 1:
            diags.warning(file, lineno, "more than one '{' on one line: keepalived 2.2 ignores every '{' after "
                          "the first on a line (lvsfast reads them all); put each block on its own line")
        while i < n:
            t = <str>tokens[i]
            if t == u'}':
                if not stack:
                    diags.error(file, lineno, "extra '}' with no block open")
                else:
                    top = <tuple>stack[len(stack) - 1]
                    if i == 0 and len(stack) > 1 and indent < <Py_ssize_t>top[5]:
                        outer = None
                        for k in range(len(stack) - 2, -1, -1):
                            b = <tuple>stack[k]
                            if <Py_ssize_t>b[5] == indent:
                                outer = b
                                break
                        if outer is not None:
                            suspects.append((top, file, lineno, outer))
                    stack.pop()
                    children = <list>(<tuple>stack[len(stack) - 1])[4] if stack else root
                    children.append(_node(top[0], top[1], top[2], top[3], tuple(<list>top[4]), lineno))
                i += 1
                continue
            if t == u'{':
                # '{' on its own line opens a block for the statement just before it.
                if children and (<tuple>children[len(children) - 1])[4] is None and len(stack) < MAX_NESTING:
                    prev = children.pop()
                    stack.append((prev[0], prev[1], prev[2], prev[3], [], indent))
                else:
                    diags.error(file, lineno, "'{' without a keyword before it")
                    stack.append((u'{', (), file, lineno, [], indent))
                children = <list>(<tuple>stack[len(stack) - 1])[4]
                i += 1
                continue
            j = i + 1
            while j < n and tokens[j] != u'{' and tokens[j] != u'}':
                j += 1
            if j < n and tokens[j] == u'{':
                if len(stack) >= MAX_NESTING:
                    diags.error(file, lineno, f"blocks nested deeper than {MAX_NESTING}")
                kids = []
                stack.append((t, _part(tokens, i + 1, j), file, lineno, kids, indent))
                children = kids
                i = j + 1
            else:
                children.append(_node(t, _part(tokens, i + 1, j), file, lineno, None, 0))
                i = j
    unclosed = len(stack)
    for entry in suspects[:unclosed]:
        b = <tuple>entry[0]
        outer = entry[3]
        what = " ".join((b[0],) + b[1])
        owhat = " ".join((outer[0],) + outer[1])
        where = f"line {entry[2]}" if entry[1] == b[2] else f"{entry[1]}:{entry[2]}"
        diags.error(b[2], b[3], f"block '{what}' is never closed: the '}}' at {where} is indented like "
                    f"'{owhat}' (line {outer[3]}), so it closes this block instead")
    unclosed -= len(suspects[:unclosed])
    while stack:
        b = <tuple>stack.pop()
        if len(stack) < unclosed:
            what = " ".join((b[0],) + b[1])
            diags.error(b[2], b[3], f"block '{what}' is never closed: '{{' has no matching '}}'")
        children = <list>(<tuple>stack[len(stack) - 1])[4] if stack else root
        children.append(_node(b[0], b[1], b[2], b[3], tuple(<list>b[4]), 0))
    return tuple(root)
