"""Conversations through the CLI: customers and agents write, `maildesk ingest` takes the
mail in, `maildesk outbox send` writes what maildesk answers into the outbox maildir.

On SQLite and PostgreSQL. The same conversations through the running daemon, with
an SMTP relay, are in test_conversation_daemon.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildesk.core.msgid import verify_message_id
from maildesk.core.reply_address import ReplyToken, read_reply_address
from maildesk.store.models import Agent
from tests.conftest import Install, opened, write_config
from tests.conversation import (
    customer_mail,
    html_of,
    maildir_mails,
    recipients,
    reply,
    text_of,
)

SECRET = b"test-secret-key"
CARL = "Carl Customer <carl@customer.test>"
ANN = "Ann Agent <ann@example.com>"
BOB = "Bob Agent <bob@example.com>"


class Mailroom:
    """Drives one desk: mail in through `ingest`, mail out through `outbox send`."""

    def __init__(self, desk: Install) -> None:
        self.desk = desk
        self.seen = 0

    def agent(self, email: str, name: str, *extra: str) -> None:
        result = self.desk.run("agents", "add", email, "--name", name, *extra)
        assert result.exit_code == 0, result.output

    def send(self, raw: bytes) -> dict[str, Any]:
        [line] = self.desk.ingest(raw)
        return line

    def out(self) -> list[EmailMessage]:
        """The mails sent since the last call."""
        result = self.desk.run("outbox", "send")
        assert result.exit_code == 0, result.output
        mails = (
            maildir_mails(self.desk.root / "outbox") if (self.desk.root / "outbox").exists() else []
        )
        new, self.seen = mails[self.seen :], len(mails)
        return new

    def ticket(self, label: str = "SUP-00001") -> dict[str, Any]:
        ticket = self.desk.json("tickets", "show", label)
        assert isinstance(ticket, dict)
        return ticket


def to(mails: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in mails if address in recipients(m)]


def only(mails: list[EmailMessage], address: str) -> EmailMessage:
    found = to(mails, address)
    assert len(found) == 1, [(m["To"], m["Subject"]) for m in mails]
    return found[0]


@pytest.fixture
def room(desk: Install) -> Mailroom:
    room = Mailroom(desk)
    room.agent("ann@example.com", "Ann Agent")
    room.agent("bob@example.com", "Bob Agent")
    return room


def configure(room: Mailroom, extra: str = "", outbound: str = "") -> None:
    write_config(room.desk.root, room.desk.database_url, extra, outbound)


def open_ticket(room: Mailroom, raw: bytes | None = None) -> tuple[EmailMessage, EmailMessage]:
    """A customer writes; returns the acknowledgement and Ann's notification."""
    line = room.send(raw or customer_mail(CARL))
    assert line["action"] == "created"
    mails = room.out()
    return only(mails, "carl@customer.test"), only(mails, "ann@example.com")


# -- a new ticket -----------------------------------------------------------------------


def test_new_ticket_is_acknowledged_and_agents_are_notified(room: Mailroom) -> None:
    room.agent("away@example.com", "Away Agent")
    assert room.desk.run("agents", "set", "away@example.com", "--away").exit_code == 0
    room.agent("gone@example.com", "Gone Agent")
    assert room.desk.run("agents", "set", "gone@example.com", "--inactive").exit_code == 0
    first = customer_mail(CARL, subject="Printer on fire")
    room.send(first)
    mails = room.out()
    ack = only(mails, "carl@customer.test")
    assert ack["Subject"] == "Re: [SUP-00001] Printer on fire"
    assert ack["From"].addresses[0].addr_spec == "support@example.com"
    assert ack["Reply-To"].addresses[0].addr_spec == "support@example.com"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["X-Loop"] == "support@example.com"
    customer_id = str(ack["In-Reply-To"])
    assert customer_id in str(ack["References"])
    assert verify_message_id(str(ack["Message-ID"]), SECRET) == 1
    assert "SUP-00001" in text_of(ack) and "/t/SUP-00001/" in text_of(ack)
    assert "SUP-00001" in html_of(ack)
    assert "#priority" not in text_of(ack)  # the cheat sheet is for agents

    notices = [m for m in mails if m is not ack]
    assert {a for m in notices for a in recipients(m)} == {"ann@example.com", "bob@example.com"}
    for notice in notices:
        assert notice["Auto-Submitted"] == "auto-generated"
        assert "my printer is on fire" in text_of(notice)
        assert "#priority" in text_of(notice)  # the cheat sheet
        assert verify_message_id(str(notice["Message-ID"]), SECRET) == 1
    events = [e["type"] for e in room.ticket()["events"]]
    assert events.count("mail_queued") == 2


