"""Report figures over a period of local days, for the web reports page and its CSV exports.

Where it sits: read-only queries over `Ticket` and `Satisfaction`, run by
`maildesk.web.pages.reports` in the web's database threads. SLA compliance and times
come from `maildesk.queries.sla_report.sla_report` (with the 90th percentile); this module
adds what the page shows besides: tickets created and resolved per day, the
backlog at the end of each day, per-agent performance with satisfaction, and the
customers' ratings. Nothing here writes, and merged tickets (`merged_into` set)
count nowhere.

Days are local days of the period's time zone (the SLA calendar's). Counting
stays in SQL and costs what the period holds: the per-day counts are GROUP BYs
over the period's rows by the `created_at` and `resolved_at` indexes, and the
backlog starts from the tickets open at the period's start (open now, or
resolved since: both indexed) and then follows each day's created and resolved.
A ticket counts as done from its `resolved_at` (closing sets it too, reopening
clears it).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from maildesk.core.vocabulary import OPEN_STATUSES
from maildesk.queries import sla_report
from maildesk.queries.ticket_list import in_scope
from maildesk.settings.desks import Desks, Scope
from maildesk.store.db import is_postgres
from maildesk.store.models import Agent, Contact, Satisfaction, Ticket, TicketField
from maildesk.store.rows import tuples
from maildesk.store.scope import current

SLOT_SECONDS = 900
"""Per-day counts are grouped in SQL by 15-minute slots of UTC time, then folded into
local days: every time zone's offset is a whole number of quarter hours, so no slot
straddles a local midnight, and SQL needs no time-zone support (SQLite has none)."""
SCORES = (1, 2, 3, 4, 5)
COMMENTS = 10  # latest satisfaction comments shown


@dataclass(frozen=True)
class Period:
    """The local days `first` to `last`, both included, in time zone `zone`; the tickets
    of `scope`'s desks only, with one (a manager's desks)."""

    first: dt.date
    last: dt.date
    zone: dt.tzinfo
    scope: Scope | None = None

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError("a period cannot end before it starts")

    @property
    def days(self) -> list[dt.date]:
        count = (self.last - self.first).days + 1
        return [self.first + dt.timedelta(days=n) for n in range(count)]

    @property
    def bounds(self) -> list[dt.datetime]:
        """The start of each day, then the end of the last one: UTC moments."""
        ends = [*self.days, self.last + dt.timedelta(days=1)]
        return [self._midnight(day) for day in ends]

    @property
    def since(self) -> dt.datetime:
        return self._midnight(self.first)

    @property
    def until(self) -> dt.datetime:
        return self._midnight(self.last + dt.timedelta(days=1))

    def _midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tzinfo=self.zone).astimezone(dt.UTC)


def _in(field: peewee.Field, period: Period) -> peewee.Expression:
    """`field` in the period, of a ticket of the period's desks."""
    return (field >= period.since) & (field < period.until) & in_scope(period.scope)


# --------------------------------------------------------------------------
# Per day: created, resolved, backlog
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    day: dt.date
    created: int  # tickets created that day
    resolved: int  # tickets whose resolved_at is that day
    backlog: int  # tickets open at the end of the day


def _slot(field: peewee.Field) -> peewee.Node:
    """The 15-minute UTC slot of a time column (seconds since 1970 // SLOT_SECONDS).

    Constants are SQL literals, not parameters: PostgreSQL must see the same
    expression in SELECT and GROUP BY."""
    size = peewee.SQL(str(SLOT_SECONDS))
    if is_postgres(current()):
        epoch = peewee.fn.EXTRACT(peewee.NodeList((peewee.SQL("EPOCH FROM"), field)))
        return peewee.fn.FLOOR(epoch / size)
    return peewee.Cast(peewee.fn.strftime(peewee.SQL("'%s'"), field), "INTEGER") / size


