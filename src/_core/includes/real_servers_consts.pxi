# real_servers.pyx: at most this many RealServer fields, filled in C arrays.
cdef enum:
    MAX_FIELDS = 64

# Indices into a Node (a NamedTuple: keyword, args, file, line, children, end_line).
cdef enum:
    KEYWORD = 0
    ARGS = 1
    FILE = 2
    LINE = 3
    CHILDREN = 4