def test_away_and_inactive_agents_are_not_notified(desk: Install) -> None:
    room = Mailroom(desk)
    room.agent("ann@example.com", "Ann Agent")
    room.agent("mgr@example.com", "Mia Manager", "--role", "manager")
    room.send(customer_mail(CARL))
    mails = room.out()
    assert {a for m in mails for a in recipients(m)} == {"carl@customer.test", "ann@example.com"}


def test_ack_goes_out_from_the_address_the_customer_wrote_to(room: Mailroom) -> None:
    room.send(customer_mail(CARL, to="Billing <billing@example.com>"))
    ack = only(room.out(), "carl@customer.test")
    assert ack["From"].addresses[0].addr_spec == "billing@example.com"
    assert ack["Reply-To"].addresses[0].addr_spec == "billing@example.com"
    assert str(ack["Message-ID"]).endswith("@example.com>")


# -- agents answer by mail ------------------------------------------------------------


def test_agent_reply_with_commands_is_relayed_without_them(room: Mailroom) -> None:
    ack, notice = open_ticket(room)
    answer = reply(
        notice, ANN, "#priority urgent\n#assign me\n\nHi Carl,\nplease unplug it.\n\nAnn"
    )
    assert room.send(answer)["ticket"] == "SUP-00001"
    mails = room.out()
    relayed = only(mails, "carl@customer.test")
    text = text_of(relayed)
    assert "please unplug it" in text
    assert "#priority" not in text and "#assign" not in text
    assert "#priority" not in html_of(relayed)
    raw = relayed.as_string()
    assert "ann@example.com" not in raw  # the agent's own address never reaches the customer
    assert relayed["From"].addresses[0].display_name == "Ann Agent via Test Support"
    assert relayed["From"].addresses[0].addr_spec == "support@example.com"
    assert "Auto-Submitted" not in relayed  # a person wrote it
    # threaded after the customer's first mail and our acknowledgement
    references = str(relayed["References"]).split()
    assert str(ack["In-Reply-To"]) == references[0]
    assert str(relayed["In-Reply-To"]) == str(ack["Message-ID"])
    assert relayed["Subject"] == "Re: [SUP-00001] Printer on fire"
    assert len(mails) == 1  # Ann assigned herself: no assignment notice

    ticket = room.ticket()
    assert ticket["priority"] == "urgent"
    assert ticket["assignee"] == "ann@example.com"
    assert ticket["status"] == "waiting_on_customer"
    assert ticket["first_response_at"] is not None
    types = [e["type"] for e in ticket["events"]]
    for expected in ("priority_changed", "assigned", "first_response", "status_changed"):
        assert expected in types
    agent_message = ticket["messages"][-1]
    assert agent_message["kind"] == "agent" and agent_message["direction"] == "outbound"
    assert "#priority" not in agent_message["body_text"]
    assert "> my printer is on fire" not in agent_message["body_text"]  # quoted history


