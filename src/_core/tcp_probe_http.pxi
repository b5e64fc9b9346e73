# tcp_probe.pyx's quiet HTTP answer in C: an exchange whose whole answer came in its first read,
# in the plain form check.http_answer.steady() passes on its status alone, is a quiet success
# with no Python object made (no Answer, no bytes). It says yes only where Answer.feed() would
# call that read complete and steady() would pass it; anything else (more reads, chunks, a
# header it does not read the way the regex does) falls back to the Answer path, so both judge
# the same bytes the same way.

cdef inline bint _lower_is(const char *p, const char *word, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef char c
    for i in range(n):
        c = p[i]
        if c >= b'A' and c <= b'Z':
            c = c + 32
        if c != word[i]:
            return 0
    return 1


cdef bint _quiet_answer(const char *b, Py_ssize_t n, const unsigned char *ok, int nok) noexcept nogil:
    cdef Py_ssize_t he = -1, i, j, sp = -1, length = -1, value, digits
    cdef int lengths = 0, code
    if n < 16 or ok == NULL:
        return 0
    for i in range(n - 3):
        if b[i] == b'\r' and b[i + 1] == b'\n' and b[i + 2] == b'\r' and b[i + 3] == b'\n':
            he = i + 4
            break
    if he < 0 or memcmp(b, b"HTTP/", 5) != 0:
        return 0
    for i in range(5, 24 if n > 24 else n):
        if b[i] == b' ':
            sp = i
            break
    if sp < 0 or sp + 4 >= n or (b[sp + 4] != b' ' and b[sp + 4] != b'\r'):
        return 0
    code = 0
    for i in range(sp + 1, sp + 4):
        if b[i] < b'0' or b[i] > b'9':
            return 0
        code = code * 10 + (b[i] - 48)
    if code >= nok or ok[code] != 1:
        return 0
    # The header lines: each "\n" must close a "\r\n" (the regex reads the head with "\r\n" made
    # "\n"); count the Content-Length headers the regex would match, refuse any Transfer-Encoding.
    for i in range(he):
        if b[i] != b'\n':
            continue
        if i == 0 or b[i - 1] != b'\r':
            return 0
        j = i + 1
        if he - j >= 17 and _lower_is(b + j, b"transfer-encoding", 17):
            return 0
        if he - j >= 15 and _lower_is(b + j, b"content-length:", 15):
            j += 15
            while j < he and (b[j] == b' ' or b[j] == b'\t'):
                j += 1
            digits = 0
            value = 0
            while j < he and b[j] >= b'0' and b[j] <= b'9':
                if digits == 9:
                    return 0
                value = value * 10 + (b[j] - 48)
                digits += 1
                j += 1
            if digits:
                lengths += 1
                length = value
    return lengths == 1 and length <= MAX_BODY_C and n - he >= length
