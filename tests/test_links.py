"""Split and linked tickets by mail: `#split`, `#link`, `#unlink`, `#incident` and
`#reply-linked` in an agent's reply, through `maildesk ingest` and `outbox send`.

On SQLite and PostgreSQL. The web and API ways in are in test_links_web.py.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from maildesk.core.commands import cheat_sheet
from tests.conftest import SUPPORT_AND_BILLING
from tests.conversation import customer_mail, parse, reply, text_of
from tests.test_conversation import ANN, CARL, Mailroom, configure, only, open_ticket, room, to

__all__ = ["room"]  # the fixture, used by name

DORA = "Dora Customer <dora@customer.test>"
ERIC = "Eric Customer <eric@customer.test>"


def events(ticket: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in ticket["events"] if e["type"] == kind]


def new_ticket(room: Mailroom, raw: bytes) -> EmailMessage:
    """Someone opens a ticket; returns Ann's notification."""
    assert room.send(raw)["action"] == "created"
    return only(room.out(), "ann@example.com")


def follow_up(room: Mailroom, ack: EmailMessage, subject: str, body: str) -> EmailMessage:
    """Carl answers the acknowledgement with a new matter; returns Ann's notification."""
    mail = parse(reply(ack, CARL, body))
    del mail["Subject"]
    mail["Subject"] = f"Re: [SUP-00001] {subject}"
    assert room.send(mail.as_bytes())["ticket"] == "SUP-00001"
    return only(room.out(), "ann@example.com")


def test_split_moves_the_message_and_later_ones_and_replies_follow(room: Mailroom) -> None:
    ack, _ = open_ticket(room)
    notice = follow_up(room, ack, "Scanner jammed", "Also, my scanner is jammed.")
    later = customer_mail(CARL, subject="Re: [SUP-00001] Scanner jammed", body="Still jammed.")
    assert room.send(later)["ticket"] == "SUP-00001"
    room.out()

    line = room.send(reply(notice, ANN, "#split\n#note\n", quote=False))
    assert line["ticket"] == "SUP-00001"
    assert room.out() == []  # the customer is not mailed about the split

    old, new = room.ticket("SUP-00001"), room.ticket("SUP-00002")
    assert [m["body_text"] for m in old["messages"] if m["kind"] == "customer"] == [
        "Hello,\nmy printer is on fire.\nCarl\n"
    ]
    moved = [m["body_text"].strip() for m in new["messages"]]
    assert moved[0].startswith("Also, my scanner is jammed.") and moved[1] == "Still jammed."
    assert new["subject"] == "Scanner jammed" and new["status"] == "open"
    assert new["requester"]["email"] == "carl@customer.test"
    assert events(old, "split_into")[0]["ticket"] == "SUP-00002"
    assert events(new, "split_from")[0]["ticket"] == "SUP-00001"
    assert [(x["ticket"], x["relation"]) for x in old["links"]] == [("SUP-00002", "related")]
    assert [(x["ticket"], x["relation"]) for x in new["links"]] == [("SUP-00001", "related")]

    # Carl answers his moved message: it threads into the new ticket, not the old one.
    moved_mail = customer_mail(CARL, subject="Re: Scanner jammed", body="Fixed it myself.")
    mail = parse(moved_mail)
    mail["In-Reply-To"] = new["messages"][1]["message_id"]
    mail["References"] = f"{ack['Message-ID']} {new['messages'][1]['message_id']}"
    assert room.send(mail.as_bytes())["ticket"] == "SUP-00002"


def test_split_only_moves_that_message_alone(room: Mailroom) -> None:
    ack, _ = open_ticket(room)
    notice = follow_up(room, ack, "Invoice wrong", "And my invoice is wrong.")
    later = customer_mail(CARL, subject="Re: [SUP-00001] Printer on fire", body="Printer smokes.")
    room.send(later)
    room.out()
    room.send(reply(notice, ANN, "#split only\n#note\n", quote=False))
    new = room.ticket("SUP-00002")
    [moved] = new["messages"]
    assert moved["body_text"].startswith("And my invoice is wrong.")
    old = room.ticket("SUP-00001")
    assert "Printer smokes." in [m["body_text"].strip() for m in old["messages"]]
    # Carl's next answer to the old acknowledgement still lands in the old ticket.
    assert room.send(reply(ack, CARL, "Any news?"))["ticket"] == "SUP-00001"


