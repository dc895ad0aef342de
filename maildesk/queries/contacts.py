"""Customer records as plain dicts: contacts (persons with all their addresses), their
organizations and every ticket they are part of -- the JSON of `maildesk contacts show
--json` and `maildesk orgs show --json`, of `/api/contacts` and `/api/orgs`, and what
the contact and organization pages show.

Custom fields are those of the `Fields` given: the contact or organization fields the
reader may see (`Fields.visible`), each shown, null (or []) when not set.

Ticket lists take `scope`: the tickets the reader may see (their desks and categories,
`settings.desks.Scope`; None: every ticket, for operators and admins). Any other
ticket is simply not there.
Merged tickets are never listed (they live on in their survivor). Times are ISO 8601
with offset; ticket numbers are labels (`SUP-00042`), as in `tickets list --json`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import peewee

from maildesk.queries.serialize import iso
from maildesk.queries.ticket_list import in_scope
from maildesk.settings.desks import Scope
from maildesk.settings.fields import Fields
from maildesk.store import rows
from maildesk.store.models import (
    Contact,
    ContactField,
    Organization,
    OrganizationDomain,
    OrganizationField,
    Participant,
    Ticket,
)
from maildesk.store.repo import field_values, fields_of, organization_domains, person_rows, primary
from maildesk.tickets import undeliverable

Label = Callable[[Ticket], str]  # `SUP-00042`: the ticket's number with its desk's prefix
MAX_SHARED = 50  # other members' tickets listed on a status page, latest first


@dataclass(frozen=True)
class ContactQuery:
    """Which persons a list shows: words in an address or name, an organization,
    custom field values (each must match)."""

    search: str | None = None
    organization_id: int | None = None
    fields: tuple[tuple[str, str], ...] = ()  # (name, canonical value): `Fields.filters`
    limit: int = 100
    offset: int = 0
    scope: Scope | None = None  # persons known to these tickets only (None: everyone)


# -- contacts ---------------------------------------------------------------------------


def known_to(scope: Scope) -> peewee.Expression:
    """The persons (primary rows) who are part of a ticket `scope` covers through any
    of their addresses: an agent of some desks (or categories) only never meets the
    customers of the others.
    A probe per person (participant's contact index, then the ticket), so a list costs
    its page, not every participation."""
    rows = Contact.alias()
    addresses = rows.select(rows.id).where(
        (rows.id == Contact.id) | (rows.merged_into == Contact.id)
    )
    probe = (
        Participant.select(peewee.SQL("1"))
        .join(Ticket, on=Participant.ticket == Ticket.id)
        .where(Participant.contact.in_(addresses) & in_scope(scope))
    )
    return peewee.Expression(peewee.SQL("EXISTS"), "", probe)


def is_known_to(person: Contact, scope: Scope | None) -> bool:
    """Whether `person` (a primary row) is part of a ticket `scope` covers (None: yes)."""
    if scope is None:
        return True
    return bool(
        Contact.select(Contact.id).where((Contact.id == person.id) & known_to(scope)).exists()
    )


def find_contacts(spec: ContactQuery) -> list[Contact]:
    """Primary rows of the persons `spec` asks for, by address; a search matches any
    of a person's addresses, or their name."""
    query = Contact.select().where(Contact.merged_into.is_null())
    if spec.scope is not None:
        query = query.where(known_to(spec.scope))
    if spec.organization_id is not None:
        query = query.where(Contact.organization == spec.organization_id)
    for name, value in spec.fields:  # each reads the (name, value, contact) index only
        having = ContactField.select(ContactField.contact).where(
            (ContactField.name == name) & (ContactField.value == value)
        )
        query = query.where(Contact.id.in_(having))
    if spec.search and spec.search.strip():
        words = spec.search.strip()
        other = Contact.alias()
        merged_match = other.select(other.merged_into).where(
            other.merged_into.is_null(False) & other.email.contains(words.lower())
        )
        query = query.where(
            Contact.email.contains(words.lower())
            | Contact.name.contains(words)
            | Contact.id.in_(merged_match)
        )
    return list(query.order_by(Contact.email).limit(spec.limit).offset(spec.offset))


def organization_ref(organization_id: int | None) -> dict[str, Any] | None:
    if organization_id is None:
        return None
    organization = Organization.get_by_id(organization_id)
    return {"id": organization.id, "name": organization.name}


def contact_summary(person: Contact) -> dict[str, Any]:
    """A person in a list: their primary address, name, every address, organization."""
    return {
        "id": person.id,
        "email": person.email,
        "name": person.name,
        "addresses": [c.email for c in person_rows(person)],
        "organization": organization_ref(person.organization_id),
        "organization_by_domain": not person.organization_explicit,
        "created_at": iso(person.created_at),
    }


def contact_summaries(persons: Sequence[Contact], fields: Fields) -> list[dict[str, Any]]:
    """Persons in a list, each `contact_summary` with their custom `fields`."""
    stored = fields_of(ContactField.contact, [p.id for p in persons])
    return [
        {**contact_summary(person), "fields": fields.typed(stored.get(person.id, {}))}
        for person in persons
    ]


def contact_detail(
    contact: Contact, label: Label, scope: Scope | None = None, *, fields: Fields
) -> dict[str, Any]:
    """The record of the person `contact` is an address of: `contact_summary`, their
    internal notes, custom `fields` (with `field_links`, the record URLs of the link
    fields set), and every ticket they are part of through any of their addresses."""
    person = primary(contact)
    ids = [c.id for c in person_rows(person)]
    stored = field_values(ContactField.contact, person.id)
    return {
        **contact_summary(person),
        "notes": person.notes,
        "undeliverable": undeliverable.marked_of(person_rows(person)),  # per address
        "fields": fields.typed(stored),
        "field_links": fields.links(stored),
        "tickets": person_tickets(ids, label, scope),
    }


def person_tickets(
    contact_ids: Sequence[int], label: Label, scope: Scope | None
) -> list[dict[str, Any]]:
    """The tickets any of `contact_ids` is the requester or a CC of, latest first."""
    roles: dict[int, str] = {}
    joined = (
        Participant.select(Participant.ticket, Participant.role)
        .where(Participant.contact.in_(list(contact_ids)))
        .tuples()
    )
    for ticket_id, role in rows.tuples(joined):
        if roles.get(ticket_id) != "requester":
            roles[ticket_id] = role
    found = (
        Ticket.select()
        .where(
            Ticket.id.in_(list(roles)) | Ticket.requester.in_(list(contact_ids)),
            Ticket.unmerged(),
            in_scope(scope),
        )
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    )
    return [
        ticket_row(t, label, "requester" if t.requester_id in contact_ids else roles[t.id])
        for t in found
    ]


def ticket_row(ticket: Ticket, label: Label, role: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "number": ticket.number,
        "label": label(ticket),
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "desk": ticket.desk,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
    }
    if role is not None:
        row["role"] = role
    return row


# -- organizations ----------------------------------------------------------------------


def list_organizations(fields: Fields) -> list[dict[str, Any]]:
    counts = dict(
        rows.tuples(
            Contact.select(Contact.organization, peewee.fn.COUNT(Contact.id))
            .where(Contact.organization.is_null(False) & Contact.merged_into.is_null())
            .group_by(Contact.organization)
        )
    )
    domains: dict[int, list[str]] = {}
    for row in OrganizationDomain.select().order_by(OrganizationDomain.domain):
        domains.setdefault(row.organization_id, []).append(row.domain)
    found = list(Organization.select().order_by(Organization.name_key))
    stored = fields_of(OrganizationField.organization, [o.id for o in found])
    return [
        {
            **organization_summary(o, domains.get(o.id, []), counts.get(o.id, 0)),
            "fields": fields.typed(stored.get(o.id, {})),
        }
        for o in found
    ]


def organization_summary(
    organization: Organization, domains: list[str], members: int
) -> dict[str, Any]:
    return {
        "id": organization.id,
        "name": organization.name,
        "domains": domains,
        "shared_tickets": organization.shared_tickets,
        "members": members,
        "created_at": iso(organization.created_at),
        "updated_at": iso(organization.updated_at),
    }


def organization_detail(
    organization: Organization,
    label: Label,
    scope: Scope | None = None,
    limit: int | None = None,
    *,
    fields: Fields,
) -> dict[str, Any]:
    """The organization, its members (persons), internal notes, custom `fields` (with
    `field_links`), and its tickets: every ticket a member requested, latest first
    (`limit`: the first so many)."""
    members = list(
        Contact.select()
        .where((Contact.organization == organization.id) & Contact.merged_into.is_null())
        .order_by(Contact.email)
    )
    summary = organization_summary(organization, organization_domains(organization.id), 0)
    stored = field_values(OrganizationField.organization, organization.id)
    return {
        **summary,
        "members": len(members),
        "notes": organization.notes,
        "fields": fields.typed(stored),
        "field_links": fields.links(stored),
        "contacts": [contact_summary(m) for m in members],
        "tickets": organization_tickets(organization.id, label, scope, limit),
    }


def organization_tickets(
    organization_id: int, label: Label, scope: Scope | None, limit: int | None = None
) -> list[dict[str, Any]]:
    query = (
        Ticket.select(Ticket, Contact)
        .join(Contact, on=Ticket.requester == Contact.id)
        .where((Contact.organization == organization_id) & Ticket.unmerged(), in_scope(scope))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        {
            **ticket_row(t, label),
            "requester": {"email": t.requester.email, "name": t.requester.name},
        }
        for t in query
    ]


# -- the status page --------------------------------------------------------------------


@dataclass(frozen=True)
class SharedTicket:
    """Another member's ticket, as a status page lists it: no messages, no notes."""

    label: str
    subject: str
    status: str
    requester: str
    created_at: Any


def shared_tickets(viewer: Contact, ticket: Ticket, label: Label) -> list[SharedTicket]:
    """The tickets of the viewer's organization's members, when the organization shares
    them, besides `ticket` itself: those of `ticket`'s desk, latest first. Without an
    organization, or one that does not share, nothing."""
    if viewer.organization_id is None:
        return []
    organization = Organization.get_or_none(Organization.id == viewer.organization_id)
    if organization is None or not organization.shared_tickets:
        return []
    query = (
        Ticket.select(Ticket, Contact)
        .join(Contact, on=Ticket.requester == Contact.id)
        .where(
            (Contact.organization == organization.id)
            & Ticket.unmerged()
            & (Ticket.id != ticket.id)
            & (Ticket.desk == ticket.desk)
        )
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(MAX_SHARED)
    )
    return [
        SharedTicket(
            label=label(t),
            subject=t.subject,
            status=t.status,
            requester=t.requester.name or t.requester.email,
            created_at=t.created_at,
        )
        for t in query
    ]
