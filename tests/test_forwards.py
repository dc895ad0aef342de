"""Forwarded customer mail and tickets opened by agents (`#requester`), through
`maildesk ingest` and the outbox, on SQLite and PostgreSQL; and the pure forward
detection of core/forwards.py on forwards built as each mail client builds them.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
from email.message import EmailMessage
from typing import Any

import pytest

from maildesk.core.commands import cheat_sheet
from maildesk.core.forwards import find_forward, forwarded_date, strip_forward_prefix
from maildesk.core.message import parse_message
from tests.conftest import Install
from tests.conversation import customer_mail, new_id, recipients, reply, text_of
from tests.test_conversation import Mailroom, configure, only, to

ANN = "Ann Agent <ann@example.com>"
PASSED = {"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"}
ORIGINAL = "Hello,\nmy printer is on fire.\nCarl"
NOTE = "Carl called about this too, please hurry."

# The header block each client writes above a forwarded message (its date: 7 December
# 2026, 09:15 in the forwarding agent's zone, +01:00).
GMAIL = """---------- Forwarded message ---------
From: Carl Customer <carl@customer.test>
Date: Mon, Dec 7, 2026 at 9:15 AM
Subject: Printer on fire
To: Ann Agent <ann@example.com>
"""
OUTLOOK = """________________________________
From: Carl Customer <carl@customer.test>
Sent: Monday, December 7, 2026 9:15 AM
To: Ann Agent <ann@example.com>
Subject: Printer on fire
"""
OUTLOOK_OLD = """-----Original Message-----
From: Carl Customer [mailto:carl@customer.test]
Sent: Monday, December 7, 2026 9:15 AM
To: Ann Agent
Subject: Printer on fire
"""
OUTLOOK_DE = """________________________________
Von: Carl Customer <carl@customer.test>
Gesendet: Montag, 7. Dezember 2026 09:15
An: Ann Agent <ann@example.com>
Betreff: Printer on fire
"""
APPLE = """Begin forwarded message:

From: Carl Customer <carl@customer.test>
Subject: Printer on fire
Date: 7 December 2026 at 09:15:00 CET
To: Ann Agent <ann@example.com>
"""
APPLE_DE = """Anfang der weitergeleiteten Nachricht:

Von: Carl Customer <carl@customer.test>
Betreff: Printer on fire
Datum: 7. Dezember 2026 um 09:15:00 MEZ
An: Ann Agent <ann@example.com>
"""
THUNDERBIRD = """-------- Forwarded Message --------
Subject: \tPrinter on fire
Date: \tMon, 7 Dec 2026 09:15:00 +0100
From: \tCarl Customer <carl@customer.test>
To: \tAnn Agent <ann@example.com>
"""
THUNDERBIRD_DE = """-------- Weitergeleitete Nachricht --------
Betreff: \tPrinter on fire
Datum: \tMon, 7 Dec 2026 09:15:00 +0100
Von: \tCarl Customer <carl@customer.test>
An: \tAnn Agent <ann@example.com>
"""
INLINE = {
    "gmail": (GMAIL, "Fwd: Printer on fire"),
    "outlook": (OUTLOOK, "FW: Printer on fire"),
    "outlook-original-message": (OUTLOOK_OLD, "FW: Printer on fire"),
    "outlook-de": (OUTLOOK_DE, "WG: Printer on fire"),
    "apple": (APPLE, "Fwd: Printer on fire"),
    "apple-de": (APPLE_DE, "WG: Printer on fire"),
    "thunderbird": (THUNDERBIRD, "Fwd: Printer on fire"),
    "thunderbird-de": (THUNDERBIRD_DE, "WG: Printer on fire"),
}
SENT = dt.datetime(2026, 12, 7, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
AGENT_DATE = "Mon, 07 Dec 2026 10:02:00 +0100"


def _forwarding(
    subject: str, frm: str = ANN, headers: dict[str, str] | None = None
) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = frm
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Date"] = AGENT_DATE
    msg["Message-ID"] = new_id("example.com")
    for name, value in (headers or {}).items():
        msg[name] = value
    return msg


def inline_forward(
    client: str,
    top: str = NOTE,
    frm: str = ANN,
    headers: dict[str, str] | None = None,
    attachment: bytes | None = b"%PDF-1.4 invoice",
) -> bytes:
    """A forward as `client` writes it: the agent's text, the header block, the text."""
    block, subject = INLINE[client]
    msg = _forwarding(subject, frm, headers)
    msg.set_content(f"{top}\n\n{block}\n{ORIGINAL}\n")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="bill.pdf")
    return msg.as_bytes()


