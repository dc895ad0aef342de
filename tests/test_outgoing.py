"""core.outgoing and core.links: outgoing mail as bytes, threading headers, signed links."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest

from maildesk.core.links import (
    LinkHolder,
    link_holder,
    satisfaction_url,
    status_url,
    ticket_token,
    verify_token,
)
from maildesk.core.message import Address, parse_message
from maildesk.core.message.limits import MAX_SUBJECT
from maildesk.core.outgoing import (
    MAX_REFERENCES,
    HeaderInjection,
    Outgoing,
    Part,
    Unsendable,
    build_mail,
    check_headers,
    tagged_subject,
    thread_headers,
)

NOW = dt.datetime(2026, 11, 22, 14, 5, tzinfo=dt.UTC)
DESK = Address("Example Support", "support@example.com")


def mail(**changes: object) -> Outgoing:
    values: dict[str, object] = {
        "from_": DESK,
        "to": (Address("Jörg Müller", "joerg@example.org"),),
        "subject": "[SUP-00042] Drucker",
        "message_id": "<SUP-00042.abc123.0123456789abcdef0123@example.com>",
        "date": NOW,
        "text": "Hallo Jörg,\nerledigt.\n",
        "html": "<p>Hallo J&ouml;rg</p>",
        "reply_to": DESK,
    }
    values.update(changes)
    return Outgoing(**values)  # type: ignore[arg-type]


def test_round_trip_through_our_parser() -> None:
    raw = build_mail(
        mail(
            cc=(Address("", "dora@example.org"),),
            in_reply_to="<c1@example.org>",
            references=("<c1@example.org>",),
            attachments=(Part("résumé.pdf", "application/pdf", b"%PDF-1.4 \x00\xff"),),
        )
    )
    parsed = parse_message(raw)
    assert parsed.subject == "[SUP-00042] Drucker"
    assert parsed.to[0] == Address("Jörg Müller", "joerg@example.org")
    assert [a.email for a in parsed.cc] == ["dora@example.org"]
    assert parsed.in_reply_to == ("<c1@example.org>",)
    assert parsed.text.strip() == "Hallo Jörg,\nerledigt."
    assert parsed.html is not None and "J&ouml;rg" in parsed.html
    [attachment] = parsed.attachments
    assert (attachment.filename, attachment.data) == ("résumé.pdf", b"%PDF-1.4 \x00\xff")
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    "subject",
    [
        ("Re: [SUP-00042] " + "Drucker brennt, bitte schnell! 打印机着火了 🔥 " * 240).strip(),
        ("Re: [SUP-00042] " + "a long ascii subject " * 60).strip(),  # over MAX_HEADER_CHARS
        "Ä",
    ],
)
def test_long_and_non_ascii_headers_are_folded_encoded_words(
    subject: str,
) -> None:
    raw = build_mail(mail(subject=subject, extra_headers=(("X-Ticket-Subject", subject),)))
    head = raw.split(b"\r\n\r\n", 1)[0]
    words = [line for line in head.split(b"\r\n") if b"=?utf-8?b?" in line]
    assert words and max(len(line) for line in words) <= 78  # folded, as RFC 5322 asks
    assert head.isascii()
    parsed = parse_message(raw)
    assert len(subject) < MAX_SUBJECT and parsed.subject == subject
    [extra] = parsed.headers["x-ticket-subject"]
    assert extra == subject
    check_headers(mail(subject=subject))  # the queue-time check takes it as it is


def test_automatic_mail_is_marked() -> None:
    for value in ("auto-replied", "auto-generated"):
        msg = email.message_from_bytes(
            build_mail(mail(auto_submitted=value, loop="support@example.com"))
        )
        assert msg["Auto-Submitted"] == value
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert msg["X-Loop"] == "support@example.com"
    human = email.message_from_bytes(build_mail(mail()))
    assert human["Auto-Submitted"] is None and human["X-Auto-Response-Suppress"] is None
    with pytest.raises(ValueError, match="Auto-Submitted"):
        build_mail(mail(auto_submitted="yes"))


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hello\r\nBcc: victim@example.net"},
        {"subject": "Hello\nX-Evil: 1"},
        {"to": (Address("Eve\r\nBcc: victim@example.net", "eve@example.org"),)},
        {"to": (Address("", "eve@example.org\r\nBcc: victim@example.net"),)},
        {"to": (Address("", "eve@example.org>, <victim@example.net"),)},
        {"to": (Address("", "not an address"),)},
        {"cc": (Address("", "x@y\n"),)},
        {"reply_to": Address("", "a@b\rc")},
        {"message_id": "<a@b>\r\nBcc: x@y"},
        {"in_reply_to": "<a@b> <c@d>"},
        {"references": ("<ok@example.org>", "<bad\n@x>")},
        {"extra_headers": (("X-Maildesk-Ticket", "SUP-1\r\nBcc: x@y"),)},
        {"loop": "support@example.com\nBcc: x@y"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_line_breaks_in_headers_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(HeaderInjection):
        build_mail(mail(**changes))


def test_needs_a_recipient() -> None:
    with pytest.raises(ValueError, match="recipient"):
        build_mail(mail(to=()))


def test_long_and_non_ascii_lines_are_quoted_printable() -> None:
    raw = build_mail(mail(text="x" * 2000 + "\n", html="<p>" + "y" * 2000 + "</p>"))
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_body(("plain",)).get_content().strip() == "x" * 2000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("subject", "reply", "expected"),
    [
        ("Printer", False, "[SUP-00042] Printer"),
        ("Printer", True, "Re: [SUP-00042] Printer"),
        ("Re: [SUP-00042] Printer", True, "Re: [SUP-00042] Printer"),
        ("[sup-00042] Printer", False, "[sup-00042] Printer"),
        ("  Printer \t on\n fire ", False, "[SUP-00042] Printer on fire"),
        ("", False, "[SUP-00042]"),
    ],
)
def test_tagged_subject(subject: str, reply: bool, expected: str) -> None:
    assert tagged_subject(subject, "SUP-00042", reply) == expected


def test_thread_headers() -> None:
    assert thread_headers([]) == (None, ())
    assert thread_headers(["<a@x>", "junk", "<b@x>", "<a@x>"]) == ("<b@x>", ("<a@x>", "<b@x>"))
    chain = [f"<m{n}@x>" for n in range(40)]
    in_reply_to, references = thread_headers(chain)
    assert in_reply_to == "<m39@x>"
    assert len(references) == MAX_REFERENCES
    assert references[0] == "<m0@x>" and references[-1] == "<m39@x>"


def test_links_are_signed_per_participant() -> None:
    secret = b"k1"
    dora = status_url("https://h", "SUP-00042", 42, secret, contact_id=7).rsplit("/", 1)[1]
    carl = status_url("https://h", "SUP-00042", 42, secret, contact_id=3).rsplit("/", 1)[1]
    old = status_url("https://h", "SUP-00042", 42, secret).rsplit("/", 1)[1]
    assert dora.startswith("7-") and carl.startswith("3-")
    assert link_holder(secret, 42, dora) == LinkHolder(7)
    assert link_holder(secret, 42, carl.upper()) == LinkHolder(3)
    assert link_holder(secret, 42, old) == LinkHolder(None)  # the requester's, from before
    mac = dora.split("-", 1)[1]
    for forged in (f"3-{mac}", f"8-{mac}", mac, f"07-{mac}", f"7-{mac[:-1]}"):
        assert link_holder(secret, 42, forged) is None, forged
    assert link_holder(secret, 43, dora) is None and link_holder(b"k2", 42, dora) is None
    assert satisfaction_url("https://h", "SUP-00042", 42, secret, 7).endswith(f"/{dora}/rate")


def test_links_are_signed_per_ticket() -> None:
    secret = b"k1"
    url = status_url("https://help.example.com/", "SUP-00042", 42, secret)
    assert url.startswith("https://help.example.com/t/SUP-00042/")
    token = url.rsplit("/", 1)[1]
    assert verify_token(secret, 42, token)
    assert verify_token(secret, 42, token.upper())
    assert not verify_token(secret, 43, token)
    assert not verify_token(b"k2", 42, token)
    assert not verify_token(secret, 42, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert ticket_token(secret, 42) != ticket_token(secret, 43)
    assert (
        satisfaction_url("https://h", "SUP-00042", 42, secret)
        == f"https://h/t/SUP-00042/{token}/rate"
    )


def test_international_addresses() -> None:
    raw = build_mail(mail(to=(Address("Jörg", "joerg@bücher.example"),)))
    assert b"joerg@xn--bcher-kva.example" in raw
    with pytest.raises(Unsendable, match="SMTPUTF8"):
        build_mail(mail(to=(Address("Jörg", "jörg@bücher.example"),)))
