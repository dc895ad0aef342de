"""`maildesk run` as admins run it: a real subprocess on loopback (port 0), driven by
smtplib. Accepted mail becomes tickets (SQLite and PostgreSQL), refusals happen at
the right step with the right code, storage failures are temporary, LMTP answers
per recipient, STARTTLS/AUTH, SIGTERM/SIGHUP, systemd notifications, and start-up
errors. The SIGKILL crash test lives in test_daemon_crash.py."""

from __future__ import annotations

import email.policy
import resource
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from maildesk.cli import main
from maildesk.config import ConfigError, load_config
from maildesk.inbound.intake import Envelope, accept
from maildesk.store.db import open_database, upgrade
from maildesk.store.models import Intake
from maildesk.tickets.desk import utcnow
from tests import dovecot
from tests.conftest import Install, opened, write_config
from tests.daemon import Daemon, daemon_config
from tests.dovecot import Dovecot

SUPPORT = "support@example.com"


def mail(
    subject: str = "Printer on fire",
    *,
    sender: str = "Alice <alice@customer.example>",
    to: str = SUPPORT,
    message_id: str | None = "<m1@customer.example>",
    body: str = "It is really on fire.\n",
    cte: str | None = None,
    utf8: bool = False,
) -> bytes:
    """A message as it travels over SMTP (CRLF line ends; `utf8`: headers in UTF-8)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(body, cte=cte)
    return msg.as_bytes(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)


def start(desk: Install, extra: str = "", **env: str) -> Daemon:
    write_config(desk.root, desk.database_url, extra)
    return Daemon(desk.config_path, desk.root, env).start()


@pytest.fixture
def sqlite_desk(tmp_path: Path) -> Install:
    """Most of these tests are about the protocol: SQLite is enough for them."""
    url = f"sqlite:///{tmp_path}/maildesk.db"
    return Install(write_config(tmp_path, url), url, tmp_path)


@pytest.fixture
def daemon(desk: Install) -> Iterator[Daemon]:
    """On SQLite and PostgreSQL."""
    running = start(desk, daemon_config())
    yield running
    assert running.stop() == 0, running.log


@pytest.fixture
def sqlite_daemon(sqlite_desk: Install) -> Iterator[Daemon]:
    running = start(sqlite_desk, daemon_config())
    yield running
    assert running.stop() == 0, running.log


def tickets(desk: Install) -> list[dict[str, Any]]:
    return desk.json("tickets", "list", "--limit", "10000")


def wait_for_tickets(desk: Install, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The ticket list once it has `count` tickets (or whatever it has after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = tickets(desk)
        if len(found) >= count or time.monotonic() > deadline:
            return found


def intake_count(database_url: str) -> int:
    with opened(database_url):
        return Intake.select().count()


# -- accepted mail becomes tickets (SQLite and PostgreSQL) --------------------------------


def test_accepted_mail_becomes_tickets(desk: Install, daemon: Daemon) -> None:
    with daemon.smtp() as smtp:
        assert smtp.sendmail("alice@customer.example", [SUPPORT], mail()) == {}
        both = ["billing@example.com", "Support@Example.COM"]  # any case is ours
        raw = mail("Invoice wrong", sender="bob@acme.example", message_id="<m2@acme.example>")
        assert smtp.sendmail("bob@acme.example", both, raw) == {}
        code, reply = smtp.noop()
        assert code == 250
    found = wait_for_tickets(desk, 2)
    assert {t["subject"] for t in found} == {"Printer on fire", "Invoice wrong"}
    line = daemon.wait_for_line("<m2@acme.example>")
    assert "accepted intake" in line and "billing@example.com" in line
    ticket = desk.json("tickets", "show", "SUP-00001")
    assert ticket["events"][0]["data"]["source"] == "smtp:127.0.0.1"


def test_redelivery_after_a_lost_reply_is_stored_once(desk: Install, daemon: Daemon) -> None:
    with daemon.smtp() as smtp:
        smtp.sendmail("alice@customer.example", [SUPPORT], mail())
        smtp.sendmail("alice@customer.example", [SUPPORT], mail())  # the sender's retry
    daemon.wait_for_line("duplicate of intake 1")
    assert len(wait_for_tickets(desk, 1)) == 1
    assert intake_count(desk.database_url) == 1


def test_committed_but_unprocessed_mail_is_processed_at_start(desk: Install) -> None:
    """What a crash between the 250 and the pipeline leaves behind."""
    db = open_database(desk.database_url)
    upgrade(db)
    for index in range(3):
        raw = mail(f"Left over {index}", message_id=f"<left{index}@customer.example>")
        accept(
            db, raw, source="smtp:127.0.0.1", envelope=Envelope("a@customer.example"), now=utcnow()
        )
    db.close()
    running = start(desk, daemon_config())
    try:
        assert len(wait_for_tickets(desk, 3)) == 3
    finally:
        assert running.stop() == 0


# -- refusals ---------------------------------------------------------------------------


def test_unknown_recipient_is_refused_at_rcpt(sqlite_desk: Install, sqlite_daemon: Daemon) -> None:
    with sqlite_daemon.smtp() as smtp:
        smtp.ehlo()
        smtp.mail("alice@customer.example")
        code, reply = smtp.rcpt("nobody@example.com")
        assert (code, reply[:5]) == (550, b"5.1.1")
        assert smtp.rcpt(SUPPORT)[0] == 250
        assert smtp.data(mail())[0] == 250
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("alice@customer.example", ["sales@other.example"], mail("x"))
    sqlite_daemon.wait_for_line("rejected recipient <nobody@example.com>")
    [ticket] = wait_for_tickets(sqlite_desk, 1)
    assert ticket["subject"] == "Printer on fire"


def test_subaddresses_of_our_addresses_are_accepted_at_rcpt(desk: Install, daemon: Daemon) -> None:
    """`support+anything@` is ours, as with Postfix's recipient_delimiter = +: the signed
    reply addresses in agents' notifications are such subaddresses."""
    signed = "support+r-1-1-abcdefghijklmnop@example.com"
    with daemon.smtp() as smtp:
        smtp.ehlo()
        smtp.mail("alice@customer.example")
        assert smtp.rcpt(signed)[0] == 250
        assert smtp.rcpt("Support+Anything@Example.COM")[0] == 250
        for stranger in ("other@example.com", "other+support@example.com", "support+x@else.test"):
            assert smtp.rcpt(stranger)[0] == 550, stranger
        assert smtp.data(mail(to=signed))[0] == 250
    daemon.wait_for_line("rejected recipient <other@example.com>")
    [ticket] = wait_for_tickets(desk, 1)
    assert ticket["subject"] == "Printer on fire"