def test_split_without_a_message_to_split_from_is_an_error(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    # The notification about the only message: splitting it would leave nothing.
    room.send(reply(notice, ANN, "#split\n#priority high\n", quote=False))
    error = only(room.out(), "ann@example.com")
    assert "#split: that is every message of the ticket" in text_of(error)
    ticket = room.ticket("SUP-00001")
    assert ticket["priority"] != "high"  # all or nothing
    assert events(ticket, "commands_rejected")


def test_link_and_unlink_show_on_both_tickets(room: Mailroom) -> None:
    _, first = open_ticket(room)
    new_ticket(room, customer_mail(DORA, subject="Printer down too"))
    room.send(reply(first, ANN, "#link SUP-00002\n#note\n", quote=False))
    one, two = room.ticket("SUP-00001"), room.ticket("SUP-00002")
    assert one["links"] == [
        {
            "ticket": "SUP-00002",
            "subject": "Printer down too",
            "status": two["status"],
            "relation": "related",
        }
    ]
    assert [x["ticket"] for x in two["links"]] == ["SUP-00001"]
    assert events(two, "linked") == [{"ticket": "SUP-00001", "relation": "related"}]

    room.send(reply(first, ANN, "#unlink SUP-2\n#note\n", quote=False))
    assert room.ticket("SUP-00001")["links"] == []
    assert room.ticket("SUP-00002")["links"] == []
    assert events(room.ticket("SUP-00002"), "unlinked") == [{"ticket": "SUP-00001"}]


def test_bad_links_are_errors_naming_the_line(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.out()
    room.send(reply(notice, ANN, "#link SUP-00001\n#unlink SUP-00009\n#incident nope\n"))
    error = text_of(only(room.out(), "ann@example.com"))
    assert "#link SUP-00001: that is this ticket" in error
    assert "#unlink SUP-00009: no such ticket" in error
    assert "line 3: #incident nope: needs a ticket like SUP-00017" in error
    assert room.ticket()["links"] == []


def test_another_desks_ticket_is_no_such_ticket(room: Mailroom) -> None:
    configure(room, SUPPORT_AND_BILLING)
    _, notice = open_ticket(room)
    room.send(customer_mail(DORA, to="billing@example.com", subject="Invoice"))
    assert room.out()
    room.send(reply(notice, ANN, "#link 2\n#incident BIL-00002\n#note\n", quote=False))
    error = text_of(only(room.out(), "ann@example.com"))
    assert "#link SUP-00002: no such ticket" in error  # the billing ticket is not there
    assert "#incident BIL-00002: needs a ticket like SUP-00017" in error
    assert "Invoice" not in error
    assert room.ticket()["links"] == []


def test_reply_linked_sends_one_mail_per_customer(room: Mailroom) -> None:
    incident = new_ticket(room, customer_mail(ERIC, subject="Mail is down"))
    carl = new_ticket(room, customer_mail(CARL, subject="Cannot send mail"))
    dora = new_ticket(
        room, customer_mail(DORA, subject="No mail today", cc="Fay <fay@customer.test>")
    )
    room.send(reply(carl, ANN, "#incident SUP-00001\n#note\n", quote=False))
    room.send(reply(dora, ANN, "#incident SUP-00001\n#note\n", quote=False))
    assert room.out() == []
    assert {x["relation"] for x in room.ticket("SUP-00001")["links"]} == {"child"}
    assert room.ticket("SUP-00002")["links"][0]["relation"] == "parent"

    body = "#reply-linked\n#resolve\n\nThe mail server is back."
    room.send(reply(incident, ANN, body, quote=False))
    mails = room.out()
    for address, label in (
        ("eric@customer.test", "SUP-00001"),
        ("carl@customer.test", "SUP-00002"),
        ("dora@customer.test", "SUP-00003"),
        ("fay@customer.test", "SUP-00003"),
    ):
        mail = only(mails, address)
        assert f"[{label}]" in str(mail["Subject"])
        assert "The mail server is back." in text_of(mail)
        assert f"/t/{label}/" in text_of(mail)
    assert len(mails) == 4  # one each, nobody else

    parent = room.ticket("SUP-00001")
    assert parent["status"] == "resolved"  # the commands are the incident's own
    assert events(parent, "replied_linked") == [{"tickets": ["SUP-00002", "SUP-00003"]}]
    child = room.ticket("SUP-00002")
    assert child["status"] == "waiting_on_customer"
    assert child["messages"][-1]["kind"] == "agent"
    assert child["messages"][-1]["body_text"] == "The mail server is back."


def test_reply_linked_without_linked_tickets_is_an_error(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#reply-linked\n\nFixed.", quote=False))
    mails = room.out()
    assert to(mails, "carl@customer.test") == []
    assert "#reply-linked: no ticket belongs to this incident" in text_of(
        only(mails, "ann@example.com")
    )


def test_the_cheat_sheet_lists_the_commands() -> None:
    sheet = cheat_sheet(prefix="IT")
    for syntax in ("#split [only]", "#link IT-00017", "#unlink IT-00017", "#incident IT-00017"):
        assert syntax in sheet
    assert "#reply-linked" in sheet


def test_a_link_to_a_merged_ticket_goes_to_its_survivor(room: Mailroom) -> None:
    first = new_ticket(room, customer_mail(CARL, subject="Printer on fire"))
    merged = new_ticket(room, customer_mail(DORA, subject="Printer smokes"))
    new_ticket(room, customer_mail(DORA, subject="Printer smokes again"))
    room.send(reply(merged, ANN, "#merge SUP-00003\n", quote=False))
    room.out()
    room.send(reply(first, ANN, "#link SUP-00002\n#note\n", quote=False))
    assert [x["ticket"] for x in room.ticket("SUP-00001")["links"]] == ["SUP-00003"]
    assert room.ticket("SUP-00002")["links"] == []
