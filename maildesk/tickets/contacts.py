"""Changes to customer records: a contact's name, notes, organization and custom fields,
merging two contacts into one person, and organizations (name, mail domains, notes,
shared tickets, custom fields).

Where it sits: the writes behind `maildesk contacts ...`/`maildesk orgs ...`, the
contact and organization pages and `/api/contacts`, `/api/orgs`. Each function is one
unit of work (`write_transaction`). Reads are in `queries.contacts`.

Every row of a person carries the person's organization (`Contact.organization`), so a
list of an organization's tickets is one join: whenever what decides it changes (an
agent sets it, contacts merge, an organization's domains change) the persons concerned
are settled again here (`_settle`). Membership by domain follows `core.organizations`.

Custom field values come here already checked against their definitions
(`settings.fields.Fields.changes`, by the entry point, which knows the fields the agent
may see), as canonical values by name; an empty tuple clears a field. Contacts keep no
history of changes (an organization records when it last changed, `updated_at`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import peewee

from maildesk.core.addresses import plain_address
from maildesk.core.organizations import (
    BY_DOMAIN,
    NO_ORGANIZATION,
    mail_domain,
    name_key,
    organization_by_domain,
    organization_name,
)
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import (
    Contact,
    ContactField,
    Organization,
    OrganizationDomain,
    OrganizationField,
)

MAX_NOTES = 20_000
MAX_CONTACT_NAME = 500
MAX_DOMAINS = 100

FieldValues = Mapping[str, Sequence[str]]  # canonical values by field name; () clears


class ContactError(ValueError):
    """A contact or organization cannot be changed as asked (the message says why)."""


class NotFound(ContactError):
    """No such contact or organization."""


@dataclass(frozen=True)
class Membership:
    """What an agent sets: an organization (by id), none, or back to the mail domain."""

    organization_id: int | None
    explicit: bool

    @classmethod
    def of(cls, organization_id: int | None) -> Membership:
        return cls(organization_id, True)


BY_MAIL_DOMAIN = Membership(None, False)
NONE = Membership(None, True)


# -- contacts ---------------------------------------------------------------------------


def contact_by_email(email: str) -> Contact:
    """The contact of an address (compared lower-case), else NotFound."""
    address = plain_address(email)
    if address is None:
        raise ContactError(f"not an e-mail address: {email.strip()[:320]!r}")
    contact = Contact.get_or_none(Contact.email == address)
    if contact is None:
        raise NotFound(f"no contact {address}")
    return contact


def contact_by_id(contact_id: int) -> Contact:
    contact = Contact.get_or_none(Contact.id == contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    return contact


def checked_name(value: str) -> str:
    name = " ".join(value.split())
    if len(name) > MAX_CONTACT_NAME or not name.isprintable():
        raise ContactError(f"not a name: {value[:80]!r} (one line, at most {MAX_CONTACT_NAME})")
    return name


def checked_notes(value: str) -> str:
    if len(value) > MAX_NOTES:
        raise ContactError(f"notes are longer than {MAX_NOTES} characters")
    return value.strip()


def update_contact(
    db: peewee.Database,
    contact_id: int,
    *,
    name: str | None = None,
    notes: str | None = None,
    membership: Membership | None = None,
    fields: FieldValues | None = None,
) -> Contact:
    """Change what is given (None: keep it) on the person `contact_id` is an address of;
    `fields` sets the custom fields named, leaving the others. Returns their primary
    row."""
    name = None if name is None else checked_name(name)
    notes = None if notes is None else checked_notes(notes)
    with write_transaction(db):
        person = repo.primary(contact_by_id(contact_id))
        if name is not None:
            person.name = name
        if notes is not None:
            person.notes = notes
        if membership is not None:
            if membership.organization_id is not None:
                organization_by_id(membership.organization_id)  # it must exist
            person.organization_explicit = membership.explicit
            person.organization = membership.organization_id
        person.save()
        if membership is not None:
            _settle(person)
        _set_fields(ContactField.contact, person.id, fields)
        return Contact.get_by_id(person.id)


def merge_contacts(db: peewee.Database, into_id: int, other_id: int) -> Contact:
    """Make every address of the person `other_id` belongs to an address of the person
    `into_id` belongs to. The surviving person keeps their name (taking the other's
    when they have none), both persons' notes, their custom fields (taking the other's
    values of those they have not set), and their organization as set by hand (else the
    other's as set by hand, else by domain). Returns their primary row."""
    with write_transaction(db):
        into = repo.primary(contact_by_id(into_id))
        other = repo.primary(contact_by_id(other_id))
        if into.id == other.id:
            raise ContactError(f"{other.email} is already an address of {into.email}")
        Contact.update(merged_into=into.id).where(Contact.merged_into == other.id).execute()
        if not into.name:
            into.name = other.name
        into.notes = "\n\n".join(n for n in (into.notes, other.notes) if n)
        if not into.organization_explicit and other.organization_explicit:
            into.organization_explicit = True
            into.organization = other.organization_id
        into.save()
        Contact.update(merged_into=into.id, notes="", organization_explicit=False).where(
            Contact.id == other.id
        ).execute()
        _merge_fields(into.id, other.id)
        _settle(into)
        return Contact.get_by_id(into.id)


def _merge_fields(into_id: int, other_id: int) -> None:
    """The other person's field values move to the survivor, for the fields the survivor
    has no value of; the rest are dropped."""
    have = sorted(repo.field_values(ContactField.contact, into_id))
    moved = ContactField.update(contact=into_id).where(ContactField.contact == other_id)
    if have:
        moved = moved.where(ContactField.name.not_in(have))
    moved.execute()
    ContactField.delete().where(ContactField.contact == other_id).execute()


def _set_fields(owner: peewee.ForeignKeyField, owner_id: int, fields: FieldValues | None) -> None:
    for name, values in (fields or {}).items():
        repo.set_field_values(owner, owner_id, name, values)


def _settle(person: Contact, owners: dict[str, int] | None = None) -> None:
    """Give every address of `person` (a primary row) the person's organization."""
    addresses = repo.person_rows(person)
    if person.organization_explicit:
        organization = person.organization_id
    else:
        found = owners if owners is not None else repo.domain_owners()
        organization = organization_by_domain([c.email for c in addresses], found)
    Contact.update(organization=organization).where(
        Contact.id.in_([c.id for c in addresses])
    ).execute()


# -- organizations ----------------------------------------------------------------------


def organization_by_id(organization_id: int) -> Organization:
    found = Organization.get_or_none(Organization.id == organization_id)
    if found is None:
        raise NotFound(f"no organization {organization_id}")
    return found


def find_organization(value: str) -> Organization:
    """An organization by its id or its name (any case), else NotFound."""
    text = value.strip()
    if text.isdecimal() and len(text) <= 18:
        found = Organization.get_or_none(Organization.id == int(text))
    else:
        found = Organization.get_or_none(Organization.name_key == name_key(text))
    if found is None:
        raise NotFound(f"no organization {text[:200]!r}")
    return found


def membership_named(value: str) -> Membership:
    """`--org` as the CLI takes it: an organization's name or id, `none` or `auto`."""
    word = value.strip().casefold()
    if word == NO_ORGANIZATION:
        return NONE
    if word == BY_DOMAIN:
        return BY_MAIL_DOMAIN
    return Membership.of(find_organization(value).id)


def checked_domains(values: Iterable[str]) -> list[str]:
    domains: dict[str, None] = {}
    for value in values:
        domain = mail_domain(value)
        if domain is None or "." not in domain:
            raise ContactError(f"not a mail domain: {value.strip()[:253]!r} (e.g. acme.com)")
        domains[domain] = None
    if len(domains) > MAX_DOMAINS:
        raise ContactError(f"at most {MAX_DOMAINS} domains per organization")
    return list(domains)


def _checked_org_name(value: str) -> str:
    name = organization_name(value)
    if name is None:
        raise ContactError(
            f"not an organization name: {value[:80]!r} (one line of at most 200 characters, "
            f"not only digits, not {NO_ORGANIZATION!r} or {BY_DOMAIN!r})"
        )
    return name


def add_organization(
    db: peewee.Database,
    name: str,
    now: dt.datetime,
    *,
    domains: Sequence[str] = (),
    notes: str = "",
    shared_tickets: bool = False,
    fields: FieldValues | None = None,
) -> Organization:
    """A new organization (with the custom fields given); contacts at its domains join
    it (unless set elsewhere by hand)."""
    name = _checked_org_name(name)
    wanted = checked_domains(domains)
    notes = checked_notes(notes)
    with write_transaction(db):
        if Organization.get_or_none(Organization.name_key == name_key(name)) is not None:
            raise ContactError(f"an organization named {name!r} exists already")
        organization = Organization.create(
            name=name,
            name_key=name_key(name),
            notes=notes,
            shared_tickets=shared_tickets,
            created_at=now,
            updated_at=now,
        )
        _set_domains(organization, wanted)
        _set_fields(OrganizationField.organization, organization.id, fields)
        return organization


def update_organization(
    db: peewee.Database,
    organization_id: int,
    now: dt.datetime,
    *,
    name: str | None = None,
    domains: Sequence[str] | None = None,
    notes: str | None = None,
    shared_tickets: bool | None = None,
    fields: FieldValues | None = None,
) -> Organization:
    """Change what is given (None: keep it); `domains` replaces the list, `fields` sets
    the custom fields named."""
    name = None if name is None else _checked_org_name(name)
    wanted = None if domains is None else checked_domains(domains)
    notes = None if notes is None else checked_notes(notes)
    with write_transaction(db):
        organization = organization_by_id(organization_id)
        if name is not None:
            taken = Organization.get_or_none(Organization.name_key == name_key(name))
            if taken is not None and taken.id != organization.id:
                raise ContactError(f"an organization named {name!r} exists already")
            organization.name, organization.name_key = name, name_key(name)
        if notes is not None:
            organization.notes = notes
        if shared_tickets is not None:
            organization.shared_tickets = shared_tickets
        organization.updated_at = now
        organization.save()
        if wanted is not None:
            _set_domains(organization, wanted)
        _set_fields(OrganizationField.organization, organization.id, fields)
        return organization


def _set_domains(organization: Organization, wanted: list[str]) -> None:
    """Make `wanted` the organization's domains, then settle everyone they concern."""
    taken = OrganizationDomain.select().where(
        OrganizationDomain.domain.in_(wanted) & (OrganizationDomain.organization != organization.id)
    )
    for row in taken:
        owner = Organization.get_by_id(row.organization_id)
        raise ContactError(f"the domain {row.domain} belongs to {owner.name!r} already")
    before = repo.organization_domains(organization.id)
    if before == sorted(wanted):
        return
    OrganizationDomain.delete().where(OrganizationDomain.organization == organization.id).execute()
    if wanted:
        OrganizationDomain.insert_many(
            [{"organization": organization.id, "domain": d} for d in wanted]
        ).execute()
    owners = repo.domain_owners()
    for person in _concerned(organization.id, {*before, *wanted}):
        _settle(person, owners)


def _concerned(organization_id: int, domains: set[str]) -> list[Contact]:
    """The persons (primary rows, organization not set by hand) whose membership the
    domains of an organization may decide: its members now, and those with an address
    at one of `domains` or below."""
    at_domains = [
        Contact.email.endswith(f"@{domain}") | Contact.email.endswith(f".{domain}")
        for domain in sorted(domains)
    ]
    where = Contact.organization == organization_id
    for condition in at_domains:
        where |= condition
    ids = {
        row.merged_into_id or row.id
        for row in Contact.select(Contact.id, Contact.merged_into).where(where)
    }
    if not ids:
        return []
    return list(
        Contact.select()
        .where(Contact.id.in_(sorted(ids)) & (Contact.organization_explicit == False))  # noqa: E712
        .order_by(Contact.id)
    )
