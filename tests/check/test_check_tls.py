"""SSL_GET against a real TLS server with certificates made by ``cryptography``: a CA from the
SSL block verifies the chain and the virtualhost name; SNI only with enable_sni; client
certificates from the SSL block; chunked HTTP/1.1 bodies hashed after de-chunking."""
from __future__ import annotations

import asyncio
import hashlib

import pytest

from lvsfast.check import probes
from lvsfast.check.attempt import ssl_context
from lvsfast.config import loads
from lvsfast.config.model import HttpCheck, Url
from support.servers import TlsHTTP, make_pki

DIGEST = hashlib.md5(b"hello\n").hexdigest()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


def ctx(pki, ca=True, client=False):
    lines = []
    if ca:
        lines.append(f"    ca {pki['ca']}.crt")
    if client:
        lines += [f"    certificate {pki['client']}.crt", f"    key {pki['client']}.key"]
    conf = ("SSL {\n" + "\n".join(lines) + "\n}\n") if lines else ""
    return ssl_context(loads(conf))


def check(sni=True, vhost="www.test"):
    return HttpCheck(kind="SSL_GET", connect_timeout=1.0, virtualhost=vhost, enable_sni=sni, http_protocol="1.1",
                     urls=(Url(path="/", digest=DIGEST),))


def probe(pki, cert, context, chk, require_client=False):
    async def body():
        srv = await TlsHTTP.start(pki, cert, require_client=require_client)
        try:
            res = await probes.http(chk, chk.urls[0], "127.0.0.1", srv.port, context)
            return res, srv
        finally:
            srv.close()
    return asyncio.run(body())


def test_valid_certificate_with_sni_and_chunked_digest(pki):
    (ok, why), srv = probe(pki, "valid", ctx(pki), check())
    assert ok, why
    assert srv.sni == ["www.test"]


def test_no_sni_unless_enabled(pki):
    (ok, why), srv = probe(pki, "valid", ctx(pki), check(sni=False))
    assert ok, why
    assert srv.sni == [None]


@pytest.mark.parametrize("cert,reason", [
    ("expired", "certificate not accepted: certificate has expired"),
    ("selfsigned", "certificate not accepted:"),
    ("wrongname", "certificate does not match www.test"),
])
def test_bad_certificates_fail_with_a_ca(pki, cert, reason):
    (ok, why), _ = probe(pki, cert, ctx(pki), check())
    assert not ok and reason in why, why
    assert why.startswith("SSL_GET 127.0.0.1:")


def test_without_a_ca_nothing_is_verified(pki):
    # keepalived's SSL_GET checks the service, not its certificate, unless a CA is configured.
    for cert in ("expired", "selfsigned", "wrongname"):
        (ok, why), _ = probe(pki, cert, ctx(pki, ca=False), check())
        assert ok, why


def test_client_certificate_from_ssl_block(pki):
    (ok, why), srv = probe(pki, "valid", ctx(pki, client=True), check(), require_client=True)
    assert ok, why
    assert srv.client_cn == ["checker.test"]
    (ok, why), _ = probe(pki, "valid", ctx(pki), check(), require_client=True)
    assert not ok


def test_cert_matches_rules():
    cert = {"subject": ((("commonName", "x.test"),),), "subjectAltName": (("DNS", "*.example.test"), ("DNS", "a.test"))}
    assert probes.cert_matches(cert, "www.example.test")
    assert probes.cert_matches(cert, "A.test.")
    assert not probes.cert_matches(cert, "a.b.example.test")
    assert not probes.cert_matches(cert, "x.test")  # CN ignored when DNS names exist
    assert probes.cert_matches({"subject": ((("commonName", "x.test"),),)}, "x.test")
    assert probes.cert_matches({"subjectAltName": (("IP Address", "127.0.0.1"),)}, "127.0.0.1")