def attached_forward(top: str = NOTE, headers: dict[str, str] | None = None) -> bytes:
    """Outlook, Apple Mail and Thunderbird "forward as attachment": message/rfc822."""
    inner = EmailMessage(policy=email.policy.default)
    inner["From"] = "Carl Customer <carl@customer.test>"
    inner["To"] = ANN
    inner["Subject"] = "Printer on fire"
    inner["Date"] = "Mon, 07 Dec 2026 09:15:00 +0100"
    inner["Message-ID"] = "<original.1@customer.test>"
    inner.set_content(ORIGINAL + "\n")
    inner.add_attachment(
        b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="bill.pdf"
    )
    msg = _forwarding("Fw: Printer on fire", headers=headers)
    msg.set_content(top + "\n")
    msg.add_attachment(inner)
    return msg.as_bytes()


# -- pure: finding the forward ----------------------------------------------------------


@pytest.mark.parametrize("client", sorted(INLINE))
def test_inline_forwards_of_each_client(client: str) -> None:
    parsed = parse_message(inline_forward(client))
    assert parsed.date is not None
    found = find_forward(parsed.text, parsed.attachments, parsed.date.tzinfo)
    assert found is not None and found.style == "inline"
    assert (found.sender.email, found.sender.name) == ("carl@customer.test", "Carl Customer")
    assert found.date == SENT
    assert found.subject == "Printer on fire"
    assert found.text == ORIGINAL
    assert found.note == NOTE
    assert [a.filename for a in found.attachments] == ["bill.pdf"]


def test_forward_as_attachment() -> None:
    parsed = parse_message(attached_forward())
    found = find_forward(parsed.text, parsed.attachments)
    assert found is not None and found.style == "attached"
    assert found.sender.email == "carl@customer.test" and found.date == SENT
    assert found.text == ORIGINAL and found.note == NOTE
    assert found.message_id == "<original.1@customer.test>"
    assert [a.filename for a in found.attachments] == ["bill.pdf"]
    assert found.others == ()


def test_outlook_linked_addresses_and_quoted_forwards() -> None:
    linked = OUTLOOK.replace(
        "<carl@customer.test>", "<carl@customer.test<mailto:carl@customer.test>>"
    )
    found = find_forward(f"FYI\n\n{linked}\n{ORIGINAL}", ())
    assert found is not None and found.sender.email == "carl@customer.test"
    quoted = "\n".join(f"> {line}" for line in f"{THUNDERBIRD}\n{ORIGINAL}".splitlines())
    found = find_forward(f"See below.\n\n{quoted}", ())
    assert found is not None and (found.sender.name, found.text) == ("Carl Customer", ORIGINAL)
    assert found.note == "See below."


def test_what_is_not_a_forward() -> None:
    assert find_forward("Hello\n\n-- \nAnn", ()) is None
    # a separator without a From address under it is only a line
    assert find_forward("Hi\n________________\nSee you\n", ()) is None
    assert find_forward("---------- Forwarded message ---------\nFrom: Carl\n\nhi", ()) is None


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Mon, Dec 7, 2026 at 9:15 PM", "2026-12-07T21:15:00+01:00"),
        ("December 7, 2026 at 9:15:00 AM GMT-5", "2026-12-07T09:15:00-05:00"),
        ("Mo., 7. Dez. 2026 um 09:15 Uhr", "2026-12-07T09:15:00+01:00"),
        ("Mon, 7 Dec 2026 09:15:00 +0000", "2026-12-07T09:15:00+00:00"),
        ("Monday, December 7, 2026 12:05 AM", "2026-12-07T00:05:00+01:00"),
    ],
)
def test_forwarded_dates(written: str, expected: str) -> None:
    found = forwarded_date(written, dt.timezone(dt.timedelta(hours=1)))
    assert found is not None and found.isoformat() == expected


def test_unreadable_dates_are_none() -> None:
    assert forwarded_date("yesterday") is None
    assert forwarded_date("February 31, 2026 10:00") is None


def test_forward_prefixes_are_removed() -> None:
    assert strip_forward_prefix("Fwd: FW: WG: TR: Fw: Printer") == "Printer"
    assert strip_forward_prefix("Forward planning") == "Forward planning"


# -- through ingest ---------------------------------------------------------------------


