"""The one ticket-list query: which tickets a filter selects, in which order, one page.

Where it sits: a read model under the three lists of tickets, `maildesk tickets list`
(cli.py), `GET /api/tickets` (web/api.py) and the web queue (web/listing.py). Each
turns its own parameters into a `TicketQuery`; `find_tickets` returns the page's
tickets (requester and assignee joined) and `count_tickets` how many there are, up
to a cap. Merged tickets are never listed (`Ticket.unmerged`).

A page costs a fixed number of queries whatever the database holds: the page's ids
first, from the ticket table alone (a far page skips its offset without joining
every skipped row), then those rows joined.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
from dataclasses import dataclass

import peewee

from maildesk.core.vocabulary import DONE_STATUSES, OPEN_STATUSES, STATUSES
from maildesk.settings.desks import Scope
from maildesk.store import search
from maildesk.store.db import is_postgres
from maildesk.store.models import Agent, Contact, Ticket, TicketField, TicketTag

UNASSIGNED = "none"  # `assignee`: tickets nobody is assigned
SORTS = ("updated", "created", "priority", "due")
SLA_STATES = ("breached", "at_risk")


@dataclass(frozen=True)
class TicketQuery:
    statuses: tuple[str, ...] = ()  # any of these; empty: any status
    desks: tuple[str, ...] = ()  # of any of these desks (slugs); empty: every desk
    categories: tuple[str, ...] | None = None  # of one of these (case aside); None: any
    fields: tuple[tuple[str, str], ...] = ()  # (name, canonical value): custom fields
    priority: str | None = None
    category: str | None = None
    assignee: int | str | None = None  # an agent's id or address, UNASSIGNED; None: anyone
    tag: str | None = None
    search: str | None = None  # words in subjects, senders and bodies (store.search)
    sla: str | None = None  # one of SLA_STATES, judged at `now`
    snoozed: bool | None = None  # True: snoozed ones only (`#snooze`); False: none; None: any
    now: dt.datetime | None = None
    sort: str = "updated"  # one of SORTS; ties go by ticket id, so pages are stable
    descending: bool = True
    priorities: tuple[str, ...] = ()  # lowest first: the order of sort "priority"
    limit: int = 100
    offset: int = 0


def within(spec: TicketQuery, scope: Scope | None) -> TicketQuery:
    """`spec` narrowed to the tickets `scope` covers (a reader's desks and categories;
    None: every ticket). Desks asked for beyond the scope's select nothing of theirs."""
    if scope is None:
        return spec
    desks = spec.desks
    if scope.stored is not None:
        asked = set(spec.desks) & set(scope.stored) if spec.desks else set(scope.stored)
        desks = tuple(sorted(asked)) or ("",)
    return dataclasses.replace(spec, desks=desks, categories=scope.categories)


def in_scope(scope: Scope | None) -> peewee.ColumnBase:
    """The tickets `scope` covers (every ticket without one): of its desks, in its
    categories. For reports and for reads of tickets by id (an attachment, a bulk
    change, a customer's tickets), where the desk index serves."""
    if scope is None:
        return peewee.Value(True)
    conditions: list[peewee.ColumnBase] = []
    if scope.stored is not None:
        conditions.append(Ticket.desk.in_(scope.stored))
    if scope.categories is not None:
        conditions.append(_in_categories(scope.categories))
    return functools.reduce(operator.and_, conditions)


def find_tickets(db: peewee.Database, spec: TicketQuery) -> list[Ticket]:
    """The tickets of `spec`'s page, in its order."""
    order = _order(spec)
    page = (
        Ticket.select(Ticket.id)
        .where(*_where(db, spec), *_status(db, spec.statuses, ordered=True))
        .order_by(*order)
        .limit(spec.limit)
        .offset(spec.offset)
    )
    # Every ticket has a requester; the LEFT join keeps SQLite from starting at contacts.
    query = (
        Ticket.select(Ticket, Contact, Agent)
        .join(Contact, peewee.JOIN.LEFT_OUTER, on=(Ticket.requester == Contact.id))
        .switch(Ticket)
        .join(Agent, peewee.JOIN.LEFT_OUTER, on=(Ticket.assignee == Agent.id))
        .where(Ticket.id.in_(page))
        .order_by(*order)
    )
    return list(query)


