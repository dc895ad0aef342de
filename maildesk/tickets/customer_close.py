"""A customer closes their request, confirms its resolution, or says it is not solved.

Where it sits: the pipeline calls `close` or `reopen` for a customer's reply whose
first line asks for it (`core.customer_words`), inside its transaction; the status
page's buttons call `decide` (`web.pages.customer_close`), which makes its own. Each
change is one entry of the event log with the status before and after (the webhooks
read a close or a confirmation as `ticket.closed`, `core.event_names`), and the
assignee is told by mail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maildesk.core.customer_words import Wish
from maildesk.core.vocabulary import CLOSED, OPEN, RESOLVED
from maildesk.store import repo, rows
from maildesk.store.db import write_transaction
from maildesk.store.models import Contact, Ticket
from maildesk.tickets.changes import EventLog, set_stamps
from maildesk.tickets.desk import Desk
from maildesk.tickets.escalation import event_collector

CLOSED_BY_CUSTOMER = "closed_by_customer"
RESOLUTION_CONFIRMED = "resolution_confirmed"
REOPENED_BY_CUSTOMER = "reopened_by_customer"


def may_close(ticket: Ticket) -> bool:
    return ticket.status != CLOSED and ticket.merged_into_id is None


def may_reopen(ticket: Ticket) -> bool:
    """ "Not solved" answers a resolution: only a resolved ticket is reopened by it."""
    return ticket.status == RESOLVED and ticket.merged_into_id is None


def close(
    desk: Desk, ticket: Ticket, email: str, now: dt.datetime, log_: EventLog, said: str = ""
) -> str | None:
    """Close `ticket` for its customer `email` (locked by the caller): the entry logged
    (a resolved ticket's close confirms its resolution), or None when it was closed
    already. `said`: what they wrote with it, for the assignee's mail."""
    if not may_close(ticket):
        return None
    kind = RESOLUTION_CONFIRMED if ticket.status == RESOLVED else CLOSED_BY_CUSTOMER
    _move(desk, ticket, CLOSED, email, kind, now, log_, said)
    return kind


def reopen(
    desk: Desk, ticket: Ticket, email: str, now: dt.datetime, log_: EventLog, said: str = ""
) -> bool:
    """Reopen a resolved `ticket` (locked by the caller); False when it is not resolved."""
    if not may_reopen(ticket):
        return False
    _move(desk, ticket, OPEN, email, REOPENED_BY_CUSTOMER, now, log_, said)
    return True


def _move(
    desk: Desk,
    ticket: Ticket,
    status: str,
    email: str,
    kind: str,
    now: dt.datetime,
    log_: EventLog,
    said: str,
) -> None:
    """The status change, logged once as `kind` (not also as `status_changed`: one
    change, one entry, one webhook)."""
    before = ticket.status
    ticket.status = status
    set_stamps(ticket, status, now)
    desk.sla.status_changed(ticket, before, now)
    log_(ticket, email, kind, {"before": before, "after": status})
    if status == CLOSED and ticket.snoozed_until is not None:
        desk.changes(now, log_).snooze(ticket, None, email)
    ticket.updated_at = now
    desk.mailer.customer_decided(ticket, email, kind, said, now, log_)


def decide(desk: Desk, ticket_id: int, person: Contact, wish: Wish, now: dt.datetime) -> bool:
    """A button of the status page, pressed by `person` (whom its link is for): close
    (or confirm) or reopen, in one transaction. False when there was nothing to do
    (pressed twice, or the ticket moved meanwhile)."""
    events: list[dict[str, Any]] = []
    log_ = event_collector(events, now)
    with write_transaction(desk.db):
        ticket = repo.lock_ticket_id(desk.db, ticket_id)
        if wish is Wish.CLOSE:
            done = close(desk, ticket, person.email, now, log_) is not None
        else:
            done = reopen(desk, ticket, person.email, now, log_)
        if done:
            rows.update(desk.db, ticket)
            repo.record_events(events)
    return done