def checks(pki, context, chk, steps, tickets=True):
    """One TlsMemo across attempts. ``steps``: the server's certificate before each attempt; a
    certificate unlike the last one is a restarted server (new ticket keys) on the same port."""
    async def body():
        srv = await TlsHTTP.start(pki, steps[0], tickets=tickets)
        memo = probes.TlsMemo()
        out = []
        try:
            for cert in steps:
                if cert != srv.cert:
                    srv.close()
                    await srv.server.wait_closed()
                    srv = await TlsHTTP.start(pki, cert, tickets=tickets, port=srv.port)
                out.append(await probes.http(chk, chk.urls[0], "127.0.0.1", srv.port, context, memo))
            return out, memo
        finally:
            srv.close()
    return asyncio.run(body())


def test_second_check_resumes_the_session(pki):
    for context in (ctx(pki), ctx(pki, ca=False)):
        out, memo = checks(pki, context, check(), ["valid"] * 3)
        assert all(ok for ok, _ in out), out
        assert (memo.handshakes, memo.resumed) == (3, 2)


def test_changed_certificate_passes_without_a_ca(pki):
    # Another server's certificate and ticket keys: a full handshake, still up, then resumed again.
    out, memo = checks(pki, ctx(pki, ca=False), check(), ["valid", "selfsigned", "selfsigned"])
    assert all(ok for ok, _ in out), out
    assert (memo.handshakes, memo.resumed) == (3, 1)


def test_changed_certificate_is_verified_with_a_ca(pki):
    out, memo = checks(pki, ctx(pki), check(), ["valid", "expired", "valid", "valid"])
    assert [ok for ok, _ in out] == [True, False, True, True], out
    assert "certificate not accepted: certificate has expired" in out[1][1]
    assert memo.resumed == 1  # the failure dropped the session: the third check verified afresh


def test_with_a_ca_a_full_handshake_every_reverify_period(pki, monkeypatch):
    monkeypatch.setattr(probes, "REVERIFY_S", 0.0)
    out, memo = checks(pki, ctx(pki), check(), ["valid"] * 3)
    assert all(ok for ok, _ in out), out
    assert memo.resumed == 0
    out, memo = checks(pki, ctx(pki, ca=False), check(), ["valid"] * 3)  # nothing to verify: resumes
    assert memo.resumed == 2


def test_server_without_tickets_passes_without_resuming(pki):
    out, memo = checks(pki, ctx(pki), check(), ["valid"] * 3, tickets=False)
    assert all(ok for ok, _ in out), out
    assert (memo.handshakes, memo.resumed) == (3, 0)


def test_session_of_another_context_is_not_offered(pki):
    # After a reload the context is new: the old session is left, not an error.
    async def body():
        srv = await TlsHTTP.start(pki, "valid")
        memo = probes.TlsMemo()
        try:
            a = await probes.http(check(), check().urls[0], "127.0.0.1", srv.port, ctx(pki), memo)
            b = await probes.http(check(), check().urls[0], "127.0.0.1", srv.port, ctx(pki), memo)
            return a, b, memo
        finally:
            srv.close()
    a, b, memo = asyncio.run(body())
    assert a[0] and b[0], (a, b)
    assert memo.resumed == 0


def test_checker_stats_count_resumed_handshakes(pki):
    # The service end to end: SSL_GET every 0.2 s, the session kept per check across its runs.
    from lvsfast.check.service import CheckerService
    from lvsfast.dataplane.backend import Unsupported

    class Recording(Unsupported):
        name = "recording"

        async def apply(self, desired):
            return []

        async def close(self, desired=None):
            pass

    async def body():
        srv = await TlsHTTP.start(pki, "valid")
        svc = CheckerService(backend=Recording())
        try:
            await svc.start(loads(f"""virtual_server 192.0.2.100 443 {{
    delay_loop 0.2
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 {srv.port} {{
        SSL_GET {{
            url {{
                path /
                digest {DIGEST}
            }}
            connect_timeout 1
            warmup 0
        }}
    }}
}}
"""))
            await asyncio.sleep(1.1)
            return svc.stats(), all(r.up for r in svc.reals.values())
        finally:
            await svc.stop()
            srv.close()
    st, up = asyncio.run(body())
    assert up
    assert st["tls_handshakes"] >= 3 and st["tls_resumed"] == st["tls_handshakes"] - 1, st
