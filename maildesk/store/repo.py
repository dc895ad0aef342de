"""Named queries and writes over the models: the vocabulary the pipeline and CLI use.

Every function here runs inside the caller's transaction (see
`store.db.write_transaction`); none opens one of its own.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import peewee

from maildesk.core.addresses import domain_of
from maildesk.core.match import TicketFacts
from maildesk.core.organizations import domain_candidates, organization_by_domain
from maildesk.settings.desks import Desks, Scope
from maildesk.store import rows
from maildesk.store.blobs import BlobError, blobs_of, insert_row
from maildesk.store.db import is_postgres, using
from maildesk.store.models import (
    Agent,
    AgentCategory,
    AgentDesk,
    Blob,
    Contact,
    Counter,
    Event,
    Intake,
    KeyValue,
    Message,
    OrganizationDomain,
    Participant,
    Ticket,
    TicketField,
    TicketTag,
)
from maildesk.store.scope import current

SECRET_KEY_NAME = "secret_key"
MAX_MERGE_HOPS = 50


def put_blob(data: bytes, now: dt.datetime) -> str:
    """Store bytes once, addressed by their SHA-256, where the database's byte store
    keeps new bytes (written durably before this transaction commits); the hash."""
    db = current()
    digest, location = blobs_of(db).put(data)
    insert_row(db, digest, data, now, location)
    return digest


def blob_bytes(sha256: str) -> bytes:
    """The bytes stored under `sha256`, wherever they are, checked against the hash."""
    data, location = _blob_row(sha256)
    try:
        return blobs_of(current()).read(sha256, location, data)
    except BlobError:
        # `storage migrate` may have moved them (and deleted the old copy) meanwhile.
        moved_data, moved_to = _blob_row(sha256)
        if moved_to == location:
            raise
        return blobs_of(current()).read(sha256, moved_to, moved_data)


def _blob_row(sha256: str) -> tuple[bytes | None, str]:
    row = Blob.select(Blob.data, Blob.location).where(Blob.sha256 == sha256).tuples().first()
    if row is None:
        raise BlobError(f"no blob {sha256}")
    data, location = row
    return data, location


def stored_secret_key(db: peewee.Database) -> bytes:
    """The key maildesk generated for itself when the config names none (kept in the
    database so every instance and every restart signs alike)."""
    with using(db):
        row = KeyValue.get_or_none(KeyValue.name == SECRET_KEY_NAME)
        if row is None:
            KeyValue.insert(
                name=SECRET_KEY_NAME, value=secrets.token_hex(32)
            ).on_conflict_ignore().execute()
            row = KeyValue.get(KeyValue.name == SECRET_KEY_NAME)
    return str(row.value).encode()


def ticket_fields(ticket_id: int) -> dict[str, list[str]]:
    """A ticket's custom field values by name (canonical text; in stored order)."""
    return field_values(TicketField.ticket, ticket_id)


