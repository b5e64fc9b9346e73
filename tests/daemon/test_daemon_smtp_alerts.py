"""SMTP alerts: keepalived's mails for VRRP transitions and checker events, delivered by the parent
to a real SMTP server (aiosmtpd) in a namespace, side by side with keepalived's own mails."""
from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from email import message_from_string
from pathlib import Path

import pytest

from lvsfast.config.model import Config, GlobalDefs, RealServer, TcpCheck, VirtualServer, VrrpInstance, VrrpSyncGroup
from lvsfast.daemon.alerts import Alert, AlertPolicy, MailSettings, render
from lvsfast.daemon.control import request
from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.requires import need_binary
from support.vrrp_lab import VrrpLab, instance_conf

SINK = str(Path(__file__).parent.parent / "support" / "smtp_sink.py")


# ---- the decision function ----------------------------------------------------------------------

def _config(g: dict, inst: dict | None = None, rs: dict | None = None, vs: dict | None = None,
            group: dict | None = None) -> Config:
    real = RealServer(address="10.0.1.5", port=80, family=4, checkers=(TcpCheck(),), **(rs or {}))
    return Config(global_defs=GlobalDefs(router_id="lb1", notification_email=("ops@example.org",),
                                         smtp_server="10.0.0.10", **g),
                  vrrp_instances=(VrrpInstance(name="VI_1", **(inst or {})),),
                  vrrp_sync_groups=(VrrpSyncGroup(name="G1", group=("VI_1",), **(group or {})),),
                  virtual_servers=(VirtualServer(address="10.0.0.100", port=80, real_servers=(real,), **(vs or {})),))


def _vrrp(policy: AlertPolicy, state: str, **kw):
    return policy.decide({"event": "vrrp_state", "instance": "VI_1", "state": state, **kw})


def _rs(policy: AlertPolicy, up: bool):
    return policy.decide({"event": "real_server", "virtual": "10.0.0.100:TCP:80", "real": "10.0.1.5:80", "up": up})


@pytest.mark.parametrize("g,inst,mails", [
    ({}, {}, False),  # keepalived: VRRP alerts are off unless asked for
    ({"smtp_alert": True}, {}, True),
    ({"smtp_alert": True, "smtp_alert_vrrp": False}, {}, False),
    ({"smtp_alert_vrrp": True}, {}, True),
    ({"smtp_alert_vrrp": True}, {"smtp_alert": False}, False),
    ({}, {"smtp_alert": True}, True),
])
def test_vrrp_switches(g, inst, mails):
    policy = AlertPolicy(_config(g, inst), host_name="host")
    assert (_vrrp(policy, "MASTER") is not None) is mails


def test_vrrp_subjects_bodies_and_repeats():
    policy = AlertPolicy(_config({"smtp_alert": True}), host_name="host")
    a = _vrrp(policy, "MASTER")
    assert (a.subject, a.body) == ("[lb1] VRRP Instance VI_1 - Entering MASTER state",
                                   "=> VRRP Instance is now owning VRRP VIPs <=")
    assert _vrrp(policy, "MASTER") is None  # keepalived mails a state once
    assert _vrrp(policy, "BACKUP").body == "=> VRRP Instance is no longer owning VRRP VIPs <="
    assert _vrrp(policy, "FAULT").subject == "[lb1] VRRP Instance VI_1 - Entering FAULT state"
    g = policy.decide({"event": "vrrp_group", "group": "G1", "state": "MASTER"})
    assert (g.subject, g.body) == ("[lb1] VRRP Group G1 - Entering MASTER state",
                                   "=> All VRRP group instances are now in MASTER state <=")
    quiet = AlertPolicy(_config({"smtp_alert": True, "no_email_faults": True}), host_name="host")
    assert _vrrp(quiet, "FAULT") is None