def _per_day(field: peewee.Field, period: Period) -> list[int]:
    """How many unmerged tickets have `field` in each day of the period."""
    slot = _slot(field)
    query = (
        Ticket.select(slot, peewee.fn.COUNT(peewee.SQL("*")))
        .where(_in(field, period) & Ticket.unmerged())
        .group_by(slot)
    )
    bounds = period.bounds
    counts = [0] * (len(bounds) - 1)
    for number, count in tuples(query):
        start = dt.datetime.fromtimestamp(int(number) * SLOT_SECONDS, dt.UTC)
        counts[bisect.bisect_right(bounds, start) - 1] += int(count)
    return counts


def open_at(moment: dt.datetime, scope: Scope | None = None) -> int:
    """Unmerged tickets open at `moment`: created before it, and open now or resolved
    since (each part read by an index: the open statuses, `resolved_at`)."""
    earlier = (Ticket.created_at < moment) & Ticket.unmerged() & in_scope(scope)
    still_open = earlier & Ticket.status.in_(OPEN_STATUSES)
    done_since = earlier & (Ticket.resolved_at >= moment) & Ticket.status.not_in(OPEN_STATUSES)
    return _count(still_open) + _count(done_since)


def _count(where: peewee.Expression) -> int:
    return int(Ticket.select(peewee.fn.COUNT(peewee.SQL("*"))).where(where).scalar() or 0)


def daily(period: Period) -> list[Day]:
    """Every day of the period, zeros included: created, resolved, and the backlog."""
    created = _per_day(Ticket.created_at, period)
    resolved = _per_day(Ticket.resolved_at, period)
    backlog = open_at(period.since, period.scope)
    days = []
    for day, made, done in zip(period.days, created, resolved, strict=True):
        backlog += made - done
        days.append(Day(day, made, done, backlog))
    return days


# --------------------------------------------------------------------------
# SLA figures and satisfaction
# --------------------------------------------------------------------------


def sla(
    period: Period,
    now: dt.datetime,
    duration: sla_report.Duration = sla_report.wall_clock,
    priorities: Sequence[str] = (),
    next_response: bool = False,
) -> dict[str, Any]:
    """`sla_report.sla_report` over the period, every STAT with its "p90_seconds" (the
    next responses too with `next_response`)."""
    return sla_report.sla_report(
        period.since,
        period.until,
        now,
        duration,
        priorities=priorities,
        p90=True,
        scope=period.scope,
        next_response=next_response,
    )


@dataclass(frozen=True)
class Score:
    """Ratings of one agent's tickets."""

    name: str
    count: int
    average: float


@dataclass(frozen=True)
class Comment:
    label: str
    score: int
    comment: str
    rated_at: dt.datetime
    assignee: str | None  # the name (else address) of the ticket's agent


@dataclass(frozen=True)
class Ratings:
    """Satisfaction ratings given in the period (scores 1 to 5)."""

    count: int
    average: float | None
    distribution: dict[int, int]  # every score, zeros included
    by_agent: dict[str, Score]  # by address; unassigned tickets are not listed
    comments: list[Comment]  # the latest with a comment, newest first


def _rated(period: Period) -> peewee.Expression:
    return (
        _in(Satisfaction.created_at, period)
        & Satisfaction.score.between(SCORES[0], SCORES[-1])
        & Ticket.unmerged()
    )


def ratings(period: Period, desks: Desks, comments: int = COMMENTS) -> Ratings:
    """The ratings given in the period: two GROUP BYs and the latest comments."""
    by_score = (
        Satisfaction.select(Satisfaction.score, peewee.fn.COUNT(peewee.SQL("*")))
        .join(Ticket)
        .where(_rated(period))
        .group_by(Satisfaction.score)
    )
    distribution = dict.fromkeys(SCORES, 0)
    for score, n in tuples(by_score):
        distribution[int(score)] = int(n)
    total = sum(distribution.values())
    points = sum(score * n for score, n in distribution.items())
    return Ratings(
        count=total,
        average=points / total if total else None,
        distribution=distribution,
        by_agent=agent_scores(period),
        comments=_comments(period, desks, comments),
    )