def count_tickets(db: peewee.Database, spec: TicketQuery, cap: int) -> int:
    """How many tickets `spec` selects (any page), counting no further than `cap` + 1:
    counting further costs what the database holds."""
    counted = Ticket.select(Ticket.id).where(
        *_where(db, spec), *_status(db, spec.statuses, ordered=False)
    )
    return int(counted.limit(cap + 1).count())


def _status(db: peewee.Database, statuses: tuple[str, ...], ordered: bool) -> list[peewee.Node]:
    """The status condition. For the rows (`ordered`) of resolved or closed tickets on
    SQLite, written so the status index is not used: SQLite keeps no statistics here
    and would read every closed ticket through it and sort them all, where walking the
    sort order's index and skipping the few others costs a page."""
    if not statuses or set(STATUSES) <= set(statuses):  # any status: no condition
        return []
    if not ordered or len(statuses) > 1 or statuses[0] not in DONE_STATUSES or is_postgres(db):
        return [Ticket.status.in_(statuses)]
    unindexed = peewee.NodeList((peewee.SQL("+"), Ticket.status), glue="")
    return [peewee.Expression(unindexed, peewee.OP.IN, list(statuses))]


def _where(db: peewee.Database, spec: TicketQuery) -> list[peewee.Expression]:
    """The conditions of `spec` but the status (`_status`)."""
    where = [Ticket.unmerged()]
    if spec.desks:
        bounded = _open_only(spec.statuses) or is_postgres(db)  # PostgreSQL plans by statistics
        where.append(_of_desks(spec.desks, bounded=bounded))
    for name, value in spec.fields:
        bounded = _open_only(spec.statuses)
        where.append(_has_field(name, value, bounded, is_postgres(db)))
    if spec.categories is not None:
        where.append(_in_categories(spec.categories))
    if spec.priority:
        where.append(Ticket.priority == spec.priority)
    if spec.category:
        where.append(Ticket.category == spec.category)
    if spec.assignee == UNASSIGNED:
        where.append(Ticket.assignee.is_null())
    elif isinstance(spec.assignee, int):
        where.append(Ticket.assignee == spec.assignee)
    elif spec.assignee:
        agents = Agent.select(Agent.id).where(Agent.email == spec.assignee.lower())
        where.append(Ticket.assignee.in_(agents))
    if spec.tag:
        tagged = TicketTag.select(TicketTag.ticket).where(TicketTag.tag == spec.tag)
        where.append(Ticket.id.in_(tagged))
    if spec.sla:
        if spec.now is None:
            raise ValueError("an SLA state is judged at a time: give `now`")
        where.append(breached(spec.now) if spec.sla == "breached" else at_risk(spec.now))
    if spec.snoozed is not None:
        snoozed = Ticket.snoozed_until.is_null(False)
        where.append(snoozed if spec.snoozed else ~snoozed)
    if spec.search:
        where.append(Ticket.id.in_(search.ticket_ids(db, spec.search)))
    return where


def _open_only(statuses: tuple[str, ...]) -> bool:
    return bool(statuses) and set(statuses) <= set(OPEN_STATUSES)


def _of_desks(desks: tuple[str, ...], bounded: bool) -> peewee.Expression:
    """Tickets of these desks. Among open tickets: through the index of each desk's live
    tickets by status (migrations/0011), then sorted (an open queue is a few hundred).
    Else (on SQLite) written so no index serves it: the list walks its sort order's
    index and skips other desks' tickets, where the desk's index would read every ticket
    the desk ever had and sort them (SQLite keeps no statistics to tell)."""
    if bounded:
        return Ticket.desk.in_(desks)
    unindexed = peewee.NodeList((peewee.SQL("+"), Ticket.desk), glue="")
    return peewee.Expression(unindexed, peewee.OP.IN, list(desks))


