"""genhash: the same digest and the same verbose dump as keepalived's /usr/bin/genhash, against
Debian's nginx and a Python server; and HTTP_GET against nginx (digest, status, recovery)."""
from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys

from lvsfast.check import probes
from lvsfast.config.model import HttpCheck, StatusRange, Url
from support.requires import need_binary
from support.servers import MiniHTTP, Nginx

PAGE = b"<html>lvsfast genhash test page</html>\n" * 40  # spans several TCP reads


def genhash_ours(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lvsfast.check.genhash", *args], capture_output=True, text=True,
                          timeout=20)


def test_genhash_digest_equals_keepalived_against_nginx(tmp_path):
    need_binary("nginx")
    need_binary("genhash")
    web = Nginx(str(tmp_path / "nginx"), {"page.html": PAGE})
    try:
        args = ["-s", "127.0.0.1", "-p", str(web.port), "-u", "/page.html"]
        ours = genhash_ours(*args)
        theirs = subprocess.run(["genhash", *args], capture_output=True, text=True, timeout=20)
        assert ours.returncode == 0
        assert ours.stdout == theirs.stdout == hashlib.md5(PAGE).hexdigest() + "\n"
        for proto in ("1.0c", "1.1"):
            assert genhash_ours(*args, "-P", proto).stdout == theirs.stdout
    finally:
        web.close()


def test_genhash_verbose_dump_equals_keepalived():
    need_binary("genhash")
    srv = MiniHTTP()  # no Date header, so both dumps are byte for byte comparable
    try:
        args = ["-v", "-s", srv.host, "-p", str(srv.port), "-u", "/x"]
        ours = genhash_ours(*args).stdout.splitlines()
        theirs = subprocess.run(["genhash", *args], capture_output=True, text=True, timeout=20).stdout.splitlines()
        assert ours[:-1] == theirs[:-1]
        assert ours[-1].startswith("Global response time for [/x] = ")
    finally:
        srv.close()


def test_genhash_connection_failed_and_usage():
    srv = MiniHTTP()
    port = srv.port
    srv.close()
    res = genhash_ours("-s", "127.0.0.1", "-p", str(port), "-u", "/")
    assert res.stdout == "Connection failed\n" and res.returncode == 1
    res = genhash_ours("-h")
    assert res.stdout.startswith("Usage: genhash COMMAND [OPTIONS]") and res.returncode == 0


def test_http_get_against_nginx(tmp_path):
    need_binary("nginx")
    web = Nginx(str(tmp_path / "nginx"), {"page.html": PAGE})

    def run(url: Url):
        chk = HttpCheck(connect_timeout=1.0, urls=(url,), http_protocol="1.1")
        return asyncio.run(probes.http(chk, url, "127.0.0.1", web.port, None))

    try:
        assert run(Url("/page.html", digest=hashlib.md5(PAGE).hexdigest()))[0]
        ok, why = run(Url("/page.html", digest="0" * 32))
        assert not ok and "digest " + hashlib.md5(PAGE).hexdigest() in why
        ok, why = run(Url("/status503"))
        assert not ok and why.endswith("/status503: status 503 not in 200-299")
        assert run(Url("/status503", status_code=(StatusRange(500, 503),)))[0]
        assert run(Url("/page.html", regex="genhash test"))[0]
        web.close()
        ok, why = run(Url("/page.html"))
        assert not ok and "connect failed" in why
        web = Nginx(str(tmp_path / "nginx"), {"page.html": PAGE}, port=web.port)
        assert run(Url("/page.html"))[0]  # back after it recovers
    finally:
        web.close()
