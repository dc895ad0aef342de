"""Which ticket does a message belong to? Pure decisions over facts the pipeline gathers.

Order of evidence (design invariant 4):
1. one of our signed Message-IDs in In-Reply-To/References: trusted, whoever sends;
2. a Message-ID we stored earlier in a ticket, or a subject tag `[SUP-00042]`:
   trusted only when the sender is a participant of that ticket (or an agent);
3. otherwise a new ticket, noting any reference that was not trusted.
Merged tickets are followed to their survivor before anything else; a closed
ticket is reopened within `reopen_days`, later a new ticket links to it (agents'
mail always joins the ticket: their commands say what becomes of it).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from maildesk.core.autoreply import Classification, MailKind
from maildesk.core.msgid import verify_message_id
from maildesk.core.vocabulary import CLOSED, OnReply, on_customer_reply

NUMBER_WIDTH = 5


def format_number(prefix: str, number: int) -> str:
    """`SUP-00042`: the prefix and at least five digits."""
    return f"{prefix}-{number:0{NUMBER_WIDTH}d}"


Prefixes = str | Sequence[str]
"""One desk's ticket prefix, or every desk's (a tag of any desk is recognised)."""


def _alternatives(prefix: Prefixes) -> str:
    return "(?:" + "|".join(re.escape(name) for name in _names(prefix)) + ")"


@functools.lru_cache(maxsize=32)
def _tag_pattern(prefix: str | tuple[str, ...]) -> re.Pattern[str]:
    # Tolerates missing zero padding, any case, and whitespace left by unfolding.
    return re.compile(rf"\[\s*({_alternatives(prefix)})\s*-\s*0*(\d{{1,18}})\s*\]", re.IGNORECASE)


def _key(prefix: Prefixes) -> str | tuple[str, ...]:
    return prefix if isinstance(prefix, str) else tuple(prefix)


@dataclass(frozen=True)
class TicketLabel:
    """A ticket as someone wrote it: `BIL-42` is ("BIL", 42) in the spelling of the
    configured prefix; bare digits have no prefix. Which ticket it names is the
    store's question (`tickets.labels`): with one number sequence the number alone
    says it, with one sequence per desk the prefix says whose."""

    prefix: str | None
    number: int


def _names(prefix: Prefixes) -> list[str]:
    return [prefix] if isinstance(prefix, str) else list(prefix)


def parse_label(prefix: Prefixes, text: str) -> TicketLabel | None:
    """`SUP-00042`, `sup-42`, `[SUP-42]` -> ("SUP", 42); `42` -> (None, 42); anything
    else -> None. At most 18 ASCII digits: every number fits the database's 64-bit
    integers."""
    text = text.strip()
    if re.fullmatch(r"\d{1,18}", text, re.ASCII):
        return TicketLabel(None, int(text))
    match = re.fullmatch(
        rf"\[?\s*({_alternatives(prefix)})\s*-\s*(\d{{1,18}})\s*\]?", text, re.I | re.ASCII
    )
    if match is None:
        return None
    return TicketLabel(_spelled(prefix, match.group(1)), int(match.group(2)))


def _spelled(prefix: Prefixes, written: str) -> str:
    """The configured spelling of a prefix written in any case."""
    folded = written.casefold()
    return next((name for name in _names(prefix) if name.casefold() == folded), written)


def parse_number(prefix: Prefixes, text: str) -> int | None:
    """The number a label is written with (see `parse_label`), whatever its prefix."""
    label = parse_label(prefix, text)
    return None if label is None else label.number


def subject_labels(subject: str, prefix: Prefixes) -> list[TicketLabel]:
    """Ticket labels tagged in a subject (`[SUP-00042]`), in order, without repeats."""
    found = (
        TicketLabel(_spelled(prefix, name), int(number))
        for name, number in _tag_pattern(_key(prefix)).findall(subject)
    )
    return list(dict.fromkeys(label for label in found if label.number > 0))


def strip_tags(subject: str, prefix: Prefixes) -> str:
    """The subject without our tags, for a new ticket's title."""
    stripped = _tag_pattern(_key(prefix)).sub(" ", subject)
    return re.sub(r"\s+", " ", stripped).strip()


@dataclass(frozen=True)
class ThreadRefs:
    """What a message says about its thread, before any database lookup."""

    signed_numbers: tuple[int, ...]  # from our own signed Message-IDs, most recent first
    message_ids: tuple[str, ...]  # In-Reply-To + References, most recent first
    tagged_numbers: tuple[int, ...]  # from the subject


def thread_refs(
    in_reply_to: Sequence[str],
    references: Sequence[str],
    tagged: Iterable[int],
    secret: bytes,
) -> ThreadRefs:
    """`tagged`: the numbers of the tickets the subject's labels name (`subject_labels`,
    looked up by the store)."""
    ids = list(dict.fromkeys([*in_reply_to, *reversed(references)]))
    signed = (verify_message_id(mid, secret) for mid in ids)
    return ThreadRefs(
        signed_numbers=tuple(dict.fromkeys(n for n in signed if n is not None)),
        message_ids=tuple(ids),
        tagged_numbers=tuple(dict.fromkeys(tagged)),
    )