@pytest.fixture
def room(desk: Install) -> Mailroom:
    room = Mailroom(desk)
    room.agent("ann@example.com", "Ann Agent")
    room.agent("bob@example.com", "Bob Agent")
    configure(room, '[security]\ntrusted_authserv_id = "mx.example.com"\n')
    return room


def messages(ticket: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(m["kind"], m["from"], m["body_text"]) for m in ticket["messages"]]


@pytest.mark.parametrize("client", ["gmail", "outlook-de", "apple", "thunderbird-de", "attached"])
def test_a_forward_opens_the_ticket_for_the_original_sender(room: Mailroom, client: str) -> None:
    raw = (
        attached_forward(headers=PASSED)
        if client == "attached"
        else inline_forward(client, headers=PASSED)
    )
    line = room.send(raw)
    assert (line["action"], line["ticket"]) == ("created", "SUP-00001")
    mails = room.out()
    assert to(mails, "carl@customer.test") == []  # no acknowledgement to Carl
    notified = only(mails, "bob@example.com")
    assert "Printer on fire" in str(notified["Subject"]) and "my printer is on fire" in text_of(
        notified
    )
    ticket = room.ticket()
    assert ticket["subject"] == "Printer on fire"
    assert ticket["requester"] == {"email": "carl@customer.test", "name": "Carl Customer"}
    assert ticket["status"] == "new"
    assert messages(ticket) == [
        ("customer", "carl@customer.test", ORIGINAL),
        ("note", "ann@example.com", NOTE),
    ]
    customer = ticket["messages"][0]
    assert dt.datetime.fromisoformat(customer["sent_at"]) == SENT
    assert [a["filename"] for a in customer["attachments"]] == ["bill.pdf"]
    assert ticket["messages"][1]["attachments"] == []
    forwarded = [e for e in ticket["events"] if e["type"] == "forwarded"]
    assert [(e["actor"], e["data"]["from"]) for e in forwarded] == [
        ("ann@example.com", "carl@customer.test")
    ]
    # Carl's answer to the agent's later reply joins the ticket as his
    room.send(customer_mail(subject="Re: [SUP-00001] Printer on fire", body="Still burning."))
    assert room.ticket()["messages"][-1]["kind"] == "customer"


def test_a_forged_forward_makes_nobody_else_the_requester(room: Mailroom) -> None:
    """No Authentication-Results from our server, not sent to a signed reply address:
    the mail only claims to be Ann's."""
    line = room.send(inline_forward("gmail", top="#requester eve@evil.test Eve"))
    assert line["action"] == "created"
    mails = room.out()
    assert recipients(only(mails, "ann@example.com")) == {"ann@example.com"}
    assert to(mails, "carl@customer.test") == [] and to(mails, "eve@evil.test") == []
    assert to(mails, "bob@example.com") == []
    ticket = room.ticket()
    assert ticket["requester"]["email"] == "ann@example.com"
    assert [m["kind"] for m in ticket["messages"]] == ["note"]
    assert ticket["messages"][0]["flagged"] is True


def test_a_customer_forwarding_mail_is_a_customer(room: Mailroom) -> None:
    raw = inline_forward("gmail", frm="Dora Customer <dora@customer.test>", headers=PASSED)
    room.send(raw)
    mails = room.out()
    assert to(mails, "carl@customer.test") == []
    assert only(mails, "dora@customer.test")  # her acknowledgement
    ticket = room.ticket()
    assert ticket["requester"]["email"] == "dora@customer.test"
    assert [m["kind"] for m in ticket["messages"]] == ["customer"]


def test_requester_overrides_the_forwarded_sender(room: Mailroom) -> None:
    top = "#requester dave@customer.test Dave Customer\n#priority high\n#tag printer\n\n" + NOTE
    room.send(inline_forward("outlook", top=top, headers=PASSED))
    mails = room.out()
    assert to(mails, "dave@customer.test") == [] and to(mails, "carl@customer.test") == []
    ticket = room.ticket()
    assert ticket["requester"] == {"email": "dave@customer.test", "name": "Dave Customer"}
    assert (ticket["priority"], ticket["tags"]) == ("high", ["printer"])
    assert messages(ticket)[1] == ("note", "ann@example.com", NOTE)


