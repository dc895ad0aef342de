"""What readers of the help center tell us: an article was opened (views per day),
and their answer to "Did this answer your question?".

Where it sits: the article page (`web.pages.article`) calls these in the web's
database threads. A reader who came from a suggestion link of their request
answers for that ticket (`answer_for_ticket`): "yes" resolves the request as
self-served, through the same `TicketChanges` as any other resolve (SLA clocks
stopped, `status_changed` logged), with an internal note for the agents and the
customer's usual "resolved" mail, all in one transaction; "no" leaves it open
and logs that the article did not help. Anyone else answers as a visitor
(`answer_for_visitor`), known by a hash of a cookie. Either way there is one
answer per article and ticket, or per article and visitor, the later one
replacing the earlier: upserts on the unique indexes, safe under concurrent
requests on both databases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee

from maildesk.core.vocabulary import DONE_STATUSES, RESOLVED
from maildesk.store import repo, rows
from maildesk.store.db import write_transaction
from maildesk.store.models import Article, ArticleView, ArticleVote, Contact, Message, Ticket
from maildesk.tickets.desk import Desk
from maildesk.tickets.escalation import event_collector

SELF_SERVED = "kb_self_served"
VOTE = "kb_vote"


def count_view(db: peewee.Database, article_id: int, day: dt.date) -> None:
    """One more open of the article on `day` (UTC)."""
    with write_transaction(db):
        (
            ArticleView.insert(article=article_id, day=day, views=1)
            .on_conflict(
                conflict_target=[ArticleView.article, ArticleView.day],
                update={ArticleView.views: ArticleView.views + 1},
            )
            .execute()
        )


def _vote(
    article_id: int,
    helpful: bool,
    now: dt.datetime,
    *,
    ticket_id: int | None = None,
    visitor: str | None = None,
) -> None:
    """The answer for (article, ticket) or (article, visitor), replacing an earlier one."""
    key = ArticleVote.ticket if ticket_id is not None else ArticleVote.visitor
    (
        ArticleVote.insert(
            article=article_id, ticket=ticket_id, visitor=visitor, helpful=helpful, created_at=now
        )
        .on_conflict(
            conflict_target=[ArticleVote.article, key],
            preserve=[ArticleVote.helpful, ArticleVote.created_at],
        )
        .execute()
    )


def answer_for_visitor(
    db: peewee.Database, article_id: int, visitor: str, helpful: bool, now: dt.datetime
) -> None:
    with write_transaction(db):
        _vote(article_id, helpful, now, visitor=visitor)


def answer_for_ticket(
    desk: Desk, ticket_id: int, person: Contact, article: Article, helpful: bool, now: dt.datetime
) -> bool:
    """`person`'s answer (a participant of the ticket, holding its suggestion link):
    "yes" resolves a ticket that is still open, as self-served; otherwise the answer is
    recorded and logged. True when this answer resolved the ticket."""
    events: list[dict[str, Any]] = []
    log_ = event_collector(events, now)
    with write_transaction(desk.db):
        ticket = repo.lock_ticket_id(desk.db, ticket_id)  # the link's own ticket
        _vote(article.id, helpful, now, ticket_id=ticket.id)
        # A merged ticket is closed already: its survivor may hold more than this question.
        closes = helpful and ticket.status not in DONE_STATUSES and ticket.merged_into_id is None
        if closes:
            desk.changes(now, log_).set_status(ticket, RESOLVED, person.email)
            log_(ticket, person.email, SELF_SERVED, {"article": article.slug})
            _note(desk, ticket, person, closed_note(article.title), now)
            ticket.updated_at = now
            rows.update(desk.db, ticket)
            desk.mailer.resolved(ticket, now, log_)
        else:
            log_(ticket, person.email, VOTE, {"article": article.slug, "helpful": helpful})
        repo.record_events(events)
    return closes


def closed_note(title: str) -> str:
    return f"Closed by the customer: article {title} answered the question."


def _note(desk: Desk, ticket: Ticket, person: Contact, text: str, now: dt.datetime) -> None:
    """An internal note in the ticket's thread, in the name of who closed it (notes
    never reach the customer: design invariant 6)."""
    rows.create(
        desk.db,
        Message,
        {
            "ticket": ticket,
            "intake": None,
            "direction": "inbound",
            "kind": "note",
            "from_email": person.email,
            "from_name": person.name or "",
            "to": [],
            "cc": [],
            "subject": ticket.subject,
            "body_text": text,
            "created_at": now,
        },
    )