def test_start_up_warns_while_the_from_header_is_trusted(desk: Install) -> None:
    running = start(desk, daemon_config() + "\n[security]\ntrust_from_header = true\n")
    try:
        running.wait_for_line("[security] trust_from_header is on")
    finally:
        assert running.stop() == 0, running.log
    quiet = start(desk, daemon_config())
    assert quiet.stop() == 0, quiet.log  # its whole log, start to stop
    assert "running (" in quiet.log and "trust_from_header" not in quiet.log


def test_oversize_mail_is_refused_with_552(sqlite_desk: Install) -> None:
    running = start(sqlite_desk, daemon_config("max_message_size = 10000"))
    try:
        big = mail(body=("x" * 70 + "\n") * 200)  # > 10,000 octets
        with running.smtp() as smtp:
            smtp.ehlo()
            assert b"SIZE 10000" in (smtp.ehlo_resp or b"")
            # Declared size (smtplib sends SIZE=): refused at MAIL FROM.
            with pytest.raises(smtplib.SMTPSenderRefused) as declared:
                smtp.sendmail("alice@customer.example", [SUPPORT], big)
            assert declared.value.smtp_code == 552
            smtp.rset()
            # Undeclared: refused after DATA, once the bytes are counted.
            smtp.mail("alice@customer.example")
            smtp.rcpt(SUPPORT)
            assert smtp.data(big)[0] == 552
            assert smtp.sendmail("alice@customer.example", [SUPPORT], mail("small")) == {}
        assert [t["subject"] for t in wait_for_tickets(sqlite_desk, 1)] == ["small"]
        assert intake_count(sqlite_desk.database_url) == 1
    finally:
        assert running.stop() == 0


