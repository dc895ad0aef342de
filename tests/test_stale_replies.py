"""Stale replies by mail ("traffic cop"): an agent's reply to a notification older than
what others wrote since is held, the agent is shown what came and answers `#send`.

Through `maildesk ingest` and `maildesk outbox send`, on SQLite and PostgreSQL. The
web reply box's own check is in test_web_ticket.py (and below, once more).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildesk.tickets import agents
from tests.conftest import Install
from tests.conversation import customer_mail, recipients, reply, text_of
from tests.test_conversation import ANN, BOB, CARL, Mailroom, only, to
from tests.web_support import PASSWORD, Site, site


@pytest.fixture
def room(desk: Install) -> Mailroom:
    room = Mailroom(desk)
    room.agent("ann@example.com", "Ann Agent")
    room.agent("bob@example.com", "Bob Agent")
    return room


def opened_and_answered_again(room: Mailroom) -> tuple[EmailMessage, EmailMessage]:
    """Carl opens a ticket, then writes again; Ann's first and second notifications."""
    room.send(customer_mail(CARL, body="My printer is on fire.\n"))
    mails = room.out()
    ack, first = only(mails, "carl@customer.test"), only(mails, "ann@example.com")
    room.send(reply(ack, CARL, "Update: the fire is out, it smells of toast now."))
    second = only(room.out(), "ann@example.com")
    return first, second


def kinds(room: Mailroom) -> list[str]:
    return [m["kind"] for m in room.ticket()["messages"]]


def test_a_reply_to_an_old_notification_is_held_until_send(room: Mailroom) -> None:
    first, _ = opened_and_answered_again(room)
    room.send(reply(first, ANN, "#priority high\n\nPlease unplug it right away."))
    mails = room.out()
    assert not to(mails, "carl@customer.test")  # nothing relayed
    notice = only(mails, "ann@example.com")
    text = text_of(notice)
    assert "was held, not sent" in text
    assert "the fire is out, it smells of toast" in text  # what was said meanwhile
    assert "Carl Customer" in text and "#send" in text
    assert "Please unplug it" in text  # the held reply's beginning
    ticket = room.ticket()
    assert ticket["priority"] == "medium"  # no command applied
    assert ticket["first_response_at"] is None
    held = ticket["messages"][-1]
    assert held["kind"] == "note" and "Please unplug it" in held["body_text"]
    assert "reply_held" in [e["type"] for e in ticket["events"]]

    room.send(reply(notice, ANN, "#send"))
    mails = room.out()
    relayed = only(mails, "carl@customer.test")
    assert "Please unplug it right away." in text_of(relayed)
    assert "#priority" not in text_of(relayed)
    assert not to(mails, "ann@example.com")
    ticket = room.ticket()
    assert ticket["priority"] == "high"  # its commands applied now
    assert ticket["status"] == "waiting_on_customer"
    assert ticket["first_response_at"] is not None
    assert kinds(room) == ["customer", "customer", "note", "agent"]
    assert "held_reply_sent" in [e["type"] for e in ticket["events"]]

    room.send(reply(notice, ANN, "#send"))  # once only: a second #send sends nothing
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    assert "no reply of yours is held" in text_of(only(mails, "ann@example.com"))
    assert kinds(room).count("agent") == 1


def test_a_reply_to_the_newest_notification_goes_out(room: Mailroom) -> None:
    _, second = opened_and_answered_again(room)
    room.send(reply(second, ANN, "Glad it is out. Please unplug it anyway."))
    assert "Please unplug it anyway" in text_of(only(room.out(), "carl@customer.test"))


def test_commands_only_and_notes_are_not_held(room: Mailroom) -> None:
    first, _ = opened_and_answered_again(room)
    room.send(reply(first, ANN, "#priority urgent\n#tag fire"))
    room.send(reply(first, ANN, "#note\n\nCall them tomorrow."))
    assert room.out() == []
    ticket = room.ticket()
    assert ticket["priority"] == "urgent" and ticket["tags"] == ["fire"]
    assert kinds(room) == ["customer", "customer", "note"]