def test_customer_answer_reopens_and_tells_the_assignee(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#assign me\n\nCould you send a photo?"))
    [relayed] = room.out()
    room.send(reply(relayed, CARL, "Here is more detail: smoke everywhere."))
    mails = room.out()
    assert [recipients(m) for m in mails] == [{"ann@example.com"}]  # not Bob
    assert "smoke everywhere" in text_of(mails[0])
    assert "Could you send a photo" not in text_of(mails[0])  # the quote is folded away
    ticket = room.ticket()
    assert ticket["status"] == "open"
    assert [m["kind"] for m in ticket["messages"]] == ["customer", "agent", "customer"]


def test_unassigned_ticket_customer_answer_tells_everyone_on_duty(room: Mailroom) -> None:
    ack, _ = open_ticket(room)
    room.send(reply(ack, CARL, "One more thing."))
    mails = room.out()
    assert {a for m in mails for a in recipients(m)} == {"ann@example.com", "bob@example.com"}


def test_assigning_someone_else_sends_them_a_notice(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#assign bob@example.com\n"))
    mails = room.out()
    notice_to_bob = only(mails, "bob@example.com")
    assert "Ann Agent" in text_of(notice_to_bob)
    assert not to(mails, "carl@customer.test")  # commands only: nothing to relay
    assert room.ticket()["assignee"] == "bob@example.com"


def test_note_never_reaches_the_customer(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#note\n#priority high\n\nCustomer is a VIP, careful."))
    assert room.out() == []
    ticket = room.ticket()
    note = ticket["messages"][-1]
    assert note["kind"] == "note"
    assert "VIP" in note["body_text"]
    assert ticket["priority"] == "high"
    assert ticket["first_response_at"] is None  # a note is no response
    assert ticket["status"] == "new"


def test_bad_command_line_rejects_the_whole_reply(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#priority high\n#ntoe\n\nSecret internal remark."))
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    error = only(mails, "ann@example.com")
    text = text_of(error)
    assert "#ntoe" in text and "#note" in text
    assert "#status" in text  # the valid syntax
    ticket = room.ticket()
    assert ticket["priority"] == "medium"  # nothing applied
    assert ticket["messages"][-1]["kind"] == "note"
    assert "commands_rejected" in [e["type"] for e in ticket["events"]]


def test_unknown_agent_in_assign_rejects_the_reply(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#assign nobody@example.com\n#status resolved\n\nDone."))
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    assert "not an active agent" in text_of(only(mails, "ann@example.com"))
    assert room.ticket()["status"] == "new"


def test_forged_agent_mail_is_a_flagged_note(room: Mailroom) -> None:
    configure(room, '[security]\ntrusted_authserv_id = "mx.example.com"\n')
    _, notice = open_ticket(room)
    forged = reply(
        notice,
        ANN,
        "#priority low\n#status closed\n\nPlease wire the refund to my account.",
        headers={
            "Authentication-Results": "mx.example.com; spf=fail smtp.mailfrom=example.com;"
            " dkim=none; dmarc=fail header.from=example.com"
        },
    )
    room.send(forged)
    [told] = room.out()  # Ann alone, told why; nothing to the customer
    assert recipients(told) == {"ann@example.com"}
    assert "dmarc=fail" in text_of(told)
    ticket = room.ticket()
    assert ticket["priority"] == "medium" and ticket["status"] == "new"
    note = ticket["messages"][-1]
    assert note["kind"] == "note"
    assert "agent_mail_flagged" in [e["type"] for e in ticket["events"]]
    # the same reply, verified by our mail server, is relayed
    genuine = reply(
        notice,
        ANN,
        "#priority low\n\nThe refund is on its way.",
        headers={"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"},
    )
    room.send(genuine)
    assert "refund is on its way" in text_of(only(room.out(), "carl@customer.test"))
    assert room.ticket()["priority"] == "low"


# -- agents are verified by their signed reply address (design invariant 5) ---------------

PHISHING = (
    "#cc add eve@attacker.test\n\n"
    "Our bank details have changed: please pay invoice 4711 to IBAN XX00 1234 5678."
)
OURS = {"support@example.com", "billing@example.com"}


def reply_to(mail: EmailMessage) -> str:
    [address] = mail["Reply-To"].addresses
    return str(address.addr_spec)


def notified(room: Mailroom, raw: bytes | None = None) -> tuple[EmailMessage, EmailMessage]:
    """A customer writes; returns the acknowledgement and Bob's notification."""
    assert room.send(raw or customer_mail(CARL))["action"] == "created"
    mails = room.out()
    return only(mails, "carl@customer.test"), only(mails, "bob@example.com")


def agent_id(room: Mailroom, email: str) -> int:
    with opened(room.desk.database_url):
        return int(Agent.get(Agent.email == email).id)


def test_notifications_carry_a_reply_address_signed_for_the_agent_and_ticket(
    room: Mailroom,
) -> None:
    room.send(customer_mail(CARL))
    mails = room.out()
    for agent in ("ann@example.com", "bob@example.com"):
        address = reply_to(only(mails, agent))
        assert address.startswith("support+r-1-") and address.endswith("@example.com")
        assert address == address.lower() and len(address) < 64
        token = ReplyToken(1, agent_id(room, agent))
        assert read_reply_address(address, OURS, SECRET) == token
        assert read_reply_address(address.upper(), OURS, SECRET) == token  # MTAs may fold case
    assert reply_to(only(mails, "carl@customer.test")) == "support@example.com"


def test_forged_agent_mail_on_default_settings_is_a_flagged_note(room: Mailroom) -> None:
    """The attack: one mail with Bob's From added the attacker as CC and sent the
    customer a phishing text as "Bob Agent via Test Support"."""
    ack, _ = notified(room)
    line = room.send(customer_mail(BOB, subject=f"Re: {ack['Subject']}", body=PHISHING))
    assert (line["action"], line["ticket"]) == ("appended", "SUP-00001")
    [told] = room.out()  # Bob alone; nothing to the customer, nothing to Eve
    assert recipients(told) == {"bob@example.com"}
    assert "not sent to the agent's signed reply address" in text_of(told)
    assert "invoice 4711" in text_of(told)  # so Bob knows which mail
    assert read_reply_address(reply_to(told), OURS, SECRET) == ReplyToken(
        1, agent_id(room, "bob@example.com")
    )
    ticket = room.ticket()
    assert ticket["cc"] == [] and ticket["status"] == "new"
    assert ticket["messages"][-1]["kind"] == "note"
    [flagged] = [e for e in ticket["events"] if e["type"] == "agent_mail_flagged"]
    assert "sender not verified" in flagged["data"]["reason"]
    # a flood of forgeries does not flood Bob: one notice per ticket and hour
    room.send(customer_mail(BOB, subject=f"Re: {ack['Subject']}", body=PHISHING))
    assert room.out() == []
    assert room.ticket()["cc"] == []
    # Bob's own reply to the notice counts: the same text is applied and relayed
    room.send(reply(told, BOB, PHISHING))
    mails = room.out()
    relayed = only(mails, "carl@customer.test")  # a copy each, to that person alone
    assert recipients(relayed) == {"carl@customer.test"}
    assert recipients(only(mails, "eve@attacker.test")) == {"eve@attacker.test"}
    assert "invoice 4711" in text_of(relayed)
    assert room.ticket()["cc"] == ["eve@attacker.test"]


def test_the_same_text_sent_to_the_agents_reply_address_is_applied(room: Mailroom) -> None:
    ack, notice = notified(room)
    sent = customer_mail(BOB, to=reply_to(notice), subject=f"Re: {ack['Subject']}", body=PHISHING)
    assert room.send(sent)["ticket"] == "SUP-00001"
    relayed = only(room.out(), "carl@customer.test")
    assert str(relayed["From"]).startswith("Bob Agent via Test Support")
    assert "invoice 4711" in text_of(relayed)
    assert room.ticket()["cc"] == ["eve@attacker.test"]


def _other_agent(address: str) -> str:
    return address  # Ann sends to Bob's address


def _other_ticket(address: str) -> str:
    return address.replace("+r-1-", "+r-2-")  # Bob's signature, ticket 2's number


def _tampered(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"


@pytest.mark.parametrize(
    ("sender", "change", "ticket", "why"),
    [
        (ANN, _other_agent, "SUP-00001", "sent to another agent's signed reply address"),
        (BOB, _other_ticket, "SUP-00002", "not sent to the agent's signed reply address"),
        (BOB, _tampered, "SUP-00002", "not sent to the agent's signed reply address"),
    ],
    ids=["another-agents-address", "number-of-another-ticket", "tampered-signature"],
)
def test_a_reply_address_proves_only_its_agent_and_ticket(
    room: Mailroom, sender: str, change: Any, ticket: str, why: str
) -> None:
    """Ann writing to Bob's address is not Bob, and is not verified as Ann: the mail
    joins the ticket the address names (ours, signed) as a flagged note. An address
    whose number or signature was changed is not ours: the mail goes where its
    subject tag leads (here ticket 2), flagged too."""
    _, bobs = notified(room)
    second_ack, _ = notified(room, customer_mail(CARL, subject="Second question"))
    mail = customer_mail(
        sender, to=change(reply_to(bobs)), subject=f"Re: {second_ack['Subject']}", body=PHISHING
    )
    line = room.send(mail)
    assert (line["action"], line["ticket"]) == ("appended", ticket)
    [told] = room.out()
    assert recipients(told) == {sender.split("<")[1].rstrip(">")}
    assert why in text_of(told)
    shown = room.ticket(ticket)
    assert shown["cc"] == [] and shown["messages"][-1]["kind"] == "note"


def test_the_reply_address_decides_the_ticket(room: Mailroom) -> None:
    """Bob answers ticket 1's notification but leaves ticket 2's tag in the subject:
    his signed address names ticket 1, and that is where the reply counts."""
    _, bobs = notified(room)
    notified(room, customer_mail(CARL, subject="Second question"))
    mail = customer_mail(
        BOB, to=reply_to(bobs), subject="Re: [SUP-00002] Second question", body="On it."
    )
    assert room.send(mail)["ticket"] == "SUP-00001"
    relayed = only(room.out(), "carl@customer.test")
    assert "[SUP-00001]" in str(relayed["Subject"]) and "On it." in text_of(relayed)


def test_forged_agent_mail_opening_a_new_ticket(room: Mailroom) -> None:
    line = room.send(customer_mail(BOB, subject="New bank details", body=PHISHING))
    assert (line["action"], line["ticket"]) == ("created", "SUP-00001")
    [told] = room.out()  # no acknowledgement, Ann not notified: only Bob, told why
    assert recipients(told) == {"bob@example.com"}
    assert "not taken as yours" in text_of(told)
    ticket = room.ticket()
    assert [m["kind"] for m in ticket["messages"]] == ["note"]
    assert ticket["cc"] == []
    assert "agent_mail_flagged" in [e["type"] for e in ticket["events"]]
    # Bob did write it: his reply to the notice counts on that ticket
    room.send(reply(told, BOB, "#priority high\n#note\n\nReal this time."))
    assert room.ticket()["priority"] == "high"


def test_verified_agent_opening_a_new_ticket_is_as_before(room: Mailroom) -> None:
    configure(room, '[security]\ntrusted_authserv_id = "mx.example.com"\n')
    passed = {"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"}
    line = room.send(customer_mail(BOB, subject="Printer order", headers=passed))
    assert line["action"] == "created"
    mails = room.out()
    assert "Printer order" in str(only(mails, "ann@example.com")["Subject"])
    kinds = sorted(str(m["Auto-Submitted"]) for m in to(mails, "bob@example.com"))
    assert kinds == ["auto-generated", "auto-replied"]  # notified, and the ack
    assert [m["kind"] for m in room.ticket()["messages"]] == ["agent"]


def test_trusting_the_from_header_is_explicit_and_warned_about(room: Mailroom) -> None:
    checked = room.desk.run("check-config")
    assert checked.exit_code == 0 and "trust_from_header" not in checked.stderr
    configure(room, "[security]\ntrust_from_header = true\n")
    checked = room.desk.run("check-config")
    assert checked.exit_code == 0
    assert "warning: [security] trust_from_header is on" in checked.stderr
    ack, _ = notified(room)
    room.send(customer_mail(BOB, subject=f"Re: {ack['Subject']}", body=PHISHING))
    assert "invoice 4711" in text_of(only(room.out(), "carl@customer.test"))


def test_only_the_topmost_authentication_results_count(room: Mailroom) -> None:
    """Our server's header on top says spf=fail; a dmarc=pass with its id below the
    Received of the hop that brought the mail was written by the sender."""
    configure(room, '[security]\ntrusted_authserv_id = "mx.example.com"\n')
    ack, _ = notified(room)
    forged = customer_mail(
        BOB,
        subject=f"Re: {ack['Subject']}",
        body=PHISHING,
        headers={"Authentication-Results": "mx.example.com; dmarc=pass header.from=example.com"},
    )
    top = (
        b"Authentication-Results: mx.example.com; spf=fail smtp.mailfrom=example.com\n"
        b"Received: from relay.attacker.test by mx.example.com; Mon, 7 Dec 2026 02:00:00 +0000\n"
    )
    room.send(top + forged)
    [told] = room.out()
    assert recipients(told) == {"bob@example.com"}
    assert "spf=fail smtp.mailfrom=example.com (mx.example.com)" in text_of(told)
    assert room.ticket()["cc"] == []


def test_agent_out_of_office_is_not_relayed(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    ooo = reply(
        notice, ANN, "I am on holiday until Monday.", headers={"Auto-Submitted": "auto-replied"}
    )
    room.send(ooo)
    assert room.out() == []
    note = room.ticket()["messages"][-1]
    assert note["kind"] == "note"


def test_template_inserts_a_canned_response(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#template need-more-info\n", quote=False))
    relayed = only(room.out(), "carl@customer.test")
    assert len(text_of(relayed).strip()) > 50
    assert "#template" not in text_of(relayed)


def test_unknown_template_is_an_error(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#template no-such-thing\n\nHello"))
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    assert "no-such-thing" in text_of(only(mails, "ann@example.com"))


def test_resolve_without_text_sends_the_resolved_notice(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#resolve\n"))
    resolved = only(room.out(), "carl@customer.test")
    assert "/t/SUP-00001/" in text_of(resolved) and "/rate" in text_of(resolved)
    ticket = room.ticket()
    assert ticket["status"] == "resolved" and ticket["resolved_at"] is not None


def test_reply_with_status_resolved_carries_the_satisfaction_link(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#status resolved\n\nFixed it for you."))
    mails = room.out()
    relayed = only(mails, "carl@customer.test")
    assert "Fixed it for you" in text_of(relayed) and "/rate" in text_of(relayed)
    assert room.ticket()["status"] == "resolved"


def test_cc_added_by_command_receives_the_next_reply(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#cc add dora@customer.test\n\nCopying your colleague."))
    mails = room.out()
    carls, doras = only(mails, "carl@customer.test"), only(mails, "dora@customer.test")
    for copy in (carls, doras):  # a copy each, showing everyone it went to
        assert "Copying your colleague" in text_of(copy)
        assert "carl@customer.test" in copy["To"] and "dora@customer.test" in copy["Cc"]
    links = [re.findall(r"/t/SUP-00001/[0-9a-f-]+", text_of(m)) for m in (carls, doras)]
    assert links[0] and links[1] and set(links[0]).isdisjoint(links[1])  # each their own
    assert carls["In-Reply-To"] == doras["In-Reply-To"]
    assert "dora@customer.test" in room.ticket()["cc"]


def test_merge_moves_messages_and_later_mail_lands_in_the_survivor(room: Mailroom) -> None:
    open_ticket(room)
    second_ack, second_notice = open_ticket(room, customer_mail(CARL, subject="Still on fire"))
    room.send(reply(second_notice, ANN, "#merge SUP-00001\n"))
    room.out()
    merged = room.ticket("SUP-00002")
    assert merged["merged_into"] == "SUP-00001" and merged["status"] == "closed"
    assert merged["messages"] == []
    survivor = room.ticket("SUP-00001")
    assert any("Still on fire" in (m["subject"] or "") for m in survivor["messages"])
    # the customer answers the acknowledgement of the merged ticket
    line = room.send(reply(second_ack, CARL, "Any news?"))
    assert line["ticket"] == "SUP-00001"


def test_merge_into_itself_is_an_error(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#merge SUP-1\n"))
    assert "this ticket" in text_of(only(room.out(), "ann@example.com"))


# -- loops and abuse ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "action"),
    [
        (customer_mail("Support <support@example.com>"), "ignored"),
        (customer_mail(CARL, headers={"X-Loop": "support@example.com"}), "ignored"),
        (customer_mail(CARL, headers={"Auto-Submitted": "auto-replied"}), "ignored"),
        (
            customer_mail("MAILER-DAEMON <mailer-daemon@customer.test>", subject="Undeliverable"),
            "ignored",
        ),
        (
            customer_mail(CARL, headers={"List-Id": "<news.customer.test>", "Precedence": "list"}),
            "created",
        ),
    ],
    ids=["from-us", "our-loop-header", "auto-reply", "bounce", "list-mail"],
)
def test_automated_mail_gets_no_answer(room: Mailroom, raw: bytes, action: str) -> None:
    assert room.send(raw)["action"] == action
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    assert not to(mails, "support@example.com")
    if action == "created":  # agents are told, with a warning
        assert to(mails, "ann@example.com")


def test_automatic_mail_per_address_is_capped(room: Mailroom) -> None:
    configure(room, outbound="auto_limit_per_hour = 3")
    for n in range(5):
        room.send(customer_mail(CARL, subject=f"Question {n}"))
    acks = to(room.out(), "carl@customer.test")
    assert len(acks) == 3
    held = [e for e in room.ticket("SUP-00005")["events"] if e["type"] == "mail_held"]
    assert held and "automatic mails in the last hour" in held[0]["data"]["reason"]


def test_new_tickets_per_sender_are_capped_without_losing_mail(room: Mailroom) -> None:
    configure(room, "[tickets]\nmax_new_per_sender_per_hour = 2\n")
    lines = [room.send(customer_mail(CARL, subject=f"Spam {n}")) for n in range(4)]
    assert [line["action"] for line in lines] == ["created", "created", "appended", "appended"]
    assert [line["ticket"] for line in lines] == [
        "SUP-00001",
        "SUP-00002",
        "SUP-00002",
        "SUP-00002",
    ]
    assert len(to(room.out(), "carl@customer.test")) == 2  # no acks for the appended ones
    ticket = room.ticket("SUP-00002")
    assert len([m for m in ticket["messages"] if m["kind"] == "customer"]) == 3
    assert "rate_limited" in [e["type"] for e in ticket["events"]]


def test_hostile_display_name_never_reaches_a_header(room: Mailroom) -> None:
    raw = (
        b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40else.test?= <eve@customer.test>\r\n"
        b"To: support@example.com\r\nSubject: =?utf-8?q?Hi=0D=0ABcc=3A_x=40else.test?=\r\n"
        b"Message-ID: <eve1@customer.test>\r\n\r\nHello\r\n"
    )
    assert room.send(raw)["action"] == "created"
    mails = room.out()
    assert mails  # the name and subject cannot break out of their headers
    for mail in mails:
        assert mail.get("Bcc") is None
        assert "else.test" not in recipients(mail)


# -- the outbox from the CLI --------------------------------------------------------------


def test_outbox_list_and_retry(room: Mailroom, tmp_path: Path) -> None:
    configure(room, outbound='mode = "smtp"\nport = 1\ntls = "none"\ntimeout = 2\nretry_base = 1')
    room.send(customer_mail(CARL))
    result = room.desk.run("outbox", "send")
    assert result.exit_code == 0
    [pending, *_] = room.desk.json("outbox", "list", "--status", "pending")
    assert pending["attempts"] == 1 and "127.0.0.1:1" in pending["last_error"]
    assert pending["ticket"] == "SUP-00001"
    assert room.desk.run("outbox", "retry", "999").exit_code == 1
    assert room.desk.run("outbox", "retry").exit_code == 2
    assert room.desk.run("outbox", "retry", "--all").exit_code == 0


def test_agent_attachments_are_relayed(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    answer = EmailMessage()
    answer["From"] = ANN
    answer["To"] = str(notice["Reply-To"])
    answer["Subject"] = f"Re: {notice['Subject']}"
    answer["In-Reply-To"] = str(notice["Message-ID"])
    answer["Message-ID"] = "<ann-attach@example.com>"
    answer.set_content("Here is the manual.")
    answer.add_attachment(
        b"%PDF-1.4 manual", maintype="application", subtype="pdf", filename="manual.pdf"
    )
    room.send(answer.as_bytes())
    relayed = only(room.out(), "carl@customer.test")
    [part] = list(relayed.iter_attachments())
    assert part.get_filename() == "manual.pdf"
    assert part.get_content() == b"%PDF-1.4 manual"


def test_admin_templates_override_the_built_in_ones(room: Mailroom) -> None:
    folder = room.desk.root / "my-templates" / "mail"
    folder.mkdir(parents=True)
    (folder / "ack.txt").write_text("We got it: {{ ticket.label }}. -- {{ desk.name }}\n")
    (folder / "ack.html").write_text("<p>We got it: {{ ticket.label }}</p>\n")
    configure(room, outbound='templates = "my-templates"')
    assert room.desk.run("check-config").exit_code == 0
    ack, notice = open_ticket(room)
    assert text_of(ack).strip() == "We got it: SUP-00001. -- Test Support"
    assert "#priority" in text_of(notice)  # the other templates stay built-in


def test_broken_template_override_is_a_config_error(room: Mailroom) -> None:
    folder = room.desk.root / "my-templates" / "mail"
    folder.mkdir(parents=True)
    (folder / "ack.txt").write_text("Hello {{ ticket.nmae }}\n")
    configure(room, outbound='templates = "my-templates"')
    for command in (("check-config",), ("ingest", "-")):
        result = room.desk.run(*command, input=customer_mail(CARL))
        assert result.exit_code == 2, (command, result.output)
        assert "outbound.templates" in result.stderr and "ack.txt" in result.stderr
    daemon = run_daemon(room.desk)
    assert daemon.returncode == 2 and "outbound.templates" in daemon.stderr
    configure(room, outbound='templates = "no-such-folder"')
    assert room.desk.run("check-config").exit_code == 2


def test_smtp_login_without_a_password_is_a_config_error(room: Mailroom) -> None:
    configure(room, outbound='mode = "smtp"\nusername = "desk"')
    result = room.desk.run("check-config")
    assert result.exit_code == 2 and "outbound.password_env" in result.stderr
    daemon = run_daemon(room.desk)
    assert daemon.returncode == 2 and "outbound.password_env" in daemon.stderr


def run_daemon(desk: Install) -> subprocess.CompletedProcess[str]:
    """`maildesk run` that is expected to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "maildesk", "run", "--config", str(desk.config_path)],
        cwd=desk.root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tags_category_and_status_commands(room: Mailroom) -> None:
    _, notice = open_ticket(room)
    room.send(reply(notice, ANN, "#tag printer Fire\n#category Hardware\n#status in_progress\n"))
    ticket = room.ticket()
    assert (ticket["category"], ticket["status"]) == ("Hardware", "in_progress")
    assert ticket["tags"] == ["fire", "printer"]
    room.send(reply(notice, ANN, "#tag -fire urgent\n#category none\n\nWe are on it."))
    ticket = room.ticket()
    assert ticket["tags"] == ["printer", "urgent"]
    assert ticket["category"] is None
    assert ticket["status"] == "waiting_on_customer"  # a reply without #status
    changes = [e for e in ticket["events"] if e["type"] == "tags_changed"]
    assert changes[-1]["data"] == {"added": ["urgent"], "removed": ["fire"]}
    assert [e["data"]["after"] for e in ticket["events"] if e["type"] == "category_changed"] == [
        "Hardware",
        None,
    ]