# -- storage failure: 451, then the retry succeeds ---------------------------------------


def test_storage_failure_answers_451_and_the_retry_succeeds(sqlite_desk: Install) -> None:
    """The disk is full (the daemon may not write to any file): a temporary failure
    that says nothing about the inside; once there is room, the retry is stored."""
    running = start(sqlite_desk, daemon_config())
    try:
        soft, hard = resource.prlimit(running.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(running.pid, resource.RLIMIT_FSIZE, (0, hard))
        with running.smtp() as smtp, pytest.raises(smtplib.SMTPDataError) as failed:
            smtp.sendmail("alice@customer.example", [SUPPORT], mail())
        assert failed.value.smtp_code == 451
        reply = failed.value.smtp_error.decode()
        assert reply.startswith("4.3.0")
        for internal in ("sqlite", "disk", "database", "Error", "/"):
            assert internal not in reply
        running.wait_for_line("temporary failure for message from <alice@customer.example>")
        resource.prlimit(running.pid, resource.RLIMIT_FSIZE, (soft, hard))
        with running.smtp() as smtp:
            assert smtp.sendmail("alice@customer.example", [SUPPORT], mail()) == {}
        [ticket] = wait_for_tickets(sqlite_desk, 1)
        assert ticket["subject"] == "Printer on fire"
        assert intake_count(sqlite_desk.database_url) == 1
    finally:
        assert running.stop() == 0, running.log


# -- what real mail looks like ------------------------------------------------------------


def test_8bit_and_smtputf8_mail(sqlite_desk: Install, sqlite_daemon: Daemon) -> None:
    body = "Grüße aus Köln, 日本語のテキスト.\n"
    eight_bit = mail("Umlaute", body=body, cte="8bit", message_id="<8bit@customer.example>")
    assert b"\xc3\xbc" in eight_bit  # raw UTF-8 in the body, not encoded
    utf8 = mail(
        "Ünïcødé everywhere",
        sender="Jörg <jörg@bücher.example>",
        body=body,
        cte="8bit",
        message_id="<utf8@bücher.example>",
        utf8=True,
    )
    with sqlite_daemon.smtp() as smtp:
        smtp.ehlo()
        assert smtp.has_extn("8bitmime") and smtp.has_extn("smtputf8")
        smtp.sendmail(
            "alice@customer.example", [SUPPORT], eight_bit, mail_options=["BODY=8BITMIME"]
        )
        smtp.sendmail(
            "jörg@bücher.example", [SUPPORT], utf8, mail_options=["SMTPUTF8", "BODY=8BITMIME"]
        )
    assert len(wait_for_tickets(sqlite_desk, 2)) == 2
    umlaute = sqlite_desk.json("tickets", "show", "SUP-00001")
    assert umlaute["messages"][0]["body_text"] == body
    unicode = sqlite_desk.json("tickets", "show", "SUP-00002")
    assert unicode["subject"] == "Ünïcødé everywhere"
    assert unicode["requester"]["email"] == "jörg@bücher.example"
    assert unicode["messages"][0]["body_text"] == body
    # no acknowledgement to an address only SMTPUTF8 can carry: said in the log, not lost
    rejected = [e for e in unicode["events"] if e["type"] == "mail_rejected"]
    assert rejected and "SMTPUTF8" in rejected[0]["data"]["reason"]


def test_a_5000_octet_line_is_accepted_intact(sqlite_desk: Install, sqlite_daemon: Daemon) -> None:
    line = "".join(f"{i % 10}" for i in range(5000))
    raw = (
        b"From: alice@customer.example\r\nTo: support@example.com\r\nSubject: Long line\r\n"
        b"Message-ID: <long@customer.example>\r\nContent-Type: text/plain\r\n\r\n"
        + line.encode()
        + b"\r\n"
    )
    with sqlite_daemon.smtp() as smtp:
        assert smtp.sendmail("alice@customer.example", [SUPPORT], raw) == {}
    assert len(wait_for_tickets(sqlite_desk, 1)) == 1
    assert line in sqlite_desk.json("tickets", "show", "SUP-00001")["messages"][0]["body_text"]


def test_null_return_path_is_accepted(sqlite_desk: Install, sqlite_daemon: Daemon) -> None:
    bounce = mail("Undelivered Mail", sender="MAILER-DAEMON@mx.example", message_id="<b@mx>")
    with sqlite_daemon.smtp() as smtp:
        assert smtp.sendmail("<>", [SUPPORT], bounce) == {}
    sqlite_daemon.wait_for_line("accepted intake 1 <b@mx> from <> to support@example.com")
    with opened(sqlite_desk.database_url):
        assert Intake.get_by_id(1).envelope_from == ""


# -- LMTP ---------------------------------------------------------------------------------


def test_lmtp_answers_once_per_accepted_recipient(sqlite_desk: Install) -> None:
    running = start(sqlite_desk, daemon_config("lmtp = true"))
    try:
        with smtplib.LMTP("127.0.0.1", running.port, timeout=30) as lmtp:
            assert lmtp.ehlo()[0] == 250  # smtplib.LMTP sends LHLO
            assert lmtp.mail("alice@customer.example")[0] == 250
            assert lmtp.rcpt(SUPPORT)[0] == 250
            assert lmtp.rcpt("nobody@example.com")[0] == 550
            assert lmtp.rcpt("billing@example.com")[0] == 250
            first = lmtp.data(mail())
            second = lmtp.getreply()
            assert (first[0], second[0]) == (250, 250)
            assert lmtp.noop()[0] == 250  # nothing left unread: replies were one per recipient
        [ticket] = wait_for_tickets(sqlite_desk, 1)
        shown = sqlite_desk.json("tickets", "show", ticket["number"])
        assert shown["events"][0]["data"]["source"] == "lmtp:127.0.0.1"
    finally:
        assert running.stop() == 0


# -- STARTTLS and AUTH --------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def test_starttls_and_auth_for_a_relay(sqlite_desk: Install, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    smtp_extra = f'tls_cert = "{cert}"\ntls_key = "{key}"\nauth_username = "relay"'
    running = start(sqlite_desk, daemon_config(smtp_extra), MAILDESK_SMTP_AUTH_PASSWORD="s3cret")
    client_tls = ssl.create_default_context(cafile=str(cert))
    client_tls.check_hostname = False
    try:
        with running.smtp() as smtp:
            smtp.ehlo()
            assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
            code, _ = smtp.mail("alice@customer.example")
            assert code == 530  # authentication required
            smtp.starttls(context=client_tls)
            smtp.ehlo()
            assert "PLAIN" in smtp.esmtp_features["auth"]
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("relay", "wrong")
            smtp.login("relay", "s3cret")
            assert smtp.sendmail("alice@customer.example", [SUPPORT], mail()) == {}
        running.wait_for_line("failed AUTH")
        assert len(wait_for_tickets(sqlite_desk, 1)) == 1
    finally:
        assert running.stop() == 0


# -- IMAP ---------------------------------------------------------------------------------


def test_each_imap_mailbox_is_polled_by_the_daemon(sqlite_desk: Install) -> None:
    if not dovecot.available():
        pytest.skip("dovecot not installed (scripts/setup --test installs it)")
    server = Dovecot({"desk": "desk-pw", "billing": "billing-pw"})
    server.start()
    try:
        server.append("desk", "INBOX", mail("From IMAP", message_id="<imap1@customer.example>"))
        server.append("billing", "INBOX", mail("Bill", message_id="<imap2@customer.example>"))
        mailboxes = "".join(
            f"""
[[imap]]
host = "127.0.0.1"
port = {server.port}
tls = "none"
username = "{user}"
password_env = "TEST_IMAP_PASSWORD_{user.upper()}"
"""
            for user in ("desk", "billing")
        )
        running = start(
            sqlite_desk,
            daemon_config() + mailboxes,
            TEST_IMAP_PASSWORD_DESK="desk-pw",
            TEST_IMAP_PASSWORD_BILLING="billing-pw",
        )
        try:
            found = wait_for_tickets(sqlite_desk, 2)
            assert {t["subject"] for t in found} == {"From IMAP", "Bill"}
            assert "<imap1@customer.example>" in server.messages("desk", "Processed")
            assert server.messages("desk", "INBOX") == {}
            assert "2 IMAP mailbox(es)" in running.wait_for_line("running (")
        finally:
            began = time.monotonic()
            assert running.stop() == 0, running.log
            assert time.monotonic() - began < 10  # the pollers stop promptly too
    finally:
        server.close()


# -- signals ------------------------------------------------------------------------------


def test_sigterm_lets_a_transfer_in_data_finish_and_turns_idle_sessions_away(
    sqlite_desk: Install,
) -> None:
    running = start(sqlite_desk, daemon_config())
    busy, idle = running.smtp(), running.smtp()
    try:
        idle.ehlo()
        busy.ehlo()
        busy.mail("alice@customer.example")
        busy.rcpt(SUPPORT)
        busy.putcmd("data")
        assert busy.getreply()[0] == 354
        raw = mail(body="line\n" * 2000)
        assert busy.sock is not None
        busy.sock.sendall(raw[: len(raw) // 2])
        running.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        running.wait_for_line("waiting up to")
        # The idle session is told to come back later.
        code, _ = idle.getreply()
        assert code == 421
        # The transfer in DATA completes and is acknowledged, then the session ends.
        busy.sock.sendall(raw[len(raw) // 2 :] + b".\r\n")
        assert busy.getreply()[0] == 250
        assert busy.getreply()[0] == 421
        assert running.stop(timeout=10) == 0
    finally:
        busy.close()
        idle.close()
    assert intake_count(sqlite_desk.database_url) == 1
    again = start(sqlite_desk, daemon_config())
    try:
        assert len(wait_for_tickets(sqlite_desk, 1)) == 1
    finally:
        assert again.stop() == 0


def test_sigterm_cuts_a_stalled_transfer_after_the_timeout_and_stores_nothing(
    sqlite_desk: Install,
) -> None:
    running = start(sqlite_desk, daemon_config(shutdown_timeout=1))
    with running.smtp() as stalled:
        stalled.ehlo()
        stalled.mail("alice@customer.example")
        stalled.rcpt(SUPPORT)
        stalled.putcmd("data")
        assert stalled.getreply()[0] == 354
        assert stalled.sock is not None
        stalled.sock.sendall(mail()[:50])  # and nothing more
        began = time.monotonic()
        assert running.stop(timeout=15) == 0
        assert time.monotonic() - began < 10
        with pytest.raises(smtplib.SMTPServerDisconnected):
            stalled.getreply()  # a lost connection: the sender retries later
    assert "closing 1 session(s) still busy" in running.log
    assert intake_count(sqlite_desk.database_url) == 0


def test_sighup_reloads_recipients_and_names_what_needs_a_restart(sqlite_desk: Install) -> None:
    running = start(sqlite_desk, daemon_config())
    try:
        with running.smtp() as smtp:
            smtp.ehlo()
            smtp.mail("alice@customer.example")
            assert smtp.rcpt("help@example.com")[0] == 550
        text = sqlite_desk.config_path.read_text()
        sqlite_desk.config_path.write_text(
            text.replace('"billing@example.com"]', '"billing@example.com", "help@example.com"]')
            .replace("port = 0", "port = 1", 1)  # [smtp] port
        )  # fmt: skip
        running.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        running.wait_for_line("configuration reloaded")
        running.wait_for_line("changes to [smtp] take effect after a restart")
        with running.smtp() as smtp:
            assert smtp.sendmail("alice@customer.example", ["help@example.com"], mail()) == {}
        running.wait_for_line("intake 1 created SUP-00001")
        sqlite_desk.config_path.write_text(text.replace("[desk]", "[desk]\nbogus = 1"))
        running.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        running.wait_for_line("reload failed, keeping the running configuration: desk.bogus")
        with running.smtp() as smtp:
            assert smtp.noop()[0] == 250
    finally:
        assert running.stop() == 0


# -- systemd ------------------------------------------------------------------------------


def test_systemd_ready_watchdog_and_stopping(sqlite_desk: Install, tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(20)
        write_config(sqlite_desk.root, sqlite_desk.database_url, daemon_config())
        running = Daemon(
            sqlite_desk.config_path,
            sqlite_desk.root,
            {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"},
        ).start(wait=False)
        try:
            ready = sock.recv(4096).decode()
            assert ready.startswith("READY=1\nSTATUS=smtp on 127.0.0.1:")
            port = int(ready.rsplit(":", 1)[1])
            socket.create_connection(("127.0.0.1", port), timeout=5).close()  # bound when READY
            pings = [sock.recv(4096) for _ in range(3)]
            assert pings == [b"WATCHDOG=1"] * 3
            running.wait_ready()
            running.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            while (message := sock.recv(4096)) == b"WATCHDOG=1":
                pass
            assert message.startswith(b"STOPPING=1")
        finally:
            assert running.stop() == 0


# -- start-up errors ----------------------------------------------------------------------


def test_port_in_use_is_a_one_line_error_exit_1(sqlite_desk: Install) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(
            sqlite_desk.root,
            sqlite_desk.database_url,
            daemon_config().replace("port = 0", f"port = {port}", 1),
        )
        result = subprocess.run(
            [*maildesk(), "run", "--config", str(sqlite_desk.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("maildesk: cannot listen on 127.0.0.1:") and "in use" in last


def test_unusable_tls_certificate_is_a_config_error_exit_2(
    sqlite_desk: Install, tmp_path: Path
) -> None:
    extra = f'tls_cert = "{tmp_path}/missing.pem"\ntls_key = "{tmp_path}/missing.key"'
    write_config(sqlite_desk.root, sqlite_desk.database_url, daemon_config(extra))
    result = subprocess.run(
        [*maildesk(), "run", "--config", str(sqlite_desk.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1].startswith("maildesk: config error: smtp.tls_cert:")
    )


def maildesk() -> list[str]:
    return [sys.executable, "-m", "maildesk"]


def test_auth_without_its_password_is_a_config_error_exit_2(
    sqlite_desk: Install, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    extra = f'tls_cert = "{cert}"\ntls_key = "{key}"\nauth_username = "relay"'
    write_config(sqlite_desk.root, sqlite_desk.database_url, daemon_config(extra))
    result = subprocess.run(
        [*maildesk(), "run", "--config", str(sqlite_desk.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("maildesk: config error: smtp.auth_password_env:")
    assert "MAILDESK_SMTP_AUTH_PASSWORD" in last


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('tls_cert = "cert.pem"', "smtp.tls_key"),
        ('tls_key = "key.pem"', "smtp.tls_cert"),
        ('auth_username = "relay"', "smtp.auth_username"),
    ],
)
def test_tls_and_auth_settings_are_checked_together(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "maildesk.toml"
    path.write_text(f"[smtp]\n{text}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, {})
    assert error.value.key == key


def test_run_help_says_what_sighup_reloads() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "SIGHUP re-reads the configuration file and applies [desk]" in text
    assert "[tickets], [security] and [logging]" in text
    assert "SIGTERM or SIGINT" in text and "--ready-file" in text
