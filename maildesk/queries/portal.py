"""The customer portal's read model: which tickets a signed-in customer sees.

A person (a contact's primary row, with the addresses merged into it) sees the
tickets they are part of, as requester or CC, through any of their addresses; and,
when their organization shares tickets (`Organization.shared_tickets`, set with
`maildesk orgs set` or on the organization's page), the tickets its members
requested. Any other ticket is simply not there (404). Merged tickets are never
listed; a merged ticket's number opens its survivor, if that one is visible.

The search reads the subject and the public messages only (customer mail and
agents' replies): `store.search` covers notes too, and a match there would tell the
customer what an internal note says.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from maildesk.core.vocabulary import CLOSED, OPEN_STATUSES, RESOLVED, STATUSES, WAITING
from maildesk.store import repo
from maildesk.store.models import Contact, Message, Organization, Participant, Ticket

# The portal's status filters, by the name in `?status=`: what a customer tells apart.
FILTERS: dict[str, tuple[str, ...]] = {
    "open": tuple(s for s in OPEN_STATUSES if s != WAITING),
    "waiting": (WAITING,),
    "resolved": (RESOLVED,),
    "closed": (CLOSED,),
    "all": STATUSES,
}
DEFAULT_FILTER = "all"
MAX_LISTED = 200


@dataclass(frozen=True)
class PortalTicket:
    label: str
    subject: str
    status: str
    requester: str
    updated_at: dt.datetime
    mine: bool  # the person is part of it (else: a colleague's, shared by the organization)


def own_ids(person: Contact) -> peewee.SelectQuery:
    """Ids of the tickets the person is part of (requester or CC), any address."""
    addresses = [row.id for row in repo.person_rows(person)]
    return Participant.select(Participant.ticket).where(Participant.contact.in_(addresses))


def shared_organization(person: Contact) -> int | None:
    """The person's organization's id, when it shares its members' tickets."""
    if person.organization_id is None:
        return None
    org = Organization.get_or_none(Organization.id == person.organization_id)
    return org.id if org is not None and org.shared_tickets else None


def visible(person: Contact) -> peewee.Expression:
    """The condition for the tickets the person may see."""
    condition = Ticket.id.in_(own_ids(person))
    organization = shared_organization(person)
    if organization is not None:
        members = Contact.select(Contact.id).where(Contact.organization == organization)
        condition = condition | Ticket.requester.in_(members)
    return condition


def matching(text: str) -> peewee.Expression | None:
    """Tickets whose subject or a public message holds every word of `text`."""
    words = text.split()
    if not words:
        return None
    conditions = []
    for word in words[:10]:
        public = Message.select(Message.ticket).where(
            Message.kind.in_(("customer", "agent"))
            & (Message.flagged == False)  # noqa: E712 - SQL, not Python
            & (Message.mail_kind == "human")
            & Message.body_text.contains(word)
        )
        conditions.append(Ticket.subject.contains(word) | Ticket.id.in_(public))
    return functools.reduce(operator.and_, conditions)


def portal_tickets(
    person: Contact, status: str, search: str, label: Callable[[Ticket], str]
) -> list[PortalTicket]:
    """The person's tickets under a filter of `FILTERS` and a search, latest first."""
    mine = {row.ticket_id for row in own_ids(person)}
    query = (
        Ticket.select(Ticket, Contact)
        .join(Contact, on=Ticket.requester == Contact.id)
        .where(
            visible(person) & Ticket.unmerged() & Ticket.status.in_(FILTERS.get(status, STATUSES))
        )
    )
    found = matching(search)
    if found is not None:
        query = query.where(found)
    query = query.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(MAX_LISTED)
    return [
        PortalTicket(
            label=label(t),
            subject=t.subject,
            status=t.status,
            requester=t.requester.name or t.requester.email,
            updated_at=t.updated_at,
            mine=t.id in mine,
        )
        for t in query
    ]


def portal_ticket(person: Contact, number: int) -> tuple[Ticket, bool] | None:
    """The ticket `number` opens for the person (its survivor when merged), and whether
    they are part of it; None when they may not see it."""
    ticket = Ticket.get_or_none(Ticket.number == number)
    if ticket is None:
        return None
    ticket = repo.survivor(ticket)
    if not Ticket.select(Ticket.id).where((Ticket.id == ticket.id) & visible(person)).exists():
        return None
    mine = Participant.select().where(
        (Participant.ticket == ticket.id)
        & Participant.contact.in_([row.id for row in repo.person_rows(person)])
    )
    return ticket, mine.exists()


def participant_row(person: Contact, ticket: Ticket) -> Contact | None:
    """Which of the person's addresses is part of `ticket` (the requester's first)."""
    rows = {row.id: row for row in repo.person_rows(person)}
    if ticket.requester_id in rows:
        return rows[ticket.requester_id]
    for participant in Participant.select().where(
        (Participant.ticket == ticket.id) & Participant.contact.in_(list(rows))
    ):
        return rows[participant.contact_id]
    return None
