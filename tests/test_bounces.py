"""Bounces belong to the ticket: a bounce of a mail maildesk really sent (an agent's reply,
taken from the outbox maildir) comes back in the formats of Postfix, Exim, qmail, Gmail
and Exchange/Office 365 through `maildesk ingest`; it is a system entry on the ticket,
the agents are told, a permanent failure marks the address undeliverable (automatic
mail to it skipped, the agent's replies still sent), and the mark clears when the
address writes again or an agent clears it. Bounces of mail that is not ours, and the
corpus bounces, are stored and ignored.

On SQLite and PostgreSQL; the pure reading of bounces is tested on the same formats.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.core.bounces import read_bounce
from maildesk.core.event_names import UPDATED, public_event
from maildesk.core.msgid import make_message_id
from tests import bounce_formats
from tests.api_support import bearer, two_desks
from tests.conftest import Install
from tests.conversation import customer_mail, reply, text_of
from tests.sink import Sink
from tests.test_conversation import ANN, CARL, Mailroom, only, open_ticket, to
from tests.test_conversation_daemon import PASS, mails_to
from tests.test_conversation_daemon import start as daemon_start
from tests.test_conversation_daemon import submit as daemon_submit
from tests.web_support import Site, site

CARL_EMAIL = "carl@customer.test"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "flanker"
Format = Callable[[bytes, str], bytes]
PERMANENT: dict[str, Format] = {
    "postfix": bounce_formats.postfix,
    "exim": bounce_formats.exim,
    "qmail": bounce_formats.qmail,
    "gmail": bounce_formats.gmail,
    "gmail-plain": bounce_formats.gmail_plain,
    "exchange": bounce_formats.exchange,
}


@pytest.fixture
def room(desk: Install) -> Mailroom:
    room = Mailroom(desk)
    room.agent("ann@example.com", "Ann Agent")
    room.agent("bob@example.com", "Bob Agent")
    return room


def agent_reply(room: Mailroom, body: str = "Please restart it.") -> EmailMessage:
    """Carl opens a ticket, Ann answers from her notification: the reply Carl is sent."""
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, body))
    return only(room.out(), "carl@customer.test")


def events(room: Mailroom, kind: str) -> list[dict[str, Any]]:
    return [e for e in room.ticket()["events"] if e["type"] == kind]


# -- reading bounces (pure) ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PERMANENT))
def test_each_format_names_the_original_and_the_failed_address(name: str) -> None:
    original = customer_mail("Ann <support@example.com>", to="carl@customer.test")
    found = read_bounce(PERMANENT[name](original, "carl@customer.test"))
    assert found is not None
    mid = next(line for line in original.decode().splitlines() if line.startswith("Message-ID"))
    assert found.original_ids == (mid.split(":", 1)[1].strip(),)
    [failed] = found.recipients
    assert failed.email == "carl@customer.test"
    assert failed.permanent
    assert failed.status.startswith("5.1.")
    assert found.standard is (name in ("postfix", "gmail", "exchange"))


def test_a_delay_is_not_a_failure() -> None:
    original = customer_mail("support@example.com", to="carl@customer.test")
    diagnostic = "smtp; 451 4.4.1 connection timed out"
    raw = bounce_formats.postfix(original, "carl@customer.test", "4.4.1", "delayed", diagnostic)
    found = read_bounce(raw)
    assert found is not None
    [delayed] = found.recipients
    assert (delayed.action, delayed.status, delayed.permanent) == ("delayed", "4.4.1", False)
    assert delayed.diagnostic == "451 4.4.1 connection timed out"


def test_mail_that_names_no_message_is_no_bounce() -> None:
    assert read_bounce(customer_mail(CARL, body="Undelivered: carl@customer.test")) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_a_bounce_or_not_without_error(raw: bytes) -> None:
    found = read_bounce(b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\n" + raw)
    assert found is None or found.original_ids


def test_bounce_events_are_public_updates() -> None:
    for kind in ("bounce_received", "address_undeliverable", "address_deliverable"):
        event = public_event(kind, {})
        assert event is not None and (event.name, event.internal) == (UPDATED, False)


# -- through the pipeline ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PERMANENT))
def test_bounce_of_an_agent_reply_joins_its_ticket(room: Mailroom, name: str) -> None:
    sent = agent_reply(room)
    line = room.send(PERMANENT[name](sent.as_bytes(), "carl@customer.test"))
    assert (line["action"], line["ticket"]) == ("appended", "SUP-00001")
    assert str(sent["Message-ID"]) in line["reason"]

    ticket = room.ticket()
    entry = ticket["messages"][-1]
    assert (entry["kind"], entry["direction"]) == ("system", "inbound")
    assert "carl@customer.test: failed permanently (5.1." in entry["body_text"]
    [bounce] = events(room, "bounce_received")
    assert bounce["data"]["to"] == "carl@customer.test"
    assert bounce["data"]["purpose"] == "agent_reply" and bounce["data"]["permanent"]
    [mark] = ticket["undeliverable"]
    assert mark["email"] == "carl@customer.test" and mark["reason"].startswith("5.1.")
    assert ticket["status"] == "waiting_on_customer"  # a bounce is no answer

    told = room.out()  # nobody is assigned: everyone on duty, never the customer
    assert to(told, "carl@customer.test") == []
    notice = only(told, "ann@example.com")
    assert "could not be delivered" in text_of(notice)
    assert "carl@customer.test" in text_of(notice) and "Marked undeliverable" in text_of(notice)
    assert str(notice["Reply-To"]).startswith("Test Support <support+r-1-")
    record = room.desk.json("contacts", "show", "carl@customer.test")
    assert record["undeliverable"][0]["email"] == "carl@customer.test"


def test_assignee_alone_is_told(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#assign me\n\nLet me look."))
    sent = only(room.out(), "carl@customer.test")
    room.send(bounce_formats.postfix(sent.as_bytes(), "carl@customer.test"))
    told = room.out()
    assert [m["To"] for m in told] == ["Ann Agent <ann@example.com>"]


def test_automatic_mail_skips_the_address_until_it_writes_again(room: Mailroom) -> None:
    sent = agent_reply(room)
    room.send(bounce_formats.exim(sent.as_bytes(), "carl@customer.test"))
    room.out()
    _, notice = open_ticket(room)  # a second ticket would be acknowledged, had Carl not written
    # Carl wrote again (the new ticket): the mark was cleared before it was answered.
    assert room.ticket()["undeliverable"] == []
    assert events(room, "address_deliverable") == []  # logged on the ticket of the new mail
    cleared = room.ticket("SUP-00002")["events"]
    assert [e["data"]["by"] for e in cleared if e["type"] == "address_deliverable"] == ["mail"]

    # Marked again by a bounce of the second ticket's acknowledgement.
    room.send(bounce_formats.gmail(_ack_of(room, "SUP-00002"), "carl@customer.test"))
    room.out()
    assert room.ticket("SUP-00002")["undeliverable"] != []
    # Resolving sends the customer an automatic notice: skipped while marked.
    room.send(reply(notice, ANN, "#resolve"))
    assert to(room.out(), "carl@customer.test") == []
    skipped = [e for e in room.ticket("SUP-00002")["events"] if e["type"] == "mail_skipped"]
    assert skipped[-1]["data"] == {
        "purpose": "resolved",
        "to": ["carl@customer.test"],
        "reason": "undeliverable",
    }
    # An agent's reply still goes: the agent decides.
    room.send(reply(notice, ANN, "Carl, is this address still yours?"))
    assert len(to(room.out(), "carl@customer.test")) == 1


def _ack_of(room: Mailroom, label: str) -> bytes:
    """The bytes of the acknowledgement the ticket's requester was sent."""
    [mail] = [m for m in room.ticket(label)["mail"] if m["purpose"] == "ack"]
    for path in sorted((room.desk.root / "outbox" / "new").glob("*.eml")):
        raw = path.read_bytes()
        if mail["message_id"].encode() in raw:
            return raw
    raise AssertionError("the acknowledgement is not in the outbox")


