"""Time agents spent on tickets (`#time 25m`, the web reply's "time spent" field, the
API's `time_spent`): one `TimeEntry` row per entry, each one in the event log.

Where it sits in the flow: `tickets.changes.apply` records an entry for a checked
`#time` command, in the pipeline's transaction; the ticket page, `tickets show
--json` and the API read a ticket's entries here; the reports sum them
(`queries.time_report`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee

from maildesk.store.models import Agent, Ticket, TimeEntry


@dataclass(frozen=True)
class Entry:
    agent: str  # the agent's email
    name: str
    minutes: int
    at: dt.datetime


def record(ticket: Ticket, agent: Agent, minutes: int, now: dt.datetime) -> TimeEntry:
    """One entry of time `agent` spent on `ticket` (the caller logs it)."""
    entry: TimeEntry = TimeEntry.create(ticket=ticket, agent=agent, minutes=minutes, at=now)
    return entry


def entries(ticket_id: int) -> list[Entry]:
    """The ticket's entries, oldest first."""
    query = (
        TimeEntry.select(TimeEntry.minutes, TimeEntry.at, Agent.email, Agent.name)
        .join(Agent)
        .where(TimeEntry.ticket == ticket_id)
        .order_by(TimeEntry.at, TimeEntry.id)
    )
    return [Entry(e.agent.email, e.agent.name, e.minutes, e.at) for e in query]


def total_minutes(ticket_id: int) -> int:
    """All the time spent on the ticket, in minutes."""
    total = (
        TimeEntry.select(peewee.fn.SUM(TimeEntry.minutes))
        .where(TimeEntry.ticket == ticket_id)
        .scalar()
    )
    return int(total or 0)


def spoken(minutes: int) -> str:
    """`90` -> `1h 30m`, `25` -> `25m`."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h {rest:02d}m" if rest else f"{hours}h"
