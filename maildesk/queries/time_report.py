"""Time spent on tickets over a period: per agent and per category.

Where it sits in the flow: read-only sums over `TimeEntry` (recorded by `#time`,
`tickets.time_spent`), for `maildesk report time`, the reports page and its CSV
exports. An entry counts in the period its `at` falls in, whatever became of its
ticket since (merged tickets included: the time was spent); a category is the
ticket's category now (`(none)` without one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee

from maildesk.queries.ticket_list import in_scope
from maildesk.settings.desks import Scope
from maildesk.store.models import Agent, Ticket, TimeEntry
from maildesk.store.rows import tuples
from maildesk.tickets.time_spent import spoken

NO_CATEGORY = "(none)"


@dataclass(frozen=True)
class TimeSum:
    """The time of one agent or one category."""

    key: str  # the agent's email, or the category
    name: str  # the agent's name ("" for a category)
    minutes: int
    entries: int
    tickets: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "minutes": self.minutes,
            "entries": self.entries,
            "tickets": self.tickets,
        }


@dataclass(frozen=True)
class TimeReport:
    since: dt.datetime
    until: dt.datetime
    minutes: int
    entries: int
    tickets: int
    by_agent: tuple[TimeSum, ...]  # most time first
    by_category: tuple[TimeSum, ...]


def _sums(
    start: dt.datetime, end: dt.datetime, scope: Scope | None, *group: peewee.Node
) -> list[tuple[Any, ...]]:
    query = (
        TimeEntry.select(
            *group,
            peewee.fn.SUM(TimeEntry.minutes),
            peewee.fn.COUNT(TimeEntry.id),
            peewee.fn.COUNT(peewee.fn.DISTINCT(TimeEntry.ticket)),
        )
        .join(Ticket, on=TimeEntry.ticket == Ticket.id)
        .switch(TimeEntry)
        .join(Agent, on=TimeEntry.agent == Agent.id)
        .where((TimeEntry.at >= start) & (TimeEntry.at < end) & in_scope(scope))
    )
    if group:
        query = query.group_by(*group)
    return list(tuples(query))


def time_report(start: dt.datetime, end: dt.datetime, scope: Scope | None = None) -> TimeReport:
    """The time entries from `start` to `end` (exclusive) of the tickets `scope` covers."""
    [(minutes, entries, tickets)] = _sums(start, end, scope)
    by_agent = [
        TimeSum(email, name, int(m), n, t)
        for email, name, m, n, t in _sums(start, end, scope, Agent.email, Agent.name)
    ]
    by_category = [
        TimeSum(category or NO_CATEGORY, "", int(m), n, t)
        for category, m, n, t in _sums(start, end, scope, Ticket.category)
    ]
    return TimeReport(
        since=start,
        until=end,
        minutes=int(minutes or 0),
        entries=entries,
        tickets=tickets,
        by_agent=tuple(sorted(by_agent, key=lambda s: (-s.minutes, s.key))),
        by_category=tuple(sorted(_merged(by_category), key=lambda s: (-s.minutes, s.key))),
    )


def _merged(sums: list[TimeSum]) -> list[TimeSum]:
    """No category and an empty one are both `(none)`: one row."""
    merged: dict[str, TimeSum] = {}
    for s in sums:
        old = merged.get(s.key)
        if old is not None:
            s = TimeSum(
                s.key, "", old.minutes + s.minutes, old.entries + s.entries, old.tickets + s.tickets
            )
        merged[s.key] = s
    return list(merged.values())


def as_dict(report: TimeReport) -> dict[str, Any]:
    """The JSON of `maildesk report time --json` (documented in the README)."""
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "minutes": report.minutes,
        "entries": report.entries,
        "tickets": report.tickets,
        "by_agent": {s.key: s.as_dict() for s in report.by_agent},
        "by_category": {
            s.key: {k: v for k, v in s.as_dict().items() if k != "name"} for s in report.by_category
        },
    }


def report_text(report: TimeReport) -> str:
    """`time_report` for people."""
    lines = [
        f"Time spent from {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC",
        "",
        f"All: {spoken(report.minutes)} in {report.entries} entries on {report.tickets} tickets",
    ]
    for title, sums in (("By agent", report.by_agent), ("By category", report.by_category)):
        lines += ["", title]
        for s in sums:
            who = f"{s.name} <{s.key}>" if s.name else s.key
            lines.append(f"  {who}: {spoken(s.minutes)} ({s.entries} entries, {s.tickets} tickets)")
        if not sums:
            lines.append("  (none)")
    return "\n".join(lines) + "\n"