def _in_categories(names: tuple[str, ...]) -> peewee.Expression:
    """Tickets of these categories, regardless of case (as the policies compare them).
    Through `LOWER`, which no index serves: a category never decides how a list is
    read, the desk's or the sort order's index does (`_of_desks`), and a category is
    one more test on each row read. SQLite's `LOWER` (and PostgreSQL's under the C
    locale) lowers ASCII letters only, so each name is matched lowered both ways."""
    lowered = {name.lower() for name in names} | {_ascii_lower(name) for name in names}
    return peewee.fn.LOWER(Ticket.category).in_(sorted(lowered))


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def _has_field(name: str, value: str, bounded: bool, postgres: bool) -> peewee.Expression:
    """Tickets whose custom field `name` holds `value`. Among open tickets only (few, at
    any age of the desk): a probe of each candidate's (ticket, name, value) index entry,
    so the cost follows the open tickets, not every ticket ever given the value. Else
    the tickets that have it, read from the (name, value, ticket) index: what a long
    history of them costs is theirs to read either way, and a rare value is found at
    once rather than by walking every ticket."""
    match = (TicketField.name == name) & (TicketField.value == value)
    if bounded:
        probe = TicketField.select(peewee.SQL("1")).where((TicketField.ticket == Ticket.id) & match)
        if postgres:
            # OFFSET 0 keeps PostgreSQL from turning the probe into a join, which it
            # plans as a hash of every ticket with the value (measured: bench/web).
            probe = probe.offset(0)
        return peewee.Expression(peewee.SQL("EXISTS"), "", probe)
    return Ticket.id.in_(TicketField.select(TicketField.ticket).where(match))


def running_due() -> peewee.ColumnBase:
    """The due time the clock runs against: the first response while unanswered (and
    given one), else the resolution (as `web.badges.sla_badge` reads it)."""
    unanswered = Ticket.first_response_at.is_null() & Ticket.first_response_due.is_null(False)
    return peewee.Case(None, [(unanswered, Ticket.first_response_due)], Ticket.resolution_due)


def _order(spec: TicketQuery) -> list[peewee.Node]:
    def by(node: peewee.ColumnBase, nulls: str | None = None) -> peewee.Node:
        return node.desc(nulls=nulls) if spec.descending else node.asc(nulls=nulls)

    first = {
        "updated": lambda: by(Ticket.updated_at),
        "created": lambda: by(Ticket.created_at),
        "priority": lambda: by(
            peewee.Case(Ticket.priority, [(p, i) for i, p in enumerate(spec.priorities)], -1)
        ),
        "due": lambda: by(running_due(), nulls="LAST"),
    }[spec.sort]()
    return [first, by(Ticket.id)]  # the tie-break keeps pages stable


# -- SLA states, as the queue's badges show them (web.badges) ------------------------------


def breached(now: dt.datetime) -> peewee.Expression:
    """Open tickets whose running target is missed (recorded, or due time passed)."""
    return Ticket.status.in_(OPEN_STATUSES) & (
        Ticket.first_response_breached_at.is_null(False)
        | Ticket.resolution_breached_at.is_null(False)
        | (Ticket.first_response_at.is_null() & (Ticket.first_response_due <= now))
        | (
            Ticket.resolved_at.is_null()
            & Ticket.sla_paused_at.is_null()
            & (Ticket.resolution_due <= now)
        )
    )


def at_risk(now: dt.datetime) -> peewee.Expression:
    """Open tickets past the warning point of their running target, not yet breached."""
    first_running = Ticket.first_response_at.is_null() & Ticket.first_response_due.is_null(False)
    warned_first = first_running & (Ticket.first_response_warn_at <= now)
    warned_resolution = (
        ~first_running & Ticket.sla_paused_at.is_null() & (Ticket.resolution_warn_at <= now)
    )
    return Ticket.status.in_(OPEN_STATUSES) & (warned_first | warned_resolution) & ~breached(now)