def agent_scores(period: Period) -> dict[str, Score]:
    """The ratings given in the period by the address of the ticket's agent."""
    query = (
        Satisfaction.select(
            Agent.email,
            Agent.name,
            peewee.fn.COUNT(peewee.SQL("*")),
            peewee.fn.SUM(Satisfaction.score),
        )
        .join(Ticket)
        .join(Agent)
        .where(_rated(period))
        .group_by(Agent.email, Agent.name)
    )
    return {
        email: Score(name, int(n), int(points) / int(n)) for email, name, n, points in tuples(query)
    }


def _comments(period: Period, desks: Desks, limit: int) -> list[Comment]:
    query = (
        Satisfaction.select(
            Ticket.seq,
            Ticket.desk,
            Satisfaction.score,
            Satisfaction.comment,
            Satisfaction.created_at,
            Agent.email,
            Agent.name,
        )
        .join(Ticket)
        .join(Agent, peewee.JOIN.LEFT_OUTER)
        .where(_rated(period) & (Satisfaction.comment != ""))
        .order_by(Satisfaction.created_at.desc(), Satisfaction.id.desc())
        .limit(limit)
    )
    return [
        Comment(desks.label(slug, seq), int(score), comment, at, name or email)
        for seq, slug, score, comment, at, email, name in tuples(query)
    ]


# --------------------------------------------------------------------------
# Per agent
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentRow:
    email: str
    name: str
    assigned: int  # created in the period, assigned to them now
    resolved: int  # resolved in the period, assigned to them
    open: int  # open now, any age
    first_response: dict[str, Any]  # STAT with p90
    resolution: dict[str, Any]
    rated: int  # ratings given in the period for their tickets
    satisfaction: float | None  # the average of those


def agent_rows(report: dict[str, Any], scores: dict[str, Score]) -> list[AgentRow]:
    """The agents of `sla`'s report, and anyone rated, by name: their figures together."""
    nothing = sla_report.Stat.of([], []).as_dict(p90=True)
    rows = []
    for email in set(report["by_agent"]) | set(scores):
        entry = report["by_agent"].get(email)
        score = scores.get(email)
        rows.append(
            AgentRow(
                email=email,
                name=entry["name"] if entry else score.name if score else "",
                assigned=entry["assigned"] if entry else 0,
                resolved=entry["resolved"] if entry else 0,
                open=entry["open"] if entry else 0,
                first_response=entry["first_response"] if entry else nothing,
                resolution=entry["resolution"] if entry else nothing,
                rated=score.count if score else 0,
                satisfaction=score.average if score else None,
            )
        )
    rows.sort(key=lambda row: (row.name.casefold(), row.email))
    return rows


# --------------------------------------------------------------------------
# The whole page
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    period: Period
    days: list[Day]
    report: dict[str, Any]  # `sla`
    ratings: Ratings
    agents: list[AgentRow]


def overview(
    period: Period,
    now: dt.datetime,
    desks: Desks,
    duration: sla_report.Duration = sla_report.wall_clock,
    priorities: Sequence[str] = (),
    next_response: bool = False,
) -> Overview:
    """Everything the reports page shows for the period."""
    report = sla(period, now, duration, priorities, next_response)
    scores = ratings(period, desks)
    return Overview(period, daily(period), report, scores, agent_rows(report, scores.by_agent))


# --------------------------------------------------------------------------
# Row by row, for the exports: a chunk at a time, by (created_at, id)
# --------------------------------------------------------------------------

Key = tuple[dt.datetime, int]  # where the next chunk starts after


@dataclass(frozen=True)
class TicketRow:
    label: str
    subject: str
    status: str
    priority: str
    category: str | None
    requester: str
    assignee: str | None
    created_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    sla_breached: bool
    desk: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)  # custom, canonical values