@pytest.mark.parametrize("g,rs,mails", [
    ({}, {}, True),  # keepalived keeps real servers' alerts on by default
    ({"smtp_alert": False}, {}, False),
    ({"smtp_alert": False, "smtp_alert_checker": True}, {}, True),
    ({"smtp_alert_checker": True}, {"smtp_alert": False}, False),
])
def test_checker_switches_and_text(g, rs, mails):
    policy = AlertPolicy(_config(g, rs=rs), host_name="host")
    down = _rs(policy, False)
    assert (down is not None) is mails
    if mails:
        assert down.subject == "[lb1] Realserver [10.0.1.5]:tcp:80 of virtual server [10.0.0.100]:tcp:80 - DOWN"
        assert down.body == "=> TCP CHECK failed on service <="
        assert _rs(policy, True).body == "=> TCP CHECK succeed on service <="


def test_quorum_mail_only_with_the_virtual_servers_switch():
    off = AlertPolicy(_config({}), host_name="host")
    assert off.decide({"event": "quorum", "virtual": "10.0.0.100:TCP:80", "up": False}) is None
    on = AlertPolicy(_config({}, vs={"smtp_alert": True}), host_name="host")
    a = on.decide({"event": "quorum", "virtual": "10.0.0.100:TCP:80", "up": False, "weight": 0})
    assert (a.subject, a.body) == ("[lb1] Virtualserver [10.0.0.100]:tcp:80 - DOWN", "=> Lost quorum 1+0=1 <= 0 <=")


def test_defaults_and_message_layout():
    cfg = Config(global_defs=GlobalDefs(notification_email=("a@x", "b@x"), smtp_server="10.0.0.10"))
    policy = AlertPolicy(cfg, host_name="node1.example")
    s = policy.settings
    assert (policy.router_id, s.helo, s.sender, s.port, s.timeout) == (
        "node1.example", "node1.example", "root@node1.example", 25, 30.0)
    text = render(_vrrp(AlertPolicy(_config({"smtp_alert": True}), host_name="h"), "MASTER"), s, "DATE")
    assert text == ("Date: DATE\r\nFrom: root@node1.example\r\nSubject: [lb1] VRRP Instance VI_1 - Entering MASTER "
                    "state\r\nX-Mailer: Keepalived\r\nTo: a@x, b@x\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n")


def test_mailer_bounds_its_queue_and_logs_what_it_drops(caplog):
    import asyncio

    from lvsfast.daemon import smtp

    async def scenario() -> smtp.Mailer:
        # Submitted before the sender runs: the three oldest make room for the newest.
        m = smtp.Mailer(MailSettings("127.0.0.1", 1, "h", "f@x", ("t@x",), 1.0))
        for i in range(smtp.QUEUE_LIMIT + 3):
            m.submit(Alert(f"alert {i}", "body"))
        await asyncio.sleep(0)
        m.close()
        return m

    m = asyncio.run(scenario())
    assert m.dropped == 3
    assert "SMTP alert dropped (queue of 100 full): alert 2" in caplog.text
    # Closed (the daemon stopping): the one in flight and the 99 queued are logged as unsent.
    assert "100 SMTP alert(s) not sent before stopping: alert 3; alert 4;" in caplog.text


def test_client_falls_back_to_helo_and_stuffs_dots():
    # A server of keepalived's era: no EHLO. Its dialogue is checked line by line.
    import asyncio

    from lvsfast.daemon import smtp

    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-old.example\r\n220 ready\r\n")
        replies = {"EHLO": b"502 no\r\n", "HELO": b"250 hi\r\n", "MAIL": b"250 ok\r\n", "RCPT": b"250 ok\r\n",
                   "DATA": b"354 go\r\n", "QUIT": b"221 bye\r\n"}
        in_data = False
        while line := (await reader.readline()).decode():
            seen.append(line)
            if in_data:
                if line == ".\r\n":
                    in_data = False
                    writer.write(b"250 queued\r\n")
                continue
            verb = line.split(" ")[0].split(":")[0].strip()
            in_data = verb == "DATA"
            writer.write(replies[verb])
            await writer.drain()

    async def scenario() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = MailSettings("127.0.0.1", port, "me", "f@x", ("a@x", "b@x"), 5.0)
        await smtp.send(settings, render(Alert("s", ".dotted"), settings, "D"))
        server.close()

    asyncio.run(scenario())
    assert seen[:5] == ["EHLO me\r\n", "HELO me\r\n", "MAIL FROM:<f@x>\r\n", "RCPT TO:<a@x>\r\n",
                        "RCPT TO:<b@x>\r\n"]
    assert "..dotted\r\n" in seen and seen[-2:] == [".\r\n", "QUIT\r\n"]


