"""core.match and core.msgid: ticket numbers, subject tags, signed ids, the matching decision."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.core.autoreply import Classification, MailKind
from maildesk.core.match import (
    Action,
    Sender,
    TicketFacts,
    TicketLabel,
    decide,
    format_number,
    parse_label,
    parse_number,
    strip_tags,
    subject_labels,
    thread_refs,
)
from maildesk.core.msgid import make_message_id, verify_message_id

SECRET = b"k" * 32
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
HUMAN = Classification(MailKind.HUMAN, "no automation signal")


@pytest.mark.parametrize(
    ("number", "label"), [(1, "SUP-00001"), (42, "SUP-00042"), (123456, "SUP-123456")]
)
def test_format_number_pads_to_five_digits(number: int, label: str) -> None:
    assert format_number("SUP", number) == label


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[SUP-00042] Printer on fire", [42]),
        ("Re: [SUP-00042] Printer on fire", [42]),
        ("RE: AW: Fwd: [sup-42] x", [42]),
        ("Re: [SUP-42]", [42]),
        ("[ SUP - 00042 ] folded", [42]),  # whitespace left where a header was folded
        ("[SUP-7] and [SUP-00007] and [SUP-8]", [7, 8]),
        ("[ABC-00042] another desk", []),
        ("SUP-00042 without brackets", []),
        ("[SUP-] nothing", []),
        ("[SUP-00000] zero is no ticket", []),
        ("[SUPPORT-00042] longer prefix", []),
    ],
)
def test_subject_labels(subject: str, expected: list[int]) -> None:
    assert subject_labels(subject, "SUP") == [TicketLabel("SUP", n) for n in expected]


def test_subject_labels_of_several_desks_in_their_configured_spelling() -> None:
    found = subject_labels("Re: [it-7] [HR-00007] [Sup-7] [OPS-9]", ("IT", "HR", "SUP"))
    assert found == [TicketLabel("IT", 7), TicketLabel("HR", 7), TicketLabel("SUP", 7)]


def test_strip_tags_keeps_the_rest_of_the_subject() -> None:
    assert strip_tags("Re: [SUP-00042]   Printer  on fire", "SUP") == "Re: Printer on fire"
    assert strip_tags("[SUP-1]", "SUP") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SUP-00042", 42),
        ("sup-42", 42),
        ("42", 42),
        ("[SUP-00042]", 42),
        ("ABC-1", None),
        ("SUP-", None),
        ("x", None),
    ],
)
def test_parse_number(text: str, expected: int | None) -> None:
    assert parse_number("SUP", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("it-00042", TicketLabel("IT", 42)),
        ("[HR-7]", TicketLabel("HR", 7)),
        ("42", TicketLabel(None, 42)),
        ("OPS-1", None),
        ("IT-1234567890123456789", None),  # more than 18 digits
    ],
)
def test_parse_label_keeps_the_desk_prefix(text: str, expected: TicketLabel | None) -> None:
    assert parse_label(("IT", "HR"), text) == expected


def test_signed_message_id_round_trip_and_tampering() -> None:
    mid = make_message_id("SUP-00042", 42, SECRET, "example.com")
    assert mid.startswith("<SUP-00042.") and mid.endswith("@example.com>")
    assert verify_message_id(mid, SECRET) == 42
    assert verify_message_id(mid, b"another key") is None
    forged = mid.replace("SUP-00042.", "SUP-00043.", 1)
    assert verify_message_id(forged, SECRET) is None
    assert verify_message_id("<abc@example.com>", SECRET) is None


@given(st.integers(min_value=1, max_value=10**12), st.text(min_size=1, max_size=40))
def test_signatures_only_verify_for_their_own_number(number: int, key: str) -> None:
    secret = key.encode()
    mid = make_message_id(format_number("SUP", number), number, secret, "d.example")
    assert verify_message_id(mid, secret) == number


def _facts(number: int, *participants: str, status: str = "open", **kw: object) -> TicketFacts:
    return TicketFacts(
        number,
        status,
        kw.get("closed_at"),  # type: ignore[arg-type]
        frozenset(participants),
        kw.get("merged_into"),
    )  # type: ignore[arg-type]


def _sender(email: str, agent: bool = False, ours: bool = False) -> Sender:
    return Sender(email, agent, ours)


def _refs(subject: str = "", in_reply_to: tuple[str, ...] = (), refs: tuple[str, ...] = ()):
    # With one number sequence, a tag's number is the ticket's (`tickets.labels`).
    tagged = [label.number for label in subject_labels(subject, "SUP")]
    return thread_refs(in_reply_to, refs, tagged, SECRET)


def test_participant_with_tag_appends() -> None:
    d = decide(
        _refs("Re: [SUP-00042] x"),
        {42: _facts(42, "a@x.example")},
        {},
        _sender("a@x.example"),
        HUMAN,
        NOW,
        14,
    )
    assert (d.action, d.ticket) == (Action.APPEND, 42)


def test_stranger_with_tag_gets_new_ticket_with_reference_noted() -> None:
    d = decide(
        _refs("Re: [SUP-00042] x"),
        {42: _facts(42, "a@x.example")},
        {},
        _sender("evil@y.example"),
        HUMAN,
        NOW,
        14,
    )
    assert d.action is Action.CREATE
    assert d.untrusted == (42,)


def test_signed_id_lets_anyone_in() -> None:
    mid = make_message_id("SUP-00042", 42, SECRET, "example.com")
    d = decide(
        _refs("no tag", in_reply_to=(mid,)),
        {42: _facts(42, "a@x.example")},
        {},
        _sender("forwarded-to@z.example"),
        HUMAN,
        NOW,
        14,
    )
    assert (d.action, d.ticket) == (Action.APPEND, 42)


def test_known_message_id_needs_a_participant() -> None:
    known = {"<orig@x.example>": 42}
    facts = {42: _facts(42, "a@x.example")}
    ok = decide(
        _refs(refs=("<orig@x.example>",)), facts, known, _sender("a@x.example"), HUMAN, NOW, 14
    )
    stranger = decide(
        _refs(refs=("<orig@x.example>",)), facts, known, _sender("m@y.example"), HUMAN, NOW, 14
    )
    assert (ok.action, ok.ticket) == (Action.APPEND, 42)
    assert stranger.action is Action.CREATE


def test_agents_may_write_into_any_ticket_by_tag() -> None:
    d = decide(
        _refs("[SUP-00042]"),
        {42: _facts(42, "a@x.example")},
        {},
        _sender("agent@example.com", agent=True),
        HUMAN,
        NOW,
        14,
    )
    assert (d.action, d.ticket) == (Action.APPEND, 42)


def test_merged_ticket_leads_to_survivor() -> None:
    facts = {17: _facts(17, "a@x.example", merged_into=99), 99: _facts(99, "a@x.example")}
    d = decide(_refs("[SUP-17]"), facts, {}, _sender("a@x.example"), HUMAN, NOW, 14)
    assert (d.action, d.ticket) == (Action.APPEND, 99)


def test_own_address_is_ignored() -> None:
    d = decide(_refs("hi"), {}, {}, _sender("support@example.com", ours=True), HUMAN, NOW, 14)
    assert d.action is Action.IGNORE


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        (MailKind.BOUNCE, Action.IGNORE),
        (MailKind.AUTO_REPLY, Action.IGNORE),
        (MailKind.COMPLAINT, Action.IGNORE),
        (MailKind.BULK, Action.CREATE),
    ],
)
def test_automated_mail_without_ticket(kind: MailKind, action: Action) -> None:
    d = decide(_refs("x"), {}, {}, _sender("a@x.example"), Classification(kind, "sig"), NOW, 14)
    assert d.action is action


def test_automated_mail_appends_to_its_ticket() -> None:
    d = decide(
        _refs("Re: [SUP-5]"),
        {5: _facts(5, "a@x.example")},
        {},
        _sender("a@x.example"),
        Classification(MailKind.AUTO_REPLY, "Auto-Submitted"),
        NOW,
        14,
    )
    assert (d.action, d.ticket) == (Action.APPEND, 5)


@pytest.mark.parametrize(
    ("status", "closed_days_ago", "action", "reopen"),
    [
        ("open", None, Action.APPEND, False),
        ("resolved", None, Action.APPEND, True),
        ("closed", 3, Action.APPEND, True),
        ("closed", 14, Action.APPEND, True),
        ("closed", 15, Action.CREATE, False),
    ],
)
def test_closed_tickets_reopen_within_the_window(
    status: str, closed_days_ago: int | None, action: Action, reopen: bool
) -> None:
    closed_at = NOW - dt.timedelta(days=closed_days_ago) if closed_days_ago else None
    facts = {5: _facts(5, "a@x.example", status=status, closed_at=closed_at)}
    d = decide(_refs("Re: [SUP-5]"), facts, {}, _sender("a@x.example"), HUMAN, NOW, 14)
    assert (d.action, d.reopen) == (action, reopen)
    if action is Action.CREATE:
        assert d.follows == 5


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_agents_always_write_into_the_ticket(status: str) -> None:
    """Even long closed: an agent's note or reply belongs to that ticket, and the
    agent's mail never reopens it by itself (their #commands may)."""
    facts = {5: _facts(5, "a@x.example", status=status, closed_at=NOW - dt.timedelta(days=400))}
    d = decide(
        _refs("Re: [SUP-5]"), facts, {}, _sender("ann@example.com", agent=True), HUMAN, NOW, 14
    )
    assert (d.action, d.ticket, d.reopen, d.follows) == (Action.APPEND, 5, False, None)
