"""@mentions and followers, by mail: agents reply to their notifications with `#note`
and `@name`, `#follow` and `#unfollow`; `maildesk ingest` takes the mail in and
`maildesk outbox send` writes what maildesk sends into the outbox maildir.

On SQLite and PostgreSQL. The web and API ways in are in test_followers_web.py.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from maildesk.core.reply_address import ReplyToken, read_reply_address
from maildesk.store.models import Agent, Follower
from tests.conftest import Install, opened
from tests.conversation import customer_mail, recipients, reply, text_of

SECRET = b"test-secret-key"
CARL = "Carl Customer <carl@customer.test>"
ANN = "Ann Agent <ann@example.com>"
BOB = "Bob Agent <bob@example.com>"
CAROL = "Carol Agent <carol@example.com>"


class Room:
    """One desk: mail in through `ingest`, mail out through `outbox send`."""

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
        from tests.conversation import maildir_mails

        result = self.desk.run("outbox", "send")
        assert result.exit_code == 0, result.output
        folder = self.desk.root / "outbox"
        mails = maildir_mails(folder) if folder.exists() else []
        new, self.seen = mails[self.seen :], len(mails)
        return new

    def ticket(self, label: str = "SUP-00001") -> dict[str, Any]:
        ticket = self.desk.json("tickets", "show", label)
        assert isinstance(ticket, dict)
        return ticket

    def followers(self, number: int = 1) -> dict[str, str]:
        """Who follows ticket `number`, and how they came to."""
        with opened(self.desk.database_url):
            query = Follower.select(Follower, Agent).join(Agent)
            return {f.agent.email: f.how for f in query.where(Follower.ticket == number)}


def to(mails: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in mails if address in recipients(m)]


def only(mails: list[EmailMessage], address: str) -> EmailMessage:
    found = to(mails, address)
    assert len(found) == 1, [(m["To"], m["Subject"]) for m in mails]
    return found[0]


def events(room: Room, type_: str, label: str = "SUP-00001") -> list[dict[str, Any]]:
    return [e for e in room.ticket(label)["events"] if e["type"] == type_]


@pytest.fixture
def room(desk: Install) -> Room:
    room = Room(desk)
    room.agent("ann@example.com", "Ann Agent")
    room.agent("bob@example.com", "Bob Agent")
    room.agent("carol@example.com", "Carol Agent")
    return room


def opened_ticket(room: Room, subject: str = "Printer on fire") -> dict[str, EmailMessage]:
    """A customer writes; the mails sent, by recipient."""
    assert room.send(customer_mail(CARL, subject=subject))["action"] == "created"
    mails = room.out()
    return {next(iter(recipients(m))): m for m in mails}


def assigned_to_ann(room: Room) -> EmailMessage:
    """A ticket assigned to Ann (by Ann); returns her notification of it."""
    notice = opened_ticket(room)["ann@example.com"]
    room.send(reply(notice, ANN, "#assign me\n"))
    assert room.out() == []
    return notice


# -- mentions in a note -----------------------------------------------------------------


def test_a_mention_in_a_note_tells_the_agent_and_makes_them_follow(room: Room) -> None:
    notice = assigned_to_ann(room)
    room.send(reply(notice, ANN, "#note\n\n@bob can you check the toner order?"))
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    told = only(mails, "bob@example.com")
    assert [recipients(m) for m in mails] == [{"bob@example.com"}]  # not Ann, not Carol
    text = text_of(told)
    assert "Ann Agent mentioned you" in text
    assert "can you check the toner order?" in text
    assert "http://127.0.0.1:8080/tickets/SUP-00001" in text  # the ticket page
    assert told["Subject"].endswith("[SUP-00001] Printer on fire")
    [address] = told["Reply-To"].addresses  # Bob's signed reply address for this ticket
    with opened(room.desk.database_url):
        bob_id = Agent.get(Agent.email == "bob@example.com").id
    token = read_reply_address(address.addr_spec, {"support@example.com"}, SECRET)
    assert token == ReplyToken(1, bob_id)
    assert room.followers() == {"bob@example.com": "mention"}
    assert [e["data"] for e in events(room, "followed")] == [
        {"agent": "bob@example.com", "how": "mention"}
    ]
    [mentioned] = events(room, "mentioned")
    assert mentioned["actor"] == "ann@example.com"
    assert mentioned["data"]["agents"] == ["bob@example.com"]
    assert room.ticket()["messages"][-1]["kind"] == "note"

    # Bob answers the mention mail with a note of his own: it is applied as his.
    room.send(reply(told, BOB, "#note\n\nOrdered, arrives Friday."))
    assert room.out() == []  # Ann does not follow; Bob does not hear of his own note
    assert room.ticket()["messages"][-1]["body_text"] == "Ordered, arrives Friday."


def test_full_address_and_case_and_several_mentions(room: Room) -> None:
    notice = assigned_to_ann(room)
    body = "#note\n\n@Bob and @carol@example.com: see the logs. Mail bob@example.com if not."
    room.send(reply(notice, ANN, body))
    mails = room.out()
    assert {a for m in mails for a in recipients(m)} == {"bob@example.com", "carol@example.com"}
    assert room.followers() == {"bob@example.com": "mention", "carol@example.com": "mention"}


def test_mentions_in_quoted_history_and_addresses_are_not_mentions(room: Room) -> None:
    notice = opened_ticket(room, subject="Ask @carol")["ann@example.com"]
    # The quoted notification holds "@carol" (the subject); the text an address.
    room.send(reply(notice, ANN, "#note\n\nWrote to carol@example.com, `@bob` is a handle."))
    assert room.out() == []
    assert room.followers() == {}
    assert events(room, "commands_rejected") == []


def test_a_mention_in_a_reply_to_the_customer_is_held(room: Room) -> None:
    notice = assigned_to_ann(room)
    room.send(reply(notice, ANN, "#priority high\n\nHello Carl, @bob will call you."))
    mails = room.out()
    assert not to(mails, "carl@customer.test")
    assert not to(mails, "bob@example.com")
    error = text_of(only(mails, "ann@example.com"))
    assert "@bob" in error and "would reach them" in error
    ticket = room.ticket()
    assert ticket["priority"] == "medium"  # nothing applied
    assert ticket["messages"][-1]["kind"] == "note"  # the reply is kept as a note
    assert ticket["first_response_at"] is None
    assert room.followers() == {}
    [rejected] = events(room, "commands_rejected")
    assert any("@bob" in e for e in rejected["data"]["errors"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("@dave please look", "@dave: not an agent of this desk"),
        ("@carl@customer.test please look", "@carl@customer.test: not an agent"),
        ("@gone please look", "@gone: not an agent"),  # inactive
    ],
)
def test_a_mention_of_someone_who_is_not_an_agent_is_an_error(
    room: Room, body: str, message: str
) -> None:
    room.agent("gone@example.com", "Gone Agent")
    assert room.desk.run("agents", "set", "gone@example.com", "--inactive").exit_code == 0
    notice = assigned_to_ann(room)
    room.send(reply(notice, ANN, f"#note\n#tag vip\n\n{body}"))
    mails = room.out()
    assert message in text_of(only(mails, "ann@example.com"))
    assert len(mails) == 1
    assert room.followers() == {}
    assert room.ticket()["tags"] == []  # the whole reply held


def test_an_ambiguous_name_is_an_error_naming_the_candidates(room: Room) -> None:
    room.agent("bob@example.org", "Other Bob")
    notice = assigned_to_ann(room)
    room.send(reply(notice, ANN, "#note\n\n@bob please look"))
    error = text_of(only(room.out(), "ann@example.com"))
    assert "bob@example.com" in error and "bob@example.org" in error
    assert room.followers() == {}


# -- followers hear of later mail -------------------------------------------------------


def test_followers_get_later_customer_messages_once(room: Room) -> None:
    notice = assigned_to_ann(room)
    room.send(reply(notice, ANN, "#note\n#follow\n\n@bob FYI"))  # Ann follows and is assignee
    room.out()
    assert room.followers() == {"ann@example.com": "follow", "bob@example.com": "mention"}
    room.send(reply(notice, ANN, "On its way."))
    [relayed] = room.out()
    room.send(reply(relayed, CARL, "Still smoking."))
    mails = room.out()
    assert sorted(a for m in mails for a in recipients(m)) == [
        "ann@example.com",
        "bob@example.com",
    ]  # the assignee once, the follower once, Carol (not following) nothing
    for mail in mails:
        assert "Still smoking." in text_of(mail)


def test_follow_and_unfollow_by_mail(room: Room) -> None:
    mails = opened_ticket(room)
    room.send(reply(mails["carol@example.com"], CAROL, "#follow\n"))
    assert room.out() == []
    assert room.followers() == {"carol@example.com": "follow"}
    # Ann's note: Carol hears of it; Ann (its author) and Bob do not.
    room.send(reply(mails["ann@example.com"], ANN, "#note\n\nCalled the customer."))
    told = room.out()
    assert [recipients(m) for m in told] == [{"carol@example.com"}]
    assert "Internal note by Ann Agent" in text_of(told[0])
    assert "Called the customer." in text_of(told[0])
    # Nobody is assigned: everyone on duty hears of the customer, Carol once.
    room.send(customer_mail(CARL, subject="Re: [SUP-00001] Printer on fire"))
    assert sorted(a for m in room.out() for a in recipients(m)) == [
        "ann@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    room.send(reply(told[0], CAROL, "#unfollow\n"))
    room.out()
    assert room.followers() == {}
    room.send(reply(mails["ann@example.com"], ANN, "#note\n\nSecond call."))
    assert room.out() == []
    assert [e["data"] for e in events(room, "unfollowed")] == [{"agent": "carol@example.com"}]


def test_follow_and_unfollow_in_one_reply_conflict(room: Room) -> None:
    mails = opened_ticket(room)
    room.send(reply(mails["bob@example.com"], BOB, "#follow\n#unfollow\n"))
    assert "conflicts with line 1" in text_of(only(room.out(), "bob@example.com"))
    assert room.followers() == {}


def test_away_and_inactive_followers_hear_nothing(room: Room) -> None:
    notice = assigned_to_ann(room)
    room.send(reply(notice, ANN, "#note\n\n@bob @carol look"))
    room.out()
    assert room.desk.run("agents", "set", "bob@example.com", "--away").exit_code == 0
    assert room.desk.run("agents", "set", "carol@example.com", "--inactive").exit_code == 0
    room.send(reply(notice, ANN, "#note\n\nAnother thing."))
    assert room.out() == []


def test_followers_move_with_a_merge(room: Room) -> None:
    opened_ticket(room)
    second = opened_ticket(room, subject="Still on fire")
    room.send(reply(second["bob@example.com"], BOB, "#follow\n"))
    room.send(reply(second["ann@example.com"], ANN, "#merge SUP-00001\n"))
    room.out()
    assert room.followers(1) == {"bob@example.com": "follow"}
    assert room.followers(2) == {}
    assert [e["data"] for e in events(room, "followed")] == [
        {"agent": "bob@example.com", "how": "follow"}
    ]
    # Bob follows the survivor: a customer's answer to it reaches him (and everyone
    # on duty, as nobody is assigned), once.
    room.send(customer_mail(CARL, subject="Re: [SUP-00001] Printer on fire"))
    assert sorted(a for m in room.out() for a in recipients(m)) == [
        "ann@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    room.send(reply(second["ann@example.com"], ANN, "#note\n\nMerged, see the first."))
    assert [recipients(m) for m in room.out()] == [{"bob@example.com"}]


def test_follow_changes_are_internal_webhook_events() -> None:
    from maildesk.core.event_names import UPDATED, PublicEvent, public_event

    for entry in ("followed", "unfollowed", "mentioned"):
        assert public_event(entry, {}) == PublicEvent(UPDATED, True)


def test_the_cheat_sheet_and_help_list_follow_and_unfollow(room: Room) -> None:
    result = room.desk.run("help", "commands")
    assert result.exit_code == 0, result.output
    assert "#follow" in result.output and "#unfollow" in result.output
    notice = opened_ticket(room)["ann@example.com"]
    assert "#unfollow" in text_of(notice)


def test_a_follower_mentioned_in_a_note_gets_one_mail(room: Room) -> None:
    mails = opened_ticket(room)
    room.send(reply(mails["carol@example.com"], CAROL, "#follow\n"))
    room.send(reply(mails["ann@example.com"], ANN, "#note\n\n@carol see above"))
    told = room.out()
    assert [recipients(m) for m in told] == [{"carol@example.com"}]
    assert "Ann Agent mentioned you" in text_of(told[0])
    assert room.followers() == {"carol@example.com": "follow"}  # as she came to
