"""web.actions: what people do on the web becomes mail, taken in like mail.

Through intake and the pipeline on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.store.models import Agent, Attachment, Intake, Message, Outbox, Ticket
from maildesk.web import actions
from tests.conversation import customer_mail
from tests.web_support import Site, site

STRICT = '[security]\ntrusted_authserv_id = "mx.example.com"\n'


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url, STRICT) as running:
        running.add_agent("ann@example.com", "Ann")
        running.ingest(customer_mail(subject="Printer on fire"))
        yield running


def ticket() -> Ticket:
    return Ticket.get(Ticket.number == 1)


def test_an_agent_reply_from_the_web_is_trusted_and_relayed(web: Site) -> None:
    ann = Agent.get(Agent.email == "ann@example.com")
    outcome = actions.agent_mail(
        web.web,
        ann,
        ticket(),
        "Hi Carl,\nunplug it.",
        commands=["#priority high"],
        uploads=[actions.Upload("steps.pdf", "application/pdf", b"%PDF-1.4 steps")],
    )
    assert (outcome.action, outcome.ticket) == ("appended", "SUP-00001")
    assert Intake.get_by_id(outcome.intake_id).source == "web"
    reply = Message.select().where(Message.kind == "agent").get()
    assert not reply.flagged and "unplug it" in reply.body_text
    assert ticket().priority == "high"
    [attachment] = Attachment.select().where(Attachment.message == reply)
    assert attachment.filename == "steps.pdf"
    relayed = Outbox.get(Outbox.purpose == "agent_reply")
    assert relayed.recipients == ["carl@customer.test"]


def test_the_same_agent_mail_from_outside_is_only_a_flagged_note(web: Site) -> None:
    forged = customer_mail("Ann <ann@example.com>", subject="Re: [SUP-00001] x", body="#close\n")
    web.ingest(forged)
    note = Message.select().order_by(Message.id.desc()).get()
    assert note.kind == "note" and note.flagged
    assert ticket().status != "closed"


def test_bad_commands_are_refused_before_anything_is_stored(web: Site) -> None:
    ann = Agent.get(Agent.email == "ann@example.com")
    before = Intake.select().count()
    with pytest.raises(actions.Refused, match="nonsense"):
        actions.agent_mail(web.web, ann, ticket(), "text", commands=["#status nonsense"])
    with pytest.raises(actions.Refused, match="nothing to send"):
        actions.agent_mail(web.web, ann, ticket(), "  ")
    assert Intake.select().count() == before


def test_a_note_reaches_no_customer(web: Site) -> None:
    ann = Agent.get(Agent.email == "ann@example.com")
    queued = Outbox.select().count()
    actions.agent_mail(web.web, ann, ticket(), "VIP customer", note=True)
    assert Message.select().order_by(Message.id.desc()).get().kind == "note"
    assert Outbox.select().count() == queued
    assert not Outbox.select().where(Outbox.purpose == "agent_reply").exists()


def test_a_customer_reply_threads_into_their_ticket(web: Site) -> None:
    outcome = actions.customer_reply(web.web, ticket(), ticket().requester, "It still smokes.")
    assert (outcome.action, outcome.ticket) == ("appended", "SUP-00001")
    last = Message.select().order_by(Message.id.desc()).get()
    assert (last.kind, last.from_email) == ("customer", "carl@customer.test")


def test_new_tickets_never_write_into_existing_ones(web: Site) -> None:
    outcome = actions.new_ticket(
        web.web,
        name="Carl",
        email="carl@customer.test",
        subject="Re: [SUP-00001] [sup-1] more",
        text="A new question.",
    )
    assert outcome.action == "created" and outcome.ticket == "SUP-00002"
    assert "SUP-00001" not in Ticket.get(Ticket.number == 2).subject.upper()
    with pytest.raises(actions.Refused, match="belongs to this desk"):
        actions.new_ticket(web.web, name="A", email="ANN@example.com", subject="x", text="y")
    with pytest.raises(actions.Refused, match="belongs to this desk"):
        actions.new_ticket(web.web, name="A", email="support@example.com", subject="x", text="y")


@pytest.mark.parametrize(
    "address", ["", "no-at-sign", "a b@example.com", "x@", "@example.com", "a@b@c", "Name a@b.c"]
)
def test_unusable_addresses_are_refused(web: Site, address: str) -> None:
    with pytest.raises(actions.Refused, match="not a usable e-mail address"):
        actions.new_ticket(web.web, name="X", email=address, subject="x", text="y")


def test_header_tricks_in_names_and_subjects_stay_text(web: Site) -> None:
    raw = actions.compose(
        web.web,
        name="Eve\r\nBcc: victim@example.com",
        email="eve@customer.test",
        subject="Hello\r\nBcc: victim@example.com",
        text="body",
        uploads=[actions.Upload("../../etc/passwd", "text/html; x\r\nEvil: 1", b"<b>x</b>")],
        to="support@example.com",
    )
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["Evil"] is None
    assert "victim@example.com" in str(parsed["Subject"])
    [part] = list(parsed.iter_attachments())
    assert part.get_content_type() == "application/octet-stream"