def test_requester_opens_a_ticket_to_a_customer(room: Mailroom) -> None:
    body = (
        "#requester carl@customer.test Carl Customer\n#priority high\n\n"
        "Hello Carl,\nyour new printer ships today.\nAnn"
    )
    line = room.send(customer_mail(ANN, subject="Your order", body=body, headers=PASSED))
    assert line["action"] == "created"
    mails = room.out()
    sent = only(mails, "carl@customer.test")
    assert sent["Subject"] == "[SUP-00001] Your order"
    assert sent["From"].addresses[0].addr_spec == "support@example.com"
    text = text_of(sent)
    assert "your new printer ships today" in text and "/t/SUP-00001/" in text
    assert "#requester" not in text and "#priority" not in text
    assert "ann@example.com" not in str(sent["Reply-To"]) + str(sent["From"])
    ticket = room.ticket()
    assert ticket["requester"] == {"email": "carl@customer.test", "name": "Carl Customer"}
    assert (ticket["status"], ticket["priority"], ticket["assignee"]) == (
        "waiting_on_customer",
        "high",
        "ann@example.com",
    )
    assert ticket["first_response_at"] is not None
    assert [(m["kind"], m["direction"]) for m in ticket["messages"]] == [("agent", "outbound")]
    # Carl answers: his reply joins the ticket and Ann is told
    room.send(reply(sent, "Carl Customer <carl@customer.test>", "Thanks!"))
    assert room.ticket()["status"] == "open"
    assert only(room.out(), "ann@example.com")


def test_requester_with_assign_and_note(room: Mailroom) -> None:
    body = "#requester carl@customer.test\n#assign bob@example.com\n#note\n\nCall him first."
    room.send(customer_mail(ANN, subject="Callback", body=body, headers=PASSED))
    mails = room.out()
    assert to(mails, "carl@customer.test") == []
    assert only(mails, "bob@example.com")  # the assignment notice
    ticket = room.ticket()
    assert ticket["assignee"] == "bob@example.com"
    assert messages(ticket) == [("note", "ann@example.com", "Call him first.")]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("#requester carl-at-customer.test", "not an email"),
        ("#requester bob@example.com", "an agent, not a customer"),
        ("#requester support@example.com", "an address of this desk"),
    ],
)
def test_a_bad_requester_line_sends_nothing(room: Mailroom, line: str, error: str) -> None:
    body = f"{line}\n#priority high\n\nHello Carl"
    room.send(customer_mail(ANN, subject="Your order", body=body, headers=PASSED))
    mails = room.out()
    told = only(mails, "ann@example.com")
    assert error in text_of(told) and "#requester EMAIL [Name]" in text_of(told)
    assert recipients(told) == {"ann@example.com"} and len(mails) == 1
    ticket = room.ticket()
    assert ticket["priority"] != "high"
    assert [m["kind"] for m in ticket["messages"]] == ["note"]
    assert "commands_rejected" in [e["type"] for e in ticket["events"]]


def test_requester_needs_a_message(room: Mailroom) -> None:
    room.send(
        customer_mail(ANN, subject="x", body="#requester carl@customer.test\n", headers=PASSED)
    )
    told = only(room.out(), "ann@example.com")
    assert "write the message for the customer" in text_of(told)


def test_requester_on_a_reply_changes_the_requester(room: Mailroom) -> None:
    room.send(customer_mail())
    notification = only(room.out(), "ann@example.com")
    room.send(reply(notification, ANN, "#requester dora@customer.test Dora\n#note\n\nHer ticket."))
    ticket = room.ticket()
    assert ticket["requester"] == {"email": "dora@customer.test", "name": "Dora"}
    changed = [e for e in ticket["events"] if e["type"] == "requester_changed"]
    assert [(e["actor"], e["data"]) for e in changed] == [
        ("ann@example.com", {"before": "carl@customer.test", "after": "dora@customer.test"})
    ]
    # the next reply goes to Dora, not to Carl
    room.send(reply(notification, ANN, "We are on it."))
    mails = room.out()
    assert only(mails, "dora@customer.test") and to(mails, "carl@customer.test") == []


def test_plain_agent_mail_opens_their_own_ticket_as_before(room: Mailroom) -> None:
    room.send(customer_mail(ANN, subject="Toner order", body="Order toner.", headers=PASSED))
    ticket = room.ticket()
    assert ticket["requester"]["email"] == "ann@example.com"
    assert [m["kind"] for m in ticket["messages"]] == ["agent"]


def test_the_cheat_sheet_lists_requester() -> None:
    assert "#requester EMAIL [Name]" in cheat_sheet()
    assert all(len(line) <= 78 for line in cheat_sheet().splitlines())
