"""What others wrote on a ticket after an agent last saw it: the one definition of a
stale reply ("traffic cop"), for the web reply box and for mailed replies.

Where it sits in the flow: the ticket page's reply box says which message the page
showed (`seen`), and `web.pages.ticket` holds a reply that crosses newer messages
(409, "Send anyway"). The pipeline does the same for an agent's mailed reply: the
notification it answers (In-Reply-To/References, our own Message-IDs of the outbox)
says what the agent had seen, and `pipeline.flow` holds the reply (`HeldReply`) when
something came after it, until the agent answers `#send`.

Run in the caller's database thread and transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import peewee

from maildesk.outbound.compose import AGENTS
from maildesk.store.models import Message, Outbox


@dataclass(frozen=True)
class Arrival:
    """A message that came while an agent was writing a reply (see `arrived_since`)."""

    id: int
    kind: str  # customer | agent | note | system
    who: str
    created_at: dt.datetime
    text: str = ""


def arrived_since(ticket_id: int, seen: int, me: str) -> tuple[Arrival, ...]:
    """The ticket's messages newer than message `seen` that are not `me`'s own: what
    came after the page (or notification) the agent is answering from. System entries
    (a bounce, say) are news for the ticket page, not words that cross a reply."""
    query = (
        Message.select(
            Message.id, Message.kind, Message.from_name, Message.from_email, Message.body_text
        )
        .select_extend(Message.created_at)
        .where(
            (Message.ticket == ticket_id)
            & (Message.id > seen)
            & (Message.from_email != me)
            & (Message.kind != "system")
        )
        .order_by(Message.id)
    )
    return tuple(
        Arrival(m.id, m.kind, m.from_name or m.from_email, m.created_at, m.body_text) for m in query
    )


def seen_by_notification(ticket_id: int, references: Iterable[str]) -> int | None:
    """The newest message of the ticket when the newest of our mails to agents among
    `references` (Message-IDs) was queued: what that notification showed. None when
    the reply answers none of our mails to agents."""
    ids = [r.strip() for r in references if r.strip()]
    if not ids:
        return None
    notice = (
        Outbox.select(Outbox.created_at)
        .where(Outbox.message_id.in_(ids) & (Outbox.audience == AGENTS))
        .order_by(Outbox.created_at.desc(), Outbox.id.desc())
        .first()
    )
    if notice is None:
        return None
    newest = (
        Message.select(peewee.fn.MAX(Message.id))
        .where((Message.ticket == ticket_id) & (Message.created_at <= notice.created_at))
        .scalar()
    )
    return int(newest or 0)
