"""Undeliverable addresses: marked by a permanent bounce, cleared by new mail or an agent.

Where it sits: the pipeline's bounce stage (`pipeline.bounces`) marks a contact when
mail we sent to it failed permanently; `outbound.compose` skips automatic mail to a
marked contact (an agent's own reply still goes: the agent decides); the mark is
cleared when the address writes to us again (`pipeline.flow`), or by an agent on the
contact record (web, API, `maildesk contacts clear-bounce`). Every mark and clearing
is in the event log: the bounce's ticket, the ticket of the new mail, or, when an
agent clears it, each of the contact's tickets that is not closed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee

from maildesk.core.vocabulary import CLOSED
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Contact, Event, Participant, Ticket

MARKED = "address_undeliverable"
CLEARED = "address_deliverable"
MAX_REASON = 1000


def state(contact: Contact) -> dict[str, Any] | None:
    """What records and tickets show of the mark (None: the address is deliverable)."""
    if contact.undeliverable_at is None:
        return None
    at = contact.undeliverable_at.astimezone(dt.UTC).isoformat()
    return {"email": contact.email, "since": at, "reason": contact.undeliverable_reason or ""}


def marked_of(contacts: list[Contact]) -> list[dict[str, Any]]:
    """The marks of those of `contacts` that are undeliverable, in their order."""
    return [mark for c in contacts if (mark := state(c)) is not None]


def marked_on_ticket(ticket: Ticket) -> list[dict[str, Any]]:
    """The ticket's requester and CCs that are marked undeliverable."""
    query = (
        Contact.select()
        .join(Participant)
        .where((Participant.ticket == ticket) & Contact.undeliverable_at.is_null(False))
        .order_by(Participant.id)
    )
    return marked_of(list(dict.fromkeys(query)))


def mark(email: str, reason: str, now: dt.datetime) -> Contact | None:
    """Mark the contact of `email` undeliverable (None: we have no such contact)."""
    contact = Contact.get_or_none(Contact.email == email.lower())
    if contact is None:
        return None
    contact.undeliverable_at = now
    contact.undeliverable_reason = reason[:MAX_REASON]
    contact.save(only=[Contact.undeliverable_at, Contact.undeliverable_reason])
    return contact


def clear_on_mail(email: str) -> str | None:
    """The address wrote to us: clear its mark. The reason it had (None: not marked)."""
    contact = Contact.get_or_none(
        (Contact.email == email.lower()) & Contact.undeliverable_at.is_null(False)
    )
    if contact is None:
        return None
    before = contact.undeliverable_reason or ""
    _unmark(contact)
    return before


def clear(contact: Contact, by: str, now: dt.datetime) -> bool:
    """An agent clears the mark (False: it was not marked); logged on each of the
    contact's tickets that is not closed."""
    if contact.undeliverable_at is None:
        return False
    data = {"email": contact.email, "by": "agent", "reason": contact.undeliverable_reason or ""}
    _unmark(contact)
    open_tickets = (
        Ticket.select(Ticket.id)
        .join(Participant)
        .where((Participant.contact == contact) & (Ticket.status != CLOSED))
        .distinct()
    )
    for ticket in open_tickets:
        Event.create(ticket=ticket.id, at=now, actor=by, type=CLEARED, data=data)
    return True


def clear_person(
    db: peewee.Database, contact_id: int, by: str, now: dt.datetime, email: str | None = None
) -> list[str]:
    """An agent clears the marks of the person `contact_id` is an address of (`email`:
    of that one address only); returns the addresses cleared."""
    with write_transaction(db):
        person = repo.primary(Contact.get_by_id(contact_id))
        addresses = repo.person_rows(person)
        if email is not None:
            addresses = [c for c in addresses if c.email == email.strip().lower()]
        return [c.email for c in addresses if clear(c, by, now)]


def _unmark(contact: Contact) -> None:
    contact.undeliverable_at = None
    contact.undeliverable_reason = None
    contact.save(only=[Contact.undeliverable_at, Contact.undeliverable_reason])