def test_agent_clears_the_mark_from_the_cli(room: Mailroom) -> None:
    sent = agent_reply(room)
    room.send(bounce_formats.exchange(sent.as_bytes(), "carl@customer.test"))
    result = room.desk.run("contacts", "clear-bounce", "Carl@Customer.test")
    assert result.exit_code == 0, result.output
    assert "carl@customer.test: deliverable again" in result.output
    assert room.desk.json("contacts", "show", "carl@customer.test")["undeliverable"] == []
    [cleared] = events(room, "address_deliverable")
    assert cleared["actor"] == "cli" and cleared["data"]["by"] == "agent"
    again = room.desk.run("contacts", "clear-bounce", "carl@customer.test")
    assert again.exit_code == 1 and "not marked undeliverable" in again.output
    unknown = room.desk.run("contacts", "clear-bounce", "nobody@customer.test")
    assert unknown.exit_code == 1 and "no contact" in unknown.output


def test_a_bounce_of_an_agent_notification_marks_nobody(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    line = room.send(bounce_formats.postfix(notice.as_bytes(), "ann@example.com"))
    assert (line["action"], line["ticket"]) == ("appended", "SUP-00001")
    assert room.ticket()["messages"][-1]["kind"] == "system"
    assert events(room, "bounce_received")[0]["data"]["purpose"] == "notify_new"
    assert events(room, "address_undeliverable") == []
    assert room.out() == []


def test_a_delay_is_stored_without_mark_or_mail(room: Mailroom) -> None:
    sent = agent_reply(room)
    delayed = bounce_formats.postfix(
        sent.as_bytes(), "carl@customer.test", "4.4.1", "delayed", "smtp; 451 4.4.1 timed out"
    )
    assert room.send(delayed)["action"] == "appended"
    assert "carl@customer.test: delayed (4.4.1)" in room.ticket()["messages"][-1]["body_text"]
    assert events(room, "bounce_received")[0]["data"]["permanent"] is False
    assert room.ticket()["undeliverable"] == []
    assert room.out() == []


def test_a_forged_bounce_marks_no_other_address(room: Mailroom) -> None:
    """A bounce naming our mail but another recipient is stored, marks nothing."""
    sent = agent_reply(room)
    room.send(customer_mail("Dave <dave@customer.test>"))  # Dave is a contact too
    room.out()
    line = room.send(bounce_formats.postfix(sent.as_bytes(), "dave@customer.test"))
    assert (line["action"], line["ticket"]) == ("appended", "SUP-00001")
    entry = room.ticket()["messages"][-1]
    assert "Not recipients of that mail, ignored: dave@customer.test" in entry["body_text"]
    assert events(room, "bounce_received") == []
    assert room.desk.json("contacts", "show", "dave@customer.test")["undeliverable"] == []
    assert to(room.out(), "ann@example.com") == []


def test_a_bounce_of_mail_not_ours_is_ignored(room: Mailroom) -> None:
    open_ticket(room)
    foreign = customer_mail("Eve <eve@customer.test>", to="carl@customer.test")
    line = room.send(bounce_formats.postfix(foreign, "carl@customer.test"))
    assert (line["action"], line["ticket"]) == ("ignored", None)
    assert room.out() == []
    assert room.ticket()["undeliverable"] == []


def test_a_bounce_with_a_signed_id_we_never_sent_is_ignored(room: Mailroom) -> None:
    """Signed with our key, so it passes as ours, but no mail of ours had it."""
    sent = agent_reply(room)
    never = make_message_id("SUP-00001", 1, b"test-secret-key", "example.com")
    raw = sent.as_bytes().replace(str(sent["Message-ID"]).encode(), never.encode())
    line = room.send(bounce_formats.postfix(raw, "carl@customer.test"))
    assert (line["action"], line["ticket"]) == ("ignored", None)
    assert room.ticket()["undeliverable"] == []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared sample corpus is absent")
def test_corpus_bounces_are_stored_and_ignored(room: Mailroom) -> None:
    open_ticket(room)
    files = sorted(CORPUS.glob("bounce_*.eml"))
    assert files
    for path in files:
        line = room.send(path.read_bytes())
        assert line["ticket"] is None, (path.name, line)
        # One of them has no sender at all: kept in quarantine, as any such mail is.
        assert line["action"] == "ignored" or "no sender address" in line["reason"], line
    assert room.out() == []
    assert room.desk.json("outbox", "list")  # only the first ticket's mail
    assert len(room.desk.json("tickets", "list")) == 1


# -- the web view and the API --------------------------------------------------------------


def _bounced_ack(s: Site) -> int:
    """Carl's acknowledgement bounces; returns Carl's contact id."""
    s.ingest(customer_mail(CARL))
    [ack] = [row for row in s.desk.json("outbox", "list") if row["purpose"] == "ack"]
    original = (
        f"Message-ID: {ack['message_id']}\r\nTo: carl@customer.test\r\n"
        "Subject: [SUP-00001] Printer on fire\r\n\r\nThank you.\r\n"
    ).encode()
    s.ingest(bounce_formats.exchange(original, "carl@customer.test"))
    record = s.desk.json("contacts", "show", "carl@customer.test")
    assert record["undeliverable"][0]["reason"].startswith("5.1.10 550 5.1.10 RESOLVER")
    return int(record["id"])


def test_web_shows_the_mark_and_an_agent_clears_it(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url) as s:
        s.add_agent("ann@example.com", "Ann Agent")
        assert s.sign_in("ann@example.com").status_code == 303
        contact_id = _bounced_ack(s)

        page = s.client.get("/tickets/SUP-00001")
        assert "carl@customer.test is undeliverable" in page.text
        assert "RESOLVER.ADR.RecipientNotFound" in page.text  # the system entry and the mark
        record = s.client.get(f"/contacts/{contact_id}")
        assert "Mark deliverable" in record.text

        form = f"/contacts/{contact_id}"
        path = f"/contacts/{contact_id}/deliverable"
        wrong = s.post(path, {"email": "dora@customer.test"}, form_page=form)
        assert wrong.status_code == 422 and "not marked undeliverable" in wrong.text
        done = s.post(path, {"email": "carl@customer.test"}, form_page=form)
        assert done.status_code == 303
        assert "carl@customer.test is deliverable again." in s.client.get(form).text
        assert "is undeliverable" not in s.client.get("/tickets/SUP-00001").text
        ticket = s.desk.json("tickets", "show", "SUP-00001")
        [cleared] = [e for e in ticket["events"] if e["type"] == "address_deliverable"]
        assert cleared["actor"] == "ann@example.com"
        assert s.client.post(path, data={"email": "carl@customer.test"}).status_code == 403


def test_api_shows_the_mark_and_clears_it(tmp_path: Path, database_url: str) -> None:
    with two_desks(tmp_path, database_url) as s:
        headers = bearer(s, "ann@example.com")
        outbox = s.desk.json("outbox", "list")
        [ack] = [r for r in outbox if (r["ticket"], r["purpose"]) == ("SUP-00001", "ack")]
        original = f"Message-ID: {ack['message_id']}\r\n\r\nhi\r\n".encode()
        s.ingest(bounce_formats.postfix(original, CARL_EMAIL))
        ticket = s.client.get("/api/tickets/SUP-00001", headers=headers).json()
        assert [u["email"] for u in ticket["undeliverable"]] == [CARL_EMAIL]
        contact_id = ticket_contact(s, headers)
        path = f"/api/contacts/{contact_id}/undeliverable"
        shown = s.client.get(f"/api/contacts/{contact_id}", headers=headers).json()
        assert shown["undeliverable"][0]["reason"].startswith("5.1.1 550 5.1.1")

        assert s.client.delete(f"{path}?when=now", headers=headers).status_code == 400
        other = s.client.delete(path, headers=bearer(s, "bill@example.com"))
        assert other.status_code == 404  # Bill works billing: Carl is not his to see
        answer = s.client.delete(f"{path}?email={CARL_EMAIL}", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["cleared"] == [CARL_EMAIL]
        assert answer.json()["contact"]["undeliverable"] == []
        again = s.client.delete(path, headers=headers)
        assert again.status_code == 422 and "not marked undeliverable" in again.text


def ticket_contact(s: Site, headers: dict[str, str]) -> int:
    found = s.client.get("/api/contacts?q=carl", headers=headers).json()["contacts"]
    return int(found[0]["id"])


# -- through the daemon: SMTP in, the relay an aiosmtpd sink --------------------------------


def test_a_bounce_through_the_daemon(desk: Install) -> None:
    for email, name in (("ann@example.com", "Ann Agent"), ("bob@example.com", "Bob Agent")):
        assert desk.run("agents", "add", email, "--name", name).exit_code == 0
    trusted = '\n[security]\ntrusted_authserv_id = "mx.example.com"\n'
    with Sink() as sink:
        daemon = daemon_start(desk, sink, trusted)
        try:
            daemon_submit(daemon, customer_mail(CARL))
            sink.wait_for(3)  # the acknowledgement and two notifications
            [notice] = mails_to(sink, "ann@example.com")
            daemon_submit(daemon, reply(notice, ANN, "Unplug it.", PASS), "ann@example.com")
            sink.wait_for(4)
            [relayed] = [r for r in sink.messages if r.message["Auto-Submitted"] is None]
            assert relayed.recipients == (CARL_EMAIL,)

            daemon_submit(daemon, bounce_formats.postfix(relayed.raw, CARL_EMAIL), "")
            sink.wait_for(6)  # Ann and Bob are told (nobody is assigned)
            [_, told] = mails_to(sink, "ann@example.com")
            assert "could not be delivered" in text_of(told)
            assert "5.1.1" in text_of(told) and CARL_EMAIL in text_of(told)
            shown = desk.json("tickets", "show", "SUP-00001")
            assert shown["messages"][-1]["kind"] == "system"
            assert [u["email"] for u in shown["undeliverable"]] == [CARL_EMAIL]
            assert len(mails_to(sink, CARL_EMAIL)) == 2  # nothing went to Carl about it
        finally:
            assert daemon.stop() == 0, daemon.log
