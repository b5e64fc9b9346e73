"""The compiled prober's quiet HTTP answer (decided in C on an exchange's first read) against the
twin's Answer + steady(): it may leave an answer to the Answer path, never pass one they fail."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvsfast.check import _tcp_probe_py as twin
from lvsfast.check.http_answer import status_map
from support.impls import implementations, resolve_impl

OK_200 = status_map((range(200, 201),))
OK_2XX = status_map((range(200, 300),))

PLAIN = [
    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n",
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 04 Dec 2026 08:00:00 GMT\r\nContent-Type: "
    b"text/plain\r\ncontent-length:  3\r\nConnection: close\r\n\r\nok\n",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 \r\nCONTENT-LENGTH:\t2\r\n\r\nok",
]
NOT_QUIET = [
    b"HTTP/1.0 500 Oops\r\nContent-Length: 3\r\n\r\nok\n",  # status not accepted
    b"HTTP/1.0 200 OK\r\nContent-Length: 30\r\n\r\nok\n",  # more to come
    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nok\n",  # two lengths
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nok\n",  # no length: ends when the server closes
    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n",  # head cut short
    b"HTTP/1.0 2x0 OK\r\nContent-Length: 3\r\n\r\nok\n",
    b"http/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n",
    b"SSH-2.0-OpenSSH_9.2\r\n",
]


@pytest.fixture(params=implementations("tcp_probe"), scope="module")
def tp(request):
    return resolve_impl(request.param)


@pytest.mark.parametrize("data", PLAIN)
def test_plain_answers_are_quiet(tp, data):
    assert tp.quiet_first_read(data, OK_2XX)


@pytest.mark.parametrize("data", NOT_QUIET)
def test_the_rest_goes_to_the_answer_path(tp, data):
    assert not tp.quiet_first_read(data, OK_200)


_name = st.sampled_from([b"Content-Length", b"content-length", b"Transfer-Encoding", b"Server", b"X-A",
                         b"Content-Type", b"CONTENT-LENGTH"])
_value = st.one_of(st.integers(0, 40).map(lambda n: str(n).encode()), st.sampled_from([b"chunked", b"x", b""]),
                   st.binary(max_size=8))
_header = st.tuples(_name, st.sampled_from([b": ", b":", b":\t", b" : "]), _value, st.sampled_from([b"\r\n", b"\n"]))


@settings(max_examples=400, deadline=None)
@given(status=st.sampled_from([b"HTTP/1.0 200 OK", b"HTTP/1.1 200", b"HTTP/1.1 404 No", b"HTTP/1.1 20 OK",
                               b"HTTP/1.1  200 OK", b"HTTP/2 200 OK"]),
       headers=st.lists(_header, max_size=5), body=st.binary(max_size=40), tail=st.binary(max_size=4))
def test_never_quiet_where_the_twin_is_not(tp, status, headers, body, tail):
    data = status + b"\r\n" + b"".join(n + s + v + e for n, s, v, e in headers) + b"\r\n" + body + tail
    if tp.quiet_first_read(data, OK_2XX):
        assert twin.quiet_first_read(data, OK_2XX), data