def test_reload_keeps_the_last_mailed_states_and_turns_alerts_off():
    import asyncio

    from lvsfast.daemon.supervisor import Supervisor

    async def scenario() -> None:
        sup = Supervisor(None, lambda: None, {})
        sup._setup_alerts(_config({"smtp_alert": True}))
        sup.mailer.submit = lambda alert: sent.append(alert.subject)
        sup._alert({"event": "vrrp_state", "instance": "VI_1", "state": "MASTER"})
        sup._setup_alerts(_config({"smtp_alert": True, "smtp_connect_timeout": 5}))  # a reload
        assert sup.mailer.settings.timeout == 5.0
        sup._alert({"event": "vrrp_state", "instance": "VI_1", "state": "MASTER"})  # no second mail
        sup._setup_alerts(Config())
        assert sup.alerts is None and sup.mailer is None

    sent: list[str] = []
    asyncio.run(scenario())
    assert sent == ["[lb1] VRRP Instance VI_1 - Entering MASTER state"]


def test_nothing_of_it_is_imported_without_mail_settings():
    code = ("import sys; from lvsfast.config.model import Config; from lvsfast.daemon.supervisor import Supervisor; "
            "s = Supervisor(None, lambda: None, {}); s._setup_alerts(Config()); "
            "print(s.alerts, [m for m in ('lvsfast.daemon.alerts', 'lvsfast.daemon.smtp') if m in sys.modules])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "None []", run.stderr


# ---- the daemon, a real SMTP server, and keepalived -----------------------------------------------

@pytest.fixture
def vlab(lab, tmp_path):
    return VrrpLab.build(lab, tmp_path)


def _sink(vlab: VrrpLab, port: int, tls: bool = False) -> Path:
    out = vlab.workdir / f"mail-{port}.jsonl"
    args = [sys.executable, SINK, "10.0.0.10", str(port), str(out)]
    if tls:
        args += _certificate(vlab.workdir)
    proc = vlab.lab.spawn(vlab.client, *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return out


def _certificate(where: Path) -> list[str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sink.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    c, k = where / "sink.crt", where / "sink.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()))
    return [str(c), str(k)]


def _mails(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(x) for x in out.read_text().splitlines() if x.strip()]


def _mail_for(out: Path, subject: str) -> tuple[dict, object] | None:
    for m in _mails(out):
        msg = message_from_string(m["data"])
        if msg["Subject"] == subject:
            return m, msg
    return None


def _alerting(port: int, vrid: int, extra_global: str = "") -> str:
    return (f"global_defs {{\n    notification_email {{\n        ops@example.org\n        noc@example.org\n    }}\n"
            f"    notification_email_from lb@example.org\n    smtp_server 10.0.0.10 {port}\n"
            f"    smtp_helo_name lbhelo\n    smtp_connect_timeout 2\n    smtp_alert\n{extra_global}}}\n"
            + instance_conf(priority=150, advert_int=0.1, vrid=vrid))


def test_master_mail_as_keepalived_sends_it(vlab):
    need_binary("keepalived")
    out = _sink(vlab, 2525)
    vlab.start_lvsfast("r1", _alerting(2525, 51))
    vlab.start_keepalived("r2", _alerting(2525, 52))
    subject = "[{}] VRRP Instance VI_1 - Entering MASTER state"
    wait_for(lambda: _mail_for(out, subject.format("r1")) and _mail_for(out, subject.format("r2")), timeout=20,
             what=f"both MASTER mails (got {[message_from_string(m['data'])['Subject'] for m in _mails(out)]})")
    (ours, our_msg), (theirs, their_msg) = _mail_for(out, subject.format("r1")), _mail_for(out, subject.format("r2"))
    assert ours["from"] == theirs["from"] == "lb@example.org"
    assert ours["to"] == theirs["to"] == ["ops@example.org", "noc@example.org"]
    assert ours["helo"] == theirs["helo"] == "lbhelo"
    for header in ("From", "To", "X-Mailer"):
        assert our_msg[header] == their_msg[header], header
    assert our_msg.get_payload() == their_msg.get_payload()
    # The whole message, byte for byte, but for the date and the router_id.
    def same(data: str, rid: str) -> str:
        return "\n".join(x for x in data.replace(f"[{rid}]", "[r]").split("\r\n") if not x.startswith("Date: "))
    assert same(ours["data"], "r1") == same(theirs["data"], "r2")
    assert "=> VRRP Instance is now owning VRRP VIPs <=" in our_msg.get_payload()
    assert our_msg["Date"] and their_msg["Date"]
    # Both mailed the same transitions (keepalived's BACKUP at start included, or neither).
    ours_subjects = sorted(s.replace("[r1]", "[r]") for s in
                           (message_from_string(m["data"])["Subject"] for m in _mails(out)) if "[r1]" in s)
    theirs_subjects = sorted(s.replace("[r2]", "[r]") for s in
                             (message_from_string(m["data"])["Subject"] for m in _mails(out)) if "[r2]" in s)
    assert ours_subjects == theirs_subjects


@pytest.mark.parametrize("server", ["refusing", "silent"])
def test_dead_mail_server_costs_vrrp_nothing_and_is_logged(vlab, server):
    # refusing: nothing listens on 10.0.0.10:2599. silent: the kernel completes the connection
    # (listen backlog) but nothing ever answers, so each attempt waits smtp_connect_timeout.
    if server == "silent":
        vlab.lab.spawn(vlab.client, sys.executable, "-c", "import socket, time; s = socket.socket(); "
                       "s.bind(('10.0.0.10', 2599)); s.listen(16); time.sleep(120)")
        time.sleep(0.3)
    t0 = time.monotonic()
    r1 = vlab.start_lvsfast("r1", _alerting(2599, 51))
    vlab.wait_master("r1", timeout=5)
    assert time.monotonic() - t0 < 6
    failed = "SMTP alert not sent after 3 attempts to 10.0.0.10:2599: [r1] VRRP Instance VI_1 - Entering MASTER state"
    why = "Connection refused" if server == "refusing" else "timed out"
    wait_for(lambda: failed in r1.log.read_text(), timeout=40, what="the failed alert in the log")
    assert f"attempt 1 of 3, retrying): {'[Errno 111] ' if server == 'refusing' else ''}{why}" in r1.log.read_text()
    assert r1.state() == "MASTER"
    status = request(r1.sock, "status", timeout=2)["smtp_alerts"]
    assert status["failed"] >= 2 and status["sent"] == 0  # the BACKUP mail at start, then MASTER's
    assert r1.state() == "MASTER"


def test_starttls_when_the_server_offers_it(vlab):
    out = _sink(vlab, 2526, tls=True)
    vlab.start_lvsfast("r1", _alerting(2526, 51))
    subject = "[r1] VRRP Instance VI_1 - Entering MASTER state"
    wait_for(lambda: _mail_for(out, subject), timeout=20, what="the MASTER mail over TLS")
    mail, _ = _mail_for(out, subject)
    assert mail["tls"] is True


def test_real_server_down_mail_from_the_checker(vlab):
    # keepalived's checker needs IPVS, which this host's kernel lacks; its text is from keepalived
    # 2.2.7's check_tcp.c (subject from smtp.c), checked by test_checker_switches_and_text above.
    need_binary("nft")
    out = _sink(vlab, 2527)
    web = vlab.lab.spawn(vlab.client, sys.executable, "-m", "http.server", "8080", "--bind", "10.0.0.10",
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r1 = vlab.routers["r1"]
    conf = vlab.workdir / "chk.conf"
    conf.write_text("global_defs {\n    router_id r1\n    lvs_backend nftables\n"
                    "    notification_email {\n        ops@example.org\n    }\n    notification_email_from lb@example.org\n"
                    "    smtp_server 10.0.0.10 2527\n    smtp_connect_timeout 2\n    smtp_alert_checker\n}\n"
                    "virtual_server 10.0.0.200 80 {\n    delay_loop 0.2\n    lb_algo rr\n    lb_kind NAT\n"
                    "    protocol TCP\n    real_server 10.0.0.10 8080 {\n        TCP_CHECK {\n"
                    "            connect_timeout 0.5\n            retry 0\n        }\n    }\n}\n")
    log = open(r1.log, "a")
    r1.proc = vlab.lab.spawn(r1.ns, sys.executable, "-m", "lvsfast.cli", "-n", "-l", "-C", "-f", str(conf),
                             "--control-socket", r1.sock, "-p", str(vlab.workdir / "p"),
                             "-r", str(vlab.workdir / "r"), "-c", str(vlab.workdir / "c"),
                             stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: "checker child started" in r1.log.read_text() or None, timeout=20, what="the checker child")
    time.sleep(1.5)  # a few checks of the up server
    web.terminate()
    web.wait(5)
    subject = "[r1] Realserver [10.0.0.10]:tcp:8080 of virtual server [10.0.0.200]:tcp:80 - DOWN"
    wait_for(lambda: _mail_for(out, subject), timeout=20, what="the DOWN mail")
    mail, msg = _mail_for(out, subject)
    assert mail["to"] == ["ops@example.org"] and msg["From"] == "lb@example.org"
    assert msg.get_payload().strip() == "=> TCP CHECK failed on service <="
    # Its only real server gone, the virtual server (smtp_alert_checker: on) loses its quorum.
    quorum = "[r1] Virtualserver [10.0.0.200]:tcp:80 - DOWN"
    wait_for(lambda: _mail_for(out, quorum), timeout=10, what="the quorum mail")
    assert _mail_for(out, quorum)[1].get_payload().strip() == "=> Lost quorum 1+0=1 <= 0 <="


def test_sync_group_mails_as_keepalived(vlab):
    # keepalived mails each member's transitions and the group's; lvsfast the same set.
    need_binary("keepalived")
    out = _sink(vlab, 2528)

    def conf(vrid: int) -> str:
        return (_alerting(2528, vrid) + instance_conf(priority=150, advert_int=0.1, vrid=vrid + 10, name="VI_2")
                + "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n    smtp_alert\n}\n")

    vlab.start_keepalived("r2", conf(52))
    vlab.start_lvsfast("r1", conf(51))

    def subjects(rid: str) -> list[str]:
        got = (message_from_string(m["data"]) for m in _mails(out))
        return sorted(f"{m['Subject']} | {m.get_payload().strip()}".replace(f"[{rid}]", "[r]")
                      for m in got if m["Subject"].startswith(f"[{rid}]"))

    group_master = "[{}] VRRP Group G1 - Entering MASTER state"
    wait_for(lambda: _mail_for(out, group_master.format("r1")) and _mail_for(out, group_master.format("r2")),
             timeout=20, what="both groups' MASTER mails")
    time.sleep(1.0)  # any later mail would show in the comparison
    assert subjects("r1") == subjects("r2")
    assert "[r] VRRP Instance VI_2 - Entering MASTER state | => VRRP Instance is now owning VRRP VIPs <=" in subjects("r1")
