"""The queue's query side: what a filter means, which tickets it selects, one page of
them, and what the filter form offers.

`parse_filters` turns the queue's query parameters into `Filters` (or `BadFilter`,
answered with 400); `queue_view` runs in the web's database threads (`Web.call`)
and returns the page `web/pages/queue.py` renders with `templates/web/queue.html`.

The tickets come from the one ticket-list query (`queries.ticket_list`, as the CLI's
and the API's lists). A page costs a fixed number of queries whatever the database
holds: the rows (ticket, requester and assignee joined, LIMIT/OFFSET on a stable
order), a count that stops at `COUNT_CAP`, one IN query for the page's tags, and two
small ones for the form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from maildesk.core.addresses import plain_address
from maildesk.core.vocabulary import OPEN_STATUSES, STATUS_GROUPS, STATUSES
from maildesk.queries.ticket_list import (
    SLA_STATES,
    SORTS,
    UNASSIGNED,
    TicketQuery,
    count_tickets,
    find_tickets,
    within,
)
from maildesk.settings.desks import Scope
from maildesk.settings.fields import FieldError, Fields
from maildesk.store.models import Agent, Ticket, TicketTag
from maildesk.store.rows import tuples
from maildesk.tickets.agents import colleagues
from maildesk.tickets.labels import Labels
from maildesk.web.badges import Badge, sla_badge
from maildesk.web.context import Web

# Without `dir`: newest first, highest priority first, soonest due first.
DEFAULT_DIRECTION = {"updated": "desc", "created": "desc", "priority": "desc", "due": "asc"}
DIRECTIONS = ("asc", "desc")
COUNT_CAP = 10_000  # "10,000+": counting further costs what the database holds
MAX_PAGE = 100_000
MAX_SEARCH = 200
MAX_CATEGORIES = 200
TAG = re.compile(r"[\w][\w.-]{0,49}")  # as `#tag` accepts them (core.commands)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CATEGORY = re.compile(r"[^\x00-\x1f\x7f]{1,100}")  # rules may set any name
LABEL_HASH = re.compile(r"#(\d{1,18})")
SLUG = re.compile(r"[a-z][a-z0-9-]{0,31}")


class BadFilter(ValueError):
    """A query parameter the queue does not understand (answered with 400)."""


@dataclass(frozen=True)
class Filters:
    """What the queue shows; "" means "any" (`status` "open" is the open group, "all"
    every status)."""

    status: str = "open"
    priority: str = ""
    category: str = ""
    assignee: str = ""  # mine | unassigned | an agent's address
    tag: str = ""
    sla: str = ""  # breached | at_risk
    q: str = ""
    desk: str = ""  # one of the agent's desks (slug); "": all of them
    field: str = ""  # NAME=VALUE: a custom field's value
    sort: str = "updated"
    dir: str = ""  # "" : the sort's own default (DEFAULT_DIRECTION)
    page: int = 1

    @property
    def direction(self) -> str:
        return self.dir or DEFAULT_DIRECTION[self.sort]

    def query(self) -> str:
        """The query string of this view (without `?`): only what differs from the defaults."""
        pairs = [
            (f.name, str(getattr(self, f.name)))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        ]
        return urlencode(pairs)

    def link(self, **changes: Any) -> str:
        """The queue with `changes` made to this view, on page 1 unless `page` is given."""
        query = dataclasses.replace(self, **{"page": 1, **changes}).query()
        return f"/?{query}" if query else "/"

    def without(self, name: str) -> str:
        """The queue without one filter (the others kept)."""
        return self.link(**{name: getattr(DEFAULT_VIEW, name)})

    def sort_link(self, sort: str) -> str:
        """Sort by `sort`; on the column already sorted by, the other direction."""
        if sort != self.sort:
            return self.link(sort=sort, dir="")
        flipped = "asc" if self.direction == "desc" else "desc"
        return self.link(dir="" if flipped == DEFAULT_DIRECTION[sort] else flipped)

    def active(self) -> list[tuple[str, str, str]]:
        """The filters set beyond the default view: (name, value, link without it)."""
        return [
            (name, value, self.without(name))
            for name in FILTER_NAMES
            if (value := getattr(self, name)) != getattr(DEFAULT_VIEW, name)
        ]


SNOOZED = "snoozed"  # the view of the open tickets that `#snooze` keeps out of "open"
DEFAULT_VIEW = Filters()
FILTER_NAMES = ("status", "priority", "category", "assignee", "tag", "sla", "q")


def _choice(params: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = params.get(name, "").strip()
    if value and value not in choices:
        raise BadFilter(f"unknown {name} {value[:40]!r}: one of {', '.join(choices)}")
    return value


def _pattern(params: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = " ".join(params.get(name, "").split())
    if value and not pattern.fullmatch(value):
        raise BadFilter(f"not a {what}: {value[:40]!r}")
    return value


def _page(params: Mapping[str, str]) -> int:
    value = params.get("page", "").strip() or "1"
    if not value.isdecimal() or len(value) > 6 or not 1 <= int(value) <= MAX_PAGE:
        raise BadFilter(f"page must be a whole number from 1 to {MAX_PAGE:,}")
    return int(value)


def _assignee(params: Mapping[str, str]) -> str:
    value = params.get("assignee", "").strip().lower()
    if value and value not in ("mine", "unassigned") and plain_address(value) is None:
        raise BadFilter(f"assignee must be mine, unassigned or an agent's address, not {value!r}")
    return value


def parse_filters(
    params: Mapping[str, str], priorities: tuple[str, ...], fields: Fields | None = None
) -> Filters:
    """The view the query parameters ask for; empty values mean "any" and unknown
    parameters are ignored, but an unknown value of a known one is a `BadFilter`."""
    q = " ".join(params.get("q", "").split())
    if len(q) > MAX_SEARCH or CONTROL.search(q):
        raise BadFilter(f"not a search: at most {MAX_SEARCH} characters, no control characters")
    field = params.get("field", "").strip()
    if field:
        try:
            (fields or Fields(())).filters([field])
        except FieldError as exc:
            raise BadFilter(f"not a field filter: {exc}") from None
    desk = params.get("desk", "").strip()
    if desk and not SLUG.fullmatch(desk):
        raise BadFilter(f"not a desk: {desk[:40]!r}")
    return Filters(
        desk=desk,
        field=field,
        status=_choice(params, "status", (*STATUS_GROUPS, SNOOZED, *STATUSES)) or "open",
        priority=_choice(params, "priority", priorities),
        category=_pattern(params, "category", CATEGORY, "category"),
        assignee=_assignee(params),
        tag=_pattern(params, "tag", TAG, "tag").lower(),
        sla=_choice(params, "sla", SLA_STATES),
        q=q,
        sort=_choice(params, "sort", SORTS) or "updated",
        dir=_choice(params, "dir", DIRECTIONS),
        page=_page(params),
    )


def label_number(q: str, labels: Labels) -> int | None:
    """The ticket a search names by itself (`SUP-00042`, `[SUP-42]`, `#42`), else None.
    A bare number is searched for as a word."""
    hashed = LABEL_HASH.fullmatch(q)
    if hashed is None and q.isdecimal():
        return None
    return labels.find(hashed.group(1) if hashed else q) or None


def age(since: dt.datetime, now: dt.datetime) -> str:
    """`<1m`, `42m`, `3h`, `2d`, `1y`: the largest whole unit."""
    seconds = max(0, int((now - since).total_seconds()))
    for size, unit in ((365 * 86400, "y"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "<1m"


# -- the query ------------------------------------------------------------------------


def ticket_query(web: Web, filters: Filters, agent: Agent, now: dt.datetime) -> TicketQuery:
    """`filters` as the ticket-list query, for one page and one more row (`has_next`)."""
    size = web.config.web.page_size
    snoozed = filters.status == SNOOZED
    statuses = OPEN_STATUSES if snoozed else STATUS_GROUPS.get(filters.status, (filters.status,))
    spec = TicketQuery(
        statuses=statuses,
        # The open queue leaves snoozed tickets out; their own view shows only them.
        snoozed=True if snoozed else (False if filters.status == "open" else None),
        desks=(filters.desk,) if filters.desk else (),
        fields=web.desk.fields.filters([filters.field]) if filters.field else (),
        priority=filters.priority,
        category=filters.category,
        assignee=_assignee_id(filters.assignee, agent),
        tag=filters.tag,
        search=filters.q,
        sla=filters.sla,
        now=now,
        sort=filters.sort,
        descending=filters.direction == "desc",
        priorities=web.config.tickets.priorities,
        limit=size + 1,
        offset=(filters.page - 1) * size,
    )
    return within(spec, web.scope_of(agent))  # the tickets the agent sees, of those


def _assignee_id(assignee: str, agent: Agent) -> int | str | None:
    if assignee == "mine":
        return agent.id
    if assignee == "unassigned":
        return UNASSIGNED
    return _agent_id(assignee) if assignee else None


def _agent_id(email: str) -> int:
    found = Agent.select(Agent.id).where(Agent.email == email).scalar()
    if found is None:
        raise BadFilter(f"no agent {email}")
    return int(found)


@dataclass(frozen=True)
class Row:
    """One line of the queue."""

    id: int
    label: str
    subject: str
    requester_name: str
    requester_email: str
    status: str
    priority: str
    assignee_name: str  # "": unassigned
    assignee_email: str
    created_at: dt.datetime
    age: str
    tags: tuple[str, ...]
    badge: Badge
    desk: str = ""  # its desk's name, with several desks
    snoozed_until: dt.datetime | None = None  # `#snooze`: out of the open queue until then


@dataclass(frozen=True)
class Options:
    """What the filter and bulk forms offer."""

    statuses: tuple[str, ...]
    priorities: tuple[str, ...]
    categories: tuple[str, ...]
    agents: tuple[tuple[str, str], ...]  # (email, name) of the active agents
    desks: tuple[tuple[str, str], ...] = ()  # (slug, name) to choose among; none: one desk


@dataclass(frozen=True)
class QueueView:
    rows: list[Row]
    count: int  # up to COUNT_CAP + 1
    has_next: bool
    options: Options

    @property
    def count_text(self) -> str:
        if self.count > COUNT_CAP:
            return f"{COUNT_CAP:,}+ tickets"
        return f"{self.count:,} ticket" + ("" if self.count == 1 else "s")

    def pages(self, page_size: int) -> int | None:
        """How many pages there are (None: more than the count shows)."""
        return None if self.count > COUNT_CAP else max(1, -(-self.count // page_size))


def _rows(web: Web, tickets: list[Ticket], now: dt.datetime) -> list[Row]:
    tags: dict[int, list[str]] = {}
    query = (
        TicketTag.select(TicketTag.ticket, TicketTag.tag)
        .where(TicketTag.ticket.in_([t.id for t in tickets]))
        .order_by(TicketTag.tag)
    )
    for ticket_id, tag in tuples(query):
        tags.setdefault(ticket_id, []).append(tag)
    return [
        Row(
            id=t.id,
            label=web.label(t),
            subject=t.subject,
            requester_name=t.requester.name,
            requester_email=t.requester.email,
            status=t.status,
            priority=t.priority,
            assignee_name=t.assignee.name if t.assignee else "",
            assignee_email=t.assignee.email if t.assignee else "",
            created_at=t.created_at,
            age=age(t.created_at, now),
            tags=tuple(tags.get(t.id, ())),
            badge=sla_badge(t, now),
            desk=web.desks.get(t.desk).name if web.desks.several else "",
            snoozed_until=t.snoozed_until,
        )
        for t in tickets
    ]


def categories(web: Web, scope: Scope | None = None) -> tuple[str, ...]:
    """The configured categories and those in use. In use: walked through the category
    index one distinct value at a time, so it costs what there are, not the tickets.
    For an agent limited to categories: theirs. For an agent of some desks only among
    several: the categories configured for those desks, never names another desk uses."""
    if scope is not None and scope.categories is not None:
        return scope.categories
    if scope is not None and scope.slugs is not None and web.desks.several:
        table = web.desk.policies.categories
        mine = {c.name for (slug, _), c in table.items() if slug == "" or scope.has_desk(slug)}
        return tuple(sorted(mine, key=str.lower))
    sql = (
        'WITH RECURSIVE "c"("name") AS ('
        ' SELECT MIN("category") FROM "ticket" WHERE "category" IS NOT NULL'
        ' UNION ALL SELECT (SELECT MIN("category") FROM "ticket" WHERE "category" > "c"."name")'
        ' FROM "c" WHERE "c"."name" IS NOT NULL)'
        f' SELECT "name" FROM "c" WHERE "name" IS NOT NULL LIMIT {MAX_CATEGORIES}'
    )
    used = [name for (name,) in web.db.execute_sql(sql)]
    configured = [c.name for c in web.config.category]
    return tuple(sorted(set(configured + used), key=str.lower))


def options(web: Web, agent: Agent | None = None) -> Options:
    """What the forms offer `agent`: the agents who share a desk with them, the
    categories and desks they see."""
    scope = None if agent is None else web.scope_of(agent)
    agents = list(Agent.select().where(Agent.active == True))  # noqa: E712
    if agent is not None:
        agents = colleagues(agent, agents, web.desks.default.slug)
    return Options(
        statuses=STATUSES,
        priorities=web.config.tickets.priorities,
        categories=categories(web, scope),
        agents=tuple(sorted(((a.email, a.name) for a in agents), key=lambda a: a[1].lower())),
        desks=tuple(
            (d.slug, d.name) for d in web.desks.all if scope is None or scope.has_desk(d.slug)
        )
        if web.desks.several
        else (),
    )


def queue_view(web: Web, filters: Filters, agent: Agent) -> QueueView:
    """One page of the queue for `agent` (runs in the web's database threads)."""
    now = web.clock()
    size = web.config.web.page_size
    spec = ticket_query(web, filters, agent, now)
    tickets = find_tickets(web.db, spec)
    count = count_tickets(web.db, spec, COUNT_CAP)
    return QueueView(
        rows=_rows(web, tickets[:size], now),
        count=count,
        has_next=len(tickets) > size,
        options=options(web, agent),
    )