def set_ticket_field(
    ticket_id: int, name: str, values: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Replace a custom field's values on a ticket; (before, after)."""
    return set_field_values(TicketField.ticket, ticket_id, name, values)


def field_values(owner: peewee.ForeignKeyField, owner_id: int) -> dict[str, list[str]]:
    """The custom field values of one record by name (canonical text; in stored order):
    `owner` is the record's column in its values' table (`TicketField.ticket`,
    `ContactField.contact`, `OrganizationField.organization`)."""
    return fields_of(owner, [owner_id]).get(owner_id, {})


def fields_of(
    owner: peewee.ForeignKeyField, owner_ids: Sequence[int]
) -> dict[int, dict[str, list[str]]]:
    """`field_values` of several records at once, by record id (absent: none set)."""
    table = owner.model
    found: dict[int, dict[str, list[str]]] = {}
    if not owner_ids:
        return found
    query = (
        table.select(owner, table.name, table.value)
        .where(owner.in_(sorted(set(owner_ids))))
        .order_by(table.id)
    )
    for owner_id, name, value in rows.tuples(query):
        found.setdefault(owner_id, {}).setdefault(name, []).append(value)
    return found


def set_field_values(
    owner: peewee.ForeignKeyField, owner_id: int, name: str, values: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Replace a custom field's values on one record (see `field_values`); (before,
    after)."""
    table = owner.model
    where = (owner == owner_id) & (table.name == name)
    before = [v for (v,) in rows.tuples(table.select(table.value).where(where).order_by(table.id))]
    after = list(dict.fromkeys(values))
    if before != after:
        table.delete().where(where).execute()
        for value in after:
            table.create(**{owner.name: owner_id, "name": name, "value": value})
    return before, after


def agent_scopes(agents: Iterable[Agent], desks: Desks) -> dict[int, Scope | None]:
    """What each agent sees, by id: the tickets of their desks in their categories;
    None for every ticket (an admin; an agent of every desk and category)."""
    agents = list(agents)
    works = agent_desks(agents, desks.default.slug)
    limits = agent_categories(agents)
    return {a.id: desks.scope(works[a.id], limits[a.id]) for a in agents}


def agent_desks(agents: Iterable[Agent], default: str) -> dict[int, frozenset[str] | None]:
    """The desks each agent works, by id: None for an admin (every desk); the default
    desk for an agent who has none (`tickets.agents`)."""
    agents = list(agents)
    found: dict[int, set[str]] = {a.id: set() for a in agents}
    ids = [a.id for a in agents if a.role != "admin"]
    if ids:
        query = AgentDesk.select(AgentDesk.agent, AgentDesk.desk).where(AgentDesk.agent.in_(ids))
        for agent_id, slug in rows.tuples(query):
            found[agent_id].add(slug)
    return {
        a.id: None if a.role == "admin" else frozenset(found[a.id] or {default}) for a in agents
    }


def agent_categories(agents: Iterable[Agent]) -> dict[int, frozenset[str] | None]:
    """The categories each agent is limited to (as configured), by id: None for every
    category (an admin, or an agent limited to none: `tickets.agents`)."""
    agents = list(agents)
    found: dict[int, set[str]] = {a.id: set() for a in agents}
    ids = [a.id for a in agents if a.role != "admin"]
    if ids:
        query = AgentCategory.select(AgentCategory.agent, AgentCategory.category).where(
            AgentCategory.agent.in_(ids)
        )
        for agent_id, name in rows.tuples(query):
            found[agent_id].add(name)
    return {a.id: frozenset(found[a.id]) or None for a in agents}


ADOPTED = "desks_adopted"  # KeyValue: the desks the tickets were last adopted for


def adopt_tickets(db: peewee.Database, slug: str, slugs: Sequence[str]) -> int:
    """Tickets of no configured desk join the default desk `slug`; how many did. Those
    are the tickets from before there were desks (migration 0011 leaves them without a
    slug) and those of the one desk of a single-desk install (`default`) once
    `[[desks]]` are configured without it. Runs (one pass over the tickets) only when
    the configured desks changed since the last time, which a mark in `key_value` says;
    every other start costs one lookup. A slug that is neither stays as it is (a desk
    renamed or removed: its tickets wait for it, shown to admins)."""
    mark = ",".join([slug, *sorted(slugs)])
    done = db.execute_sql(
        f'SELECT "value" FROM "key_value" WHERE "name" = {db.param}', (ADOPTED,)
    ).fetchone()
    if done is not None and done[0] == mark:
        return 0
    orphans = [""] if "default" in slugs else ["", "default"]
    with db.atomic():
        marks = ", ".join(db.param for _ in orphans)
        cursor = db.execute_sql(
            f'UPDATE "ticket" SET "desk" = {db.param} WHERE "desk" IN ({marks})',
            (slug, *orphans),
        )
        adopted = int(cursor.rowcount or 0)
        rows.insert(db, KeyValue, {"name": ADOPTED, "value": mark}, ignore=True)
        db.execute_sql(
            f'UPDATE "key_value" SET "value" = {db.param} WHERE "name" = {db.param}',
            (mark, ADOPTED),
        )
    return adopted


def next_ticket_number(db: peewee.Database) -> int:
    """A new ticket number, unique under concurrent writers on both databases."""
    if is_postgres(db):
        return int(db.execute_sql("SELECT nextval('ticket_number_seq')").fetchone()[0])
    # SQLite: the caller's write transaction holds the database lock (BEGIN IMMEDIATE).
    row = db.execute_sql(rows.increment_sql(db, Counter, "value", "name"), ("ticket_number",))
    return int(row.fetchone()[0])


def next_desk_seq(db: peewee.Database, slug: str, stored: Sequence[str]) -> int:
    """The next number of a desk's own sequence (`ticket.seq`), unique under concurrent
    writers on both databases: its counter row is the lock (PostgreSQL waits on the row;
    SQLite's write transaction excludes every other writer). Never below what the
    desk's tickets already show (`stored`: its `ticket.desk` values), so numbers given
    while the desks shared one sequence are never given again."""
    name = f"ticket_seq:{slug}"
    shown = max(
        (
            Ticket.select(peewee.fn.MAX(Ticket.seq)).where(Ticket.desk == value).scalar() or 0
            for value in stored
        ),
        default=0,
    )
    with using(db):
        Counter.insert(name=name, value=0).on_conflict_ignore().execute()
    greatest = "GREATEST" if is_postgres(db) else "MAX"
    row = db.execute_sql(
        f'UPDATE "counter" SET "value" = {greatest}("value", {db.param}) + 1 '
        f'WHERE "name" = {db.param} RETURNING "value"',
        (shown, name),
    )
    return int(row.fetchone()[0])


def next_counter(db: peewee.Database, name: str) -> int:
    """The next value of a named counter (created at 1), within the caller's transaction."""
    with using(db):
        Counter.insert(name=name, value=0).on_conflict_ignore().execute()
        Counter.update(value=Counter.value + 1).where(Counter.name == name).execute()
        return int(Counter.get(Counter.name == name).value)


def active_agents() -> list[Agent]:
    return list(Agent.select().where(Agent.active == True).order_by(Agent.id))  # noqa: E712


def contact_for(email: str, name: str, now: dt.datetime) -> Contact:
    """The contact for an address, created on first sight; a name fills in a blank one."""
    contact = rows.get(current(), Contact, "email", email)
    if contact is None:
        values = {"email": email, "name": name, "created_at": now}
        owner = domain_owner(email)
        if owner is not None:
            values["organization"] = owner
        created = rows.create(current(), Contact, values, ignore=True)
        return created or Contact.get(Contact.email == email)  # None: a concurrent writer won
    if name and not contact.name:
        contact.name = name
        contact.save()
    return contact


def domain_owners(domains: Iterable[str] | None = None) -> dict[str, int]:
    """Which organization owns each mail domain (only `domains`, when given)."""
    query = OrganizationDomain.select(OrganizationDomain.domain, OrganizationDomain.organization)
    if domains is not None:
        query = query.where(OrganizationDomain.domain.in_(list(domains)))
    return {domain: owner for domain, owner in rows.tuples(query)}


def domain_owner(email: str) -> int | None:
    """The organization a new address belongs to by its mail domain (None: none)."""
    candidates = domain_candidates(domain_of(email))
    if not candidates:
        return None
    return organization_by_domain([email], domain_owners(candidates))


def primary(contact: Contact) -> Contact:
    """The person's primary row (the contact itself unless merged into another)."""
    if contact.merged_into_id is None:
        return contact
    return Contact.get_by_id(contact.merged_into_id)


def person_rows(person: Contact) -> list[Contact]:
    """Every address of the person whose primary row is `person`, primary first."""
    merged = Contact.select().where(Contact.merged_into == person.id).order_by(Contact.id)
    return [person, *merged]


def organization_domains(organization_id: int) -> list[str]:
    query = OrganizationDomain.select(OrganizationDomain.domain).where(
        OrganizationDomain.organization == organization_id
    )
    return sorted(row.domain for row in query)


def survivor(ticket: Ticket) -> Ticket:
    """Follow `merged_into` to the ticket that lives on."""
    for _ in range(MAX_MERGE_HOPS):
        if ticket.merged_into_id is None:
            return ticket
        ticket = Ticket.get_by_id(ticket.merged_into_id)
    return ticket


def lock_ticket(db: peewee.Database, number: int) -> Ticket | None:
    """The ticket row, read fresh and locked for this transaction, merges followed to
    the survivor (locked too). Every read-modify-write of a ticket starts here, so
    two changes at once never both start from the same old values: the second waits
    for the first to commit, then reads what it wrote, and the `before` of its events
    is the `after` of the first. PostgreSQL: SELECT ... FOR UPDATE; SQLite: the write
    transaction (BEGIN IMMEDIATE, see `store.db.write_transaction`) already excludes
    every other writer."""
    ticket = rows.get(db, Ticket, "number", number, for_update=True)
    for _ in range(MAX_MERGE_HOPS):
        if ticket is None or ticket.merged_into_id is None:
            return ticket
        ticket = rows.get(db, Ticket, "id", ticket.merged_into_id, for_update=True)
    return ticket


def lock_ticket_id(db: peewee.Database, ticket_id: int) -> Ticket:
    """Like `lock_ticket`, by row id, without following merges."""
    ticket = rows.get(db, Ticket, "id", ticket_id, for_update=True)
    if ticket is None:
        raise Ticket.DoesNotExist(f"no ticket with id {ticket_id}")
    return ticket


def participant_emails(ticket: Ticket) -> frozenset[str]:
    query = Contact.select(Contact.email).join(Participant).where(Participant.ticket == ticket)
    return frozenset(c.email for c in query)


def ticket_facts(numbers: Iterable[int]) -> dict[int, TicketFacts]:
    """Facts for each existing ticket among `numbers`, with merges followed to the survivor
    (whose facts are included too)."""
    facts: dict[int, TicketFacts] = {}
    numbers = list(numbers)
    if not numbers:
        return facts
    for ticket in Ticket.select().where(Ticket.number.in_(numbers)):
        live = survivor(ticket)
        for row in {ticket.number: ticket, live.number: live}.values():
            facts[row.number] = TicketFacts(
                number=row.number,
                status=row.status,
                closed_at=row.closed_at,
                participants=participant_emails(row),
                merged_into=live.number if row.number != live.number else None,
            )
    return facts


def tickets_of_message_ids(message_ids: Sequence[str]) -> dict[str, int]:
    """Stored Message-IDs among `message_ids`, mapped to their ticket numbers."""
    if not message_ids:
        return {}
    query = (
        Message.select(Message.message_id, Ticket.number)
        .join(Ticket)
        .where(Message.message_id.in_(list(message_ids)))
    )
    return {mid: number for mid, number in rows.tuples(query)}


def add_participant(ticket: Ticket, contact: Contact, role: str, new_ticket: bool = False) -> bool:
    """Add a participant; False when the contact already was one."""
    if not new_ticket:
        existing = Participant.select().where(
            (Participant.ticket == ticket) & (Participant.contact == contact)
        )
        if existing.exists():
            return False
    values = {"ticket": ticket, "contact": contact, "role": role}
    return rows.insert(current(), Participant, values, ignore=True) is not None


def record_events(events: Sequence[dict[str, Any]]) -> None:
    """Several events (dicts of Event fields) in one statement."""
    rows.insert_many(current(), Event, events)


def ticket_tags(ticket: Ticket) -> list[str]:
    return sorted(rows.column(current(), TicketTag, "tag", "ticket", ticket.id))


def lock_intake(db: peewee.Database, intake_id: int) -> Intake:
    """The intake row, locked for this transaction (PostgreSQL; on SQLite the write
    transaction already excludes other writers), so two workers never process one
    message twice: the second waits, then sees it processed."""
    intake = rows.get(db, Intake, "id", intake_id, for_update=True)
    if intake is None:
        raise Intake.DoesNotExist(f"no intake {intake_id}")
    return intake


def claim_pending_intakes(db: peewee.Database, limit: int) -> list[int]:
    """Up to `limit` pending intakes, oldest first, locked for processing in this
    transaction; on PostgreSQL those another instance holds are skipped (SKIP LOCKED),
    so several workers share the backlog. On SQLite the write transaction already
    excludes other writers."""
    query = (
        Intake.select(Intake.id).where(Intake.state == "pending").order_by(Intake.id).limit(limit)
    )
    if is_postgres(db):
        query = query.for_update(skip_locked=True)
    return [row.id for row in query]


# -- single-use tokens -------------------------------------------------------------------

USED_PREFIX = "used:"  # KeyValue: a one-time token taken, its value the time it expires


def use_once(db: peewee.Database, token: str, expires: dt.datetime, now: dt.datetime) -> bool:
    """Take a one-time token (a /submit challenge's nonce): True the first time, False
    after. Taken tokens are kept until `expires`; those past it are swept on the way
    (ISO 8601 UTC text sorts as time does). In the caller's write transaction."""
    KeyValue.delete().where(
        KeyValue.name.startswith(USED_PREFIX), KeyValue.value < now.isoformat()
    ).execute()
    row = {"name": f"{USED_PREFIX}{token}"[:64], "value": expires.isoformat()}
    return rows.insert(db, KeyValue, row, ignore=True) is not None