@dataclass(frozen=True)
class RatingRow:
    label: str
    rated_at: dt.datetime
    score: int
    assignee: str | None
    comment: str


def _after(
    where: peewee.Expression, at: peewee.Field, key_id: peewee.Field, after: Key | None
) -> peewee.Expression:
    """`where`, and past the key `after` in (at, key_id) order if given."""
    if after is None:
        return where
    moment, last_id = after
    return where & ((at > moment) | ((at == moment) & (key_id > last_id)))


def ticket_rows(
    period: Period, desks: Desks, after: Key | None, limit: int
) -> tuple[list[TicketRow], Key | None]:
    """Up to `limit` tickets created in the period after `after`, oldest first, and the
    key to continue from (None when these were the last)."""
    query = (
        Ticket.select(
            Ticket.id,
            Ticket.seq,
            Ticket.desk,
            Ticket.subject,
            Ticket.status,
            Ticket.priority,
            Ticket.category,
            Contact.email,
            Agent.email,
            Ticket.created_at,
            Ticket.first_response_at,
            Ticket.resolved_at,
            Ticket.first_response_breached_at,
            Ticket.resolution_breached_at,
        )
        .join(Contact, on=Ticket.requester == Contact.id)
        .switch(Ticket)
        .join(Agent, peewee.JOIN.LEFT_OUTER, on=Ticket.assignee == Agent.id)
        .where(
            _after(
                _in(Ticket.created_at, period) & Ticket.unmerged(),
                Ticket.created_at,
                Ticket.id,
                after,
            )
        )
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    found = list(tuples(query))
    values = _field_values([row[0] for row in found])
    rows, key = [], None
    for (
        ticket_id,
        seq,
        slug,
        subject,
        status,
        priority,
        category,
        requester,
        assignee,
        created,
        answered,
        resolved,
        first_breach,
        resolution_breach,
    ) in found:
        rows.append(
            TicketRow(
                desks.label(slug, seq),
                subject,
                status,
                priority,
                category,
                requester,
                assignee,
                created,
                answered,
                resolved,
                first_breach is not None or resolution_breach is not None,
                desks.get(slug).slug,
                values.get(ticket_id, {}),
            )
        )
        key = (created, ticket_id)
    return rows, key if len(rows) == limit else None


def _field_values(ticket_ids: list[int]) -> dict[int, dict[str, list[str]]]:
    """The custom field values of these tickets, by ticket id and name: one query."""
    values: dict[int, dict[str, list[str]]] = {}
    if not ticket_ids:
        return values
    query = (
        TicketField.select(TicketField.ticket, TicketField.name, TicketField.value)
        .where(TicketField.ticket.in_(ticket_ids))
        .order_by(TicketField.id)
    )
    for ticket_id, name, value in tuples(query):
        values.setdefault(ticket_id, {}).setdefault(name, []).append(value)
    return values


def rating_rows(
    period: Period, desks: Desks, after: Key | None, limit: int
) -> tuple[list[RatingRow], Key | None]:
    """Up to `limit` ratings given in the period after `after`, oldest first, and the
    key to continue from (None when these were the last)."""
    query = (
        Satisfaction.select(
            Satisfaction.id,
            Ticket.seq,
            Ticket.desk,
            Satisfaction.created_at,
            Satisfaction.score,
            Agent.email,
            Satisfaction.comment,
        )
        .join(Ticket)
        .join(Agent, peewee.JOIN.LEFT_OUTER)
        .where(_after(_rated(period), Satisfaction.created_at, Satisfaction.id, after))
        .order_by(Satisfaction.created_at, Satisfaction.id)
        .limit(limit)
    )
    rows, key = [], None
    for rating_id, seq, slug, at, score, assignee, comment in tuples(query):
        rows.append(RatingRow(desks.label(slug, seq), at, int(score), assignee, comment))
        key = (at, rating_id)
    return rows, key if len(rows) == limit else None
