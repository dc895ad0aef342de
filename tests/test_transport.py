"""The outbound transports against a real Maildir and a real SMTP server (tests/sink.py)."""

from __future__ import annotations

import dataclasses
import email
import mailbox
import socket
import stat
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

from maildesk.config import ConfigError, OutboundConfig, load_config
from maildesk.outbound.transport import (
    DETAIL_LIMIT,
    MaildirTransport,
    Outcome,
    Result,
    SmtpTransport,
    make_transport,
)
from tests.sink import Sink, make_certificate

SUPPORT = "support@example.com"
ALICE = "alice@customer.example"
BOB = "bob@customer.example"


def mail(subject: str = "Re: Help", body: bytes = b"Hello Alice,\r\n\r\nDone.\r\n") -> bytes:
    return (
        f"From: Support <{SUPPORT}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        "Message-ID: <out1@example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[Callable[..., SmtpTransport]]:
    """Makes SmtpTransports for a sink; all are closed after the test."""
    made: list[SmtpTransport] = []

    def make(sink: Sink, tls: str = "none", username: str = "", password: str | None = None,
             **kwargs: Any) -> SmtpTransport:  # fmt: skip
        kwargs.setdefault("local_hostname", "client.test")
        kwargs.setdefault("timeout", 5.0)
        transport = SmtpTransport(sink.host, sink.port, tls, username, password, **kwargs)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


def sent(result: Result) -> Result:
    assert result.outcome is Outcome.SENT, result
    return result


# -- Maildir ------------------------------------------------------------------------------


def test_maildir_writes_the_message_with_its_envelope(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    raw = mail()
    result = sent(MaildirTransport(folder).send("42", raw, SUPPORT, [ALICE, BOB]))
    path = folder / "new" / "42.eml"
    assert result.detail == f"written to {path}"
    assert path.read_bytes() == (
        f"Return-Path: <{SUPPORT}>\r\nX-Maildesk-Recipients: {ALICE}, {BOB}\r\n".encode() + raw
    )
    assert list((folder / "tmp").iterdir()) == []
    for sub in ("", "tmp", "new", "cur"):
        assert stat.S_IMODE((folder / sub).stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # What a mail reader sees.
    [message] = mailbox.Maildir(folder, create=False)
    assert message["Return-Path"] == f"<{SUPPORT}>"
    assert message["Subject"] == "Re: Help"


def test_maildir_null_sender_and_lf_message(tmp_path: Path) -> None:
    raw = b"From: a@example.com\nSubject: LF\n\nbody\n"
    recipients = [f"customer{n}@customer.example" for n in range(5)]
    sent(MaildirTransport(tmp_path).send("bounce-1", raw, "", recipients))
    data = (tmp_path / "new" / "bounce-1.eml").read_bytes()
    assert data.startswith(b"Return-Path: <>\nX-Maildesk-Recipients: customer0@")
    assert b"\r" not in data  # the header lines follow the message's line ending
    header, _, rest = data.partition(b"\nFrom: ")
    assert all(len(line) <= 78 for line in header.split(b"\n"))  # folded
    assert rest == raw[len(b"From: ") :]
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert parsed["X-Maildesk-Recipients"].split(", ") == recipients


def test_maildir_same_key_again_replaces_the_file(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path)
    sent(transport.send("7", mail("first"), SUPPORT, [ALICE]))
    sent(transport.send("7", mail("second"), SUPPORT, [ALICE]))
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["7.eml"]
    assert b"Subject: second" in (tmp_path / "new" / "7.eml").read_bytes()
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("key", ["", ".hidden", "a/b", "../x", "a b", "x\n", "é"])
def test_bad_keys_are_rejected(
    tmp_path: Path, sink: Sink, smtp: Callable[..., SmtpTransport], key: str
) -> None:
    with pytest.raises(ValueError, match="invalid outbox key"):
        MaildirTransport(tmp_path / "outbox").send(key, mail(), SUPPORT, [ALICE])
    assert not (tmp_path / "outbox").exists()
    with pytest.raises(ValueError, match="invalid outbox key"):
        smtp(sink).send(key, mail(), SUPPORT, [ALICE])
    assert sink.connections == 0


@pytest.mark.parametrize(
    ("sender", "recipients"),
    [(SUPPORT, []), (SUPPORT, [""]), ("a@x\r\nRCPT TO:<b@y>", [ALICE]), (SUPPORT, ["b@y>"])],
)
def test_bad_envelopes_are_programming_errors(
    tmp_path: Path, sink: Sink, smtp: Callable[..., SmtpTransport], sender: str,
    recipients: list[str],
) -> None:  # fmt: skip
    with pytest.raises(ValueError):
        MaildirTransport(tmp_path).send("1", mail(), sender, recipients)
    with pytest.raises(ValueError):
        smtp(sink).send("1", mail(), sender, recipients)
    assert sink.messages == []


def test_maildir_disk_error_is_temporary(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    result = MaildirTransport(not_a_folder).send("1", mail(), SUPPORT, [ALICE])
    assert result.outcome is Outcome.TEMPORARY
    assert result.detail.startswith(f"cannot write {not_a_folder}/new/1.eml: ")
    assert "\n" not in result.detail

    folder = tmp_path / "outbox"
    sent(MaildirTransport(folder).send("1", mail(), SUPPORT, [ALICE]))
    (folder / "new" / "1.eml").unlink()
    (folder / "new").rmdir()
    (folder / "new").write_text("")  # new/ is not a directory
    result = MaildirTransport(folder).send("2", mail(), SUPPORT, [ALICE])
    assert result.outcome is Outcome.TEMPORARY
    assert list((folder / "tmp").iterdir()) == []


# -- SMTP: delivery -----------------------------------------------------------------------


def test_smtp_plain_delivery(sink: Sink, smtp: Callable[..., SmtpTransport]) -> None:
    raw = mail()
    result = sent(smtp(sink).send("1", raw, SUPPORT, [ALICE, BOB]))
    assert result.detail == "250 2.0.0 Ok: queued as SINK1"
    assert result.refused == ()
    [received] = sink.wait_for(1)
    assert received.envelope_from == SUPPORT
    assert received.recipients == (ALICE, BOB)
    assert received.raw == raw
    assert received.message["Subject"] == "Re: Help"
    assert not received.tls and received.login is None
    assert "BODY=8BITMIME" not in received.mail_options  # 7-bit message
    assert f"SIZE={len(raw)}" in received.mail_options


def test_smtp_null_sender(sink: Sink, smtp: Callable[..., SmtpTransport]) -> None:
    sent(smtp(sink).send("1", mail("Auto-reply"), "", [ALICE]))
    assert sink.wait_for(1)[0].envelope_from == ""


def test_smtp_8bit_body_and_dots_arrive_byte_identical(
    sink: Sink, smtp: Callable[..., SmtpTransport]
) -> None:
    body = "Grüße, Ζεύς, 日本語\r\n.\r\n..leading dots\r\n\r\n".encode()
    raw = mail("Umlaute", body)
    sent(smtp(sink).send("1", raw, SUPPORT, [ALICE]))
    [received] = sink.wait_for(1)
    assert received.raw == raw
    assert "BODY=8BITMIME" in received.mail_options
    assert "SMTPUTF8" not in received.mail_options
    assert "Grüße" in received.message.get_content()


def test_smtp_bare_lf_is_sent_as_crlf(sink: Sink, smtp: Callable[..., SmtpTransport]) -> None:
    sent(smtp(sink).send("1", b"Subject: LF\n\nline\nline\n", SUPPORT, [ALICE]))
    assert sink.wait_for(1)[0].raw == b"Subject: LF\r\n\r\nline\r\nline\r\n"


def test_smtp_utf8_addresses(sink: Sink, smtp: Callable[..., SmtpTransport]) -> None:
    sent(smtp(sink).send("1", mail(), "suppört@example.com", ["jörg@bücher.example"]))
    [received] = sink.wait_for(1)
    assert "SMTPUTF8" in received.mail_options
    assert received.envelope_from == "suppört@example.com"
    assert received.recipients == ("jörg@bücher.example",)


# -- SMTP: TLS and AUTH -------------------------------------------------------------------


def test_starttls(certificate: tuple[Path, Path], smtp: Callable[..., SmtpTransport]) -> None:
    cert, key = certificate
    with Sink(tls_cert=cert, tls_key=key, require_starttls=True) as sink:
        transport = smtp(sink, "starttls", ssl_context=sink.client_context())
        sent(transport.send("1", mail(), SUPPORT, [ALICE]))
        sent(transport.send("2", mail(), SUPPORT, [ALICE]))
        assert [m.tls for m in sink.wait_for(2)] == [True, True]
        assert sink.connections == 1


def test_starttls_with_an_untrusted_certificate_is_temporary(
    certificate: tuple[Path, Path], smtp: Callable[..., SmtpTransport]
) -> None:
    cert, key = certificate
    with Sink(tls_cert=cert, tls_key=key) as sink:
        result = smtp(sink, "starttls").send("1", mail(), SUPPORT, [ALICE])  # system CAs
        assert result.outcome is Outcome.TEMPORARY
        assert result.detail.startswith(f"127.0.0.1:{sink.port} STARTTLS: ")
        assert "CERTIFICATE_VERIFY_FAILED" in result.detail
        assert sink.messages == []


def test_starttls_not_offered_sends_nothing(sink: Sink, smtp: Callable[..., SmtpTransport]) -> None:
    result = smtp(sink, "starttls").send("1", mail(), SUPPORT, [ALICE])
    assert result == Result(
        Outcome.TEMPORARY,
        f"127.0.0.1:{sink.port} STARTTLS: not offered by the server; not sending in clear text",
    )
    assert sink.messages == []


def test_implicit_tls(certificate: tuple[Path, Path], smtp: Callable[..., SmtpTransport]) -> None:
    cert, key = certificate
    with Sink(tls_cert=cert, tls_key=key, implicit_tls=True) as sink:
        sent(smtp(sink, "ssl", ssl_context=sink.client_context()).send("1", mail(), "", [ALICE]))
        assert sink.wait_for(1)[0].tls


def test_auth_after_starttls(
    certificate: tuple[Path, Path], smtp: Callable[..., SmtpTransport]
) -> None:
    cert, key = certificate
    with Sink(tls_cert=cert, tls_key=key, auth=("relay", "s3cret")) as sink:
        context = sink.client_context()
        sent(smtp(sink, "starttls", "relay", "s3cret", ssl_context=context).send(
            "1", mail(), SUPPORT, [ALICE]
        ))  # fmt: skip
        received = sink.wait_for(1)[0]
        assert received.login == "relay" and received.tls

        wrong = smtp(sink, "starttls", "relay", "wrong", ssl_context=context)
        result = wrong.send("2", mail(), SUPPORT, [ALICE])
        assert result.outcome is Outcome.TEMPORARY  # a configuration problem: keep retrying
        assert result.detail.startswith(f"127.0.0.1:{sink.port} AUTH: 535 ")

        anonymous = smtp(sink, "starttls", ssl_context=context)
        result = anonymous.send("3", mail(), SUPPORT, [ALICE])
        assert result.outcome is Outcome.TEMPORARY  # 530: authentication required
        assert result.detail.startswith(f"MAIL FROM:<{SUPPORT}>: 530 ")
        assert len(sink.messages) == 1


def test_auth_without_tls(smtp: Callable[..., SmtpTransport]) -> None:
    with Sink(auth=("relay", "s3cret")) as sink:
        sent(smtp(sink, "none", "relay", "s3cret").send("1", mail(), SUPPORT, [ALICE]))
        assert sink.wait_for(1)[0].login == "relay"


def test_auth_not_offered_is_temporary(sink: Sink, smtp: Callable[..., SmtpTransport]) -> None:
    result = smtp(sink, "none", "relay", "s3cret").send("1", mail(), SUPPORT, [ALICE])
    assert result.outcome is Outcome.TEMPORARY
    assert result.detail.startswith(f"127.0.0.1:{sink.port} AUTH: ")
    assert sink.messages == []


# -- SMTP: refusals -----------------------------------------------------------------------


def test_refused_only_recipient_is_permanent(
    sink: Sink, smtp: Callable[..., SmtpTransport]
) -> None:
    sink.respond("^nobody@", "550 5.1.1 no such user")
    result = smtp(sink).send("1", mail(), SUPPORT, ["nobody@customer.example"])
    assert result == Result(
        Outcome.PERMANENT, "RCPT TO:<nobody@customer.example>: 550 5.1.1 no such user"
    )
    assert sink.messages == []


def test_refused_one_of_two_recipients_is_sent(
    sink: Sink, smtp: Callable[..., SmtpTransport]
) -> None:
    sink.respond("^nobody@", "550 5.1.1 no such user")
    result = smtp(sink).send("1", mail(), SUPPORT, ["nobody@customer.example", ALICE])
    assert result.outcome is Outcome.SENT
    assert result.refused == ("nobody@customer.example",)
    assert result.detail == (
        "250 2.0.0 Ok: queued as SINK1; refused "
        "RCPT TO:<nobody@customer.example>: 550 5.1.1 no such user"
    )
    assert sink.wait_for(1)[0].recipients == (ALICE,)


@pytest.mark.parametrize(
    ("alice", "bob", "outcome"),
    [
        ("451 4.3.0 try later", "451 4.3.0 try later", Outcome.TEMPORARY),
        ("550 5.1.1 no such user", "452 4.2.2 mailbox full", Outcome.TEMPORARY),
        ("550 5.1.1 no such user", "553 5.1.3 bad address", Outcome.PERMANENT),
    ],
)
def test_all_recipients_refused(
    sink: Sink, smtp: Callable[..., SmtpTransport], alice: str, bob: str, outcome: Outcome
) -> None:
    sink.respond("^alice@", alice)
    sink.respond("^bob@", bob)
    result = smtp(sink).send("1", mail(), SUPPORT, [ALICE, BOB])
    assert result == Result(outcome, f"RCPT TO:<{ALICE}>: {alice}; RCPT TO:<{BOB}>: {bob}")
    assert sink.messages == []


@pytest.mark.parametrize(
    ("stage", "line", "outcome", "command"),
    [
        ("mail", "552 5.3.4 message too big", Outcome.PERMANENT, f"MAIL FROM:<{SUPPORT}>"),
        ("mail", "451 4.3.0 try later", Outcome.TEMPORARY, f"MAIL FROM:<{SUPPORT}>"),
        ("data", "554 5.6.0 content rejected", Outcome.PERMANENT, "DATA (end of data)"),
        ("data", "452 4.3.1 out of space", Outcome.TEMPORARY, "DATA (end of data)"),
    ],
)
def test_mail_and_data_refusals(
    sink: Sink,
    smtp: Callable[..., SmtpTransport],
    stage: str,
    line: str,
    outcome: Outcome,
    command: str,
) -> None:
    sink.respond(".*", line, stage=stage)
    transport = smtp(sink)
    assert transport.send("1", mail(), SUPPORT, [ALICE]) == Result(outcome, f"{command}: {line}")
    sink.clear_responses()
    sent(transport.send("2", mail(), SUPPORT, [ALICE]))  # the session is still usable
    assert sink.connections == 1
    assert len(sink.wait_for(1)) == 1


def test_detail_is_one_bounded_line(sink: Sink, smtp: Callable[..., SmtpTransport]) -> None:
    sink.respond(".*", "550 5.7.1 " + "blocked " * 200)
    result = smtp(sink).send("1", mail(), SUPPORT, [ALICE])
    assert result.outcome is Outcome.PERMANENT
    assert len(result.detail) == DETAIL_LIMIT and result.detail.endswith("...")


# -- SMTP: connections --------------------------------------------------------------------


def test_relay_down_is_temporary(smtp: Callable[..., SmtpTransport]) -> None:
    sink = Sink().start()
    sink.stop()  # its port is now free: nothing listens there
    result = smtp(sink).send("1", mail(), SUPPORT, [ALICE])
    assert result == Result(Outcome.TEMPORARY, f"127.0.0.1:{sink.port} connect: Connection refused")


def test_silent_server_times_out(smtp: Callable[..., SmtpTransport]) -> None:
    with socket.socket() as listener:  # accepts connections, never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        silent = Sink(listener.getsockname()[1])
        result = smtp(silent, timeout=0.3).send("1", mail(), SUPPORT, [ALICE])
    assert result.outcome is Outcome.TEMPORARY
    assert result.detail.startswith(f"127.0.0.1:{silent.port} connect: ")
    assert "timed out" in result.detail


def test_one_session_serves_many_sends(sink: Sink, smtp: Callable[..., SmtpTransport]) -> None:
    transport = smtp(sink)
    sink.respond("^nobody@", "550 5.1.1 no such user")
    for number in range(5):
        sent(transport.send(str(number), mail(f"n{number}"), SUPPORT, [ALICE]))
        assert transport.send("x", mail(), SUPPORT, ["nobody@x.example"]).outcome is (
            Outcome.PERMANENT
        )
    assert [m.connection for m in sink.wait_for(5)] == [1] * 5
    assert sink.connections == 1
    transport.close()
    transport.close()  # twice is fine
    sent(transport.send("6", mail(), SUPPORT, [ALICE]))  # reconnects after close
    assert sink.connections == 2


def test_reconnects_after_the_relay_restarts(
    sink: Sink, smtp: Callable[..., SmtpTransport]
) -> None:
    transport = smtp(sink)
    sent(transport.send("1", mail(), SUPPORT, [ALICE]))
    sink.stop()
    result = transport.send("2", mail(), SUPPORT, [ALICE])
    assert result.outcome is Outcome.TEMPORARY and "Connection refused" in result.detail
    sink.start()
    sent(transport.send("2", mail(), SUPPORT, [ALICE]))
    # Restarted between two sends: the dead session is noticed and replaced in one send.
    sink.stop()
    sink.start()
    sent(transport.send("3", mail(), SUPPORT, [ALICE]))
    assert [m.connection for m in sink.wait_for(3)] == [1, 2, 3]


# -- make_transport -----------------------------------------------------------------------


def outbound(**changes: Any) -> OutboundConfig:
    """The default [outbound] settings with some changed."""
    return dataclasses.replace(load_config(None, {}).outbound, **changes)


def test_make_transport_maildir(tmp_path: Path) -> None:
    transport = make_transport(outbound(), {}, tmp_path)
    assert isinstance(transport, MaildirTransport)
    assert transport.folder == tmp_path / "var" / "outbox"
    sent(transport.send("1", mail(), SUPPORT, [ALICE]))
    assert (tmp_path / "var" / "outbox" / "new" / "1.eml").exists()

    absolute = make_transport(outbound(maildir=str(tmp_path / "abs")), {}, tmp_path / "elsewhere")
    assert isinstance(absolute, MaildirTransport) and absolute.folder == tmp_path / "abs"


def test_make_transport_smtp(sink: Sink) -> None:
    config = outbound(mode="smtp", port=sink.port, tls="none", timeout=7)
    transport = make_transport(config, {}, Path("."))
    try:
        assert isinstance(transport, SmtpTransport) and transport.timeout == 7.0
        sent(transport.send("1", mail(), SUPPORT, [ALICE]))
    finally:
        transport.close()
    assert len(sink.wait_for(1)) == 1

    with_login = make_transport(
        outbound(mode="smtp", tls="ssl", port=465, username="relay", password_env="RELAY_PW"),
        {"RELAY_PW": "s3cret", "MAILDESK_SMTP_PASSWORD": "other"},
        Path("."),
    )
    assert isinstance(with_login, SmtpTransport)
    assert (with_login.host, with_login.port, with_login.tls, with_login.username) == (
        "127.0.0.1", 465, "ssl", "relay",
    )  # fmt: skip
    assert with_login.timeout == 30.0


@pytest.mark.parametrize(
    ("password_env", "environ", "problem"),
    [
        ("MAILDESK_SMTP_PASSWORD", {}, "MAILDESK_SMTP_PASSWORD is unset or empty"),
        ("MAILDESK_SMTP_PASSWORD", {"MAILDESK_SMTP_PASSWORD": ""}, "is unset or empty"),
        ("", {"MAILDESK_SMTP_PASSWORD": "x"}, "password_env is empty"),
    ],
)
def test_make_transport_username_without_password(
    password_env: str, environ: dict[str, str], problem: str
) -> None:
    config = outbound(mode="smtp", username="relay", password_env=password_env)
    with pytest.raises(ConfigError) as raised:
        make_transport(config, environ, Path("."))
    assert raised.value.key == "outbound.password_env"
    assert problem in raised.value.message
    assert "\n" not in str(raised.value)


def test_smtp_transport_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="tls must be one of"):
        SmtpTransport("127.0.0.1", 25, "tls", "", None)
    with pytest.raises(ValueError, match="needs a password"):
        SmtpTransport("127.0.0.1", 25, "none", "relay", None)