@dataclass(frozen=True)
class TicketFacts:
    """What the pipeline found in the database about one candidate ticket."""

    number: int
    status: str
    closed_at: dt.datetime | None
    participants: frozenset[str]  # lower-cased addresses: requester and CCs
    merged_into: int | None = None  # the survivor's number, already followed to the end


class Action(enum.StrEnum):
    APPEND = "appended"
    CREATE = "created"
    IGNORE = "ignored"


class Via(enum.StrEnum):
    SIGNED_ID = "signed Message-ID"
    KNOWN_ID = "known Message-ID"
    SUBJECT_TAG = "subject tag"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    ticket: int | None = None  # APPEND: the ticket to append to
    reopen: bool = False  # APPEND to a resolved/closed ticket: reopen it
    untrusted: tuple[int, ...] = ()  # CREATE: tickets referenced by a non-participant
    follows: int | None = None  # CREATE: a closed ticket this new one continues


@dataclass(frozen=True)
class Sender:
    email: str  # lower-cased
    is_agent: bool
    is_ours: bool  # one of our own desk addresses
    looped: bool = False  # carries our X-Loop header: our own mail come back


# What automated mail does when it matches no ticket: bounces, complaints and
# auto-replies are noise on their own; bulk mail may be a real customer writing
# through a mailing list, so it opens a ticket (that nothing will ever answer).
AUTOMATED_WITHOUT_TICKET: Mapping[MailKind, Action] = {
    MailKind.BOUNCE: Action.IGNORE,
    MailKind.COMPLAINT: Action.IGNORE,
    MailKind.AUTO_REPLY: Action.IGNORE,
    MailKind.BULK: Action.CREATE,
}


def decide(
    refs: ThreadRefs,
    facts: Mapping[int, TicketFacts],
    known_ids: Mapping[str, int],
    sender: Sender,
    classification: Classification,
    now: dt.datetime,
    reopen_days: int,
) -> Decision:
    """`facts`: candidate tickets by number (the signed and tagged ones, and those of
    `known_ids`, which maps stored Message-IDs to their ticket numbers)."""
    if sender.is_ours:
        return Decision(Action.IGNORE, "mail from our own address")
    if sender.looped:
        return Decision(Action.IGNORE, "carries our X-Loop header (our own mail came back)")
    found = _find(refs, facts, known_ids, sender)
    if found is not None:
        ticket, via = found
        if sender.is_agent:  # an agent means this ticket, however long it has been closed
            return Decision(Action.APPEND, f"matched by {via}", ticket=ticket.number)
        return _append_or_follow(ticket, via, now, reopen_days)
    untrusted = tuple(n for n in refs.tagged_numbers if n in facts)
    if classification.automated:
        action = AUTOMATED_WITHOUT_TICKET[classification.kind]
        if action is Action.IGNORE:
            return Decision(Action.IGNORE, f"{classification.kind}: {classification.reason}")
    if untrusted:
        labels = ", ".join(str(n) for n in untrusted)
        return Decision(
            Action.CREATE, f"sender is not a participant of ticket {labels}", untrusted=untrusted
        )
    return Decision(Action.CREATE, "no matching ticket")


def _find(
    refs: ThreadRefs,
    facts: Mapping[int, TicketFacts],
    known_ids: Mapping[str, int],
    sender: Sender,
) -> tuple[TicketFacts, Via] | None:
    for number in refs.signed_numbers:
        if number in facts:
            return _survivor(facts[number], facts), Via.SIGNED_ID
    trusted = (
        *((known_ids[mid], Via.KNOWN_ID) for mid in refs.message_ids if mid in known_ids),
        *((n, Via.SUBJECT_TAG) for n in refs.tagged_numbers),
    )
    for number, via in trusted:
        if number not in facts:
            continue
        ticket = _survivor(facts[number], facts)
        if sender.is_agent or sender.email in ticket.participants:
            return ticket, via
    return None


def _survivor(ticket: TicketFacts, facts: Mapping[int, TicketFacts]) -> TicketFacts:
    if ticket.merged_into is not None and ticket.merged_into in facts:
        return facts[ticket.merged_into]
    return ticket


def _append_or_follow(ticket: TicketFacts, via: Via, now: dt.datetime, days: int) -> Decision:
    reason = f"matched by {via}"
    outcome = on_customer_reply(ticket.status, ticket.closed_at, now, days)
    if outcome is OnReply.FOLLOW:
        return Decision(
            Action.CREATE,
            f"{reason}, but it was closed more than {days} days ago",
            follows=ticket.number,
        )
    if ticket.status == CLOSED:
        reason = f"{reason}; reopened"
    return Decision(Action.APPEND, reason, ticket=ticket.number, reopen=outcome is OnReply.REOPEN)


def candidate_numbers(refs: ThreadRefs, known_ids: Iterable[int]) -> set[int]:
    """Every ticket number the pipeline must look up facts for."""
    return {*refs.signed_numbers, *refs.tagged_numbers, *known_ids}