def test_a_note_by_someone_else_makes_it_stale_ones_own_does_not(room: Mailroom) -> None:
    room.send(customer_mail(CARL))
    mails = room.out()
    ann_notice = only(mails, "ann@example.com")
    bob_notice = only(mails, "bob@example.com")
    room.send(reply(ann_notice, ANN, "#note\n\nI will look at it."))
    room.send(reply(ann_notice, ANN, "Looking into it."))  # her own note: not stale
    assert "Looking into it" in text_of(only(room.out(), "carl@customer.test"))
    room.send(reply(bob_notice, BOB, "Hello from Bob."))  # Ann wrote since Bob's notice
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    text = text_of(only(mails, "bob@example.com"))
    assert "I will look at it" in text and "Looking into it" in text
    assert "an internal note from Ann Agent" in text


def test_new_text_instead_of_send_is_a_normal_reply_and_drops_the_held_one(
    room: Mailroom,
) -> None:
    first, _ = opened_and_answered_again(room)
    room.send(reply(first, ANN, "Please unplug it."))
    notice = only(room.out(), "ann@example.com")
    room.send(reply(notice, ANN, "Good to hear the fire is out!"))
    mails = room.out()
    relayed = only(mails, "carl@customer.test")
    assert "Good to hear" in text_of(relayed) and "Please unplug it" not in text_of(relayed)
    room.send(reply(notice, ANN, "#send"))
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    assert "no reply of yours is held" in text_of(only(mails, "ann@example.com"))
    types = [e["type"] for e in room.ticket()["events"]]
    assert "held_reply_dropped" in types and "held_reply_sent" not in types


def test_send_with_nothing_held_or_with_other_commands_is_an_error(room: Mailroom) -> None:
    room.send(customer_mail(CARL))
    notice = only(room.out(), "ann@example.com")
    room.send(reply(notice, ANN, "#send"))
    error = text_of(only(room.out(), "ann@example.com"))
    assert "#send: no reply of yours is held on this ticket" in error
    room.send(reply(notice, ANN, "#send\n#priority high"))
    error = text_of(only(room.out(), "ann@example.com"))
    assert "#send: give it alone" in error
    assert room.ticket()["priority"] == "medium"


def test_the_held_notice_goes_to_the_agents_signed_reply_address(room: Mailroom) -> None:
    first, _ = opened_and_answered_again(room)
    room.send(reply(first, ANN, "Please unplug it."))
    notice = only(room.out(), "ann@example.com")
    assert recipients(notice) == {"ann@example.com"}
    assert str(notice["Reply-To"].addresses[0].addr_spec) == str(
        first["Reply-To"].addresses[0].addr_spec
    )


# -- the web reply box: the same definition of what came meanwhile ------------------------


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ann@example.com", "Ann")
        assert running.sign_in("ann@example.com").status_code == 303
        running.ingest(customer_mail(CARL, body="My printer is on fire.\n"))
        yield running


def test_the_web_reply_box_holds_a_reply_that_crosses_a_message(web: Site) -> None:
    page = web.client.get("/tickets/SUP-00001")
    seen = re.search(r'name="seen" value="(\d+)"', page.text)
    assert seen is not None
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    web.ingest(reply_to_ticket("The fire is out now."))
    form = {"csrf": token[1], "text": "Please unplug it.", "kind": "reply", "seen": seen[1]}
    held = web.client.post("/tickets/SUP-00001/reply", data=form, follow_redirects=False)
    assert held.status_code == 409
    assert "Your reply was not sent" in held.text and "Send anyway" in held.text
    sent = web.client.post(
        "/tickets/SUP-00001/reply", data={**form, "anyway": "1"}, follow_redirects=False
    )
    assert sent.status_code == 303


def reply_to_ticket(text: str) -> bytes:
    return customer_mail(CARL, subject="Re: [SUP-00001] Printer on fire", body=text)


def test_send_on_the_web_sends_the_reply_held_from_mail(room: Mailroom) -> None:
    first, _ = opened_and_answered_again(room)
    room.send(reply(first, ANN, "Please unplug it."))
    room.out()
    with site(room.desk.root, room.desk.database_url) as running:
        agents.set_password(running.runtime.db, "ann@example.com", PASSWORD)
        assert running.sign_in("ann@example.com").status_code == 303
        answer = running.post(
            "/tickets/SUP-00001/reply",
            {"text": "#send", "kind": "reply"},
            form_page="/tickets/SUP-00001",
        )
        assert answer.status_code == 303
        again = running.post(
            "/tickets/SUP-00001/reply",
            {"text": "#send", "kind": "reply"},
            form_page="/tickets/SUP-00001",
        )
        assert again.status_code == 422 and "no reply of yours is held" in again.text
    assert "Please unplug it." in text_of(only(room.out(), "carl@customer.test"))
