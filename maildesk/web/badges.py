"""SLA badges: where a ticket stands against its running target, at a glance.

Pure: read from the ticket's stored due, warn and breach times (the SLA pass and
`tickets.sla_clock` keep them), so the queue needs no policy lookups per row. The
matching SQL conditions (`queries.ticket_list.breached`, `at_risk`) select the
same tickets for the queue's filters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from maildesk.core.vocabulary import OPEN_STATUSES
from maildesk.store.models import Ticket


@dataclass(frozen=True)
class Badge:
    state: str  # none | ok | risk | breached | paused | met | missed
    target: str  # "first response" | "resolution" | ""
    due: dt.datetime | None
    text: str


def countdown(seconds: float) -> str:
    """`2d 3h`, `4h 05m`, `12m`: the two largest units."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else "<1m"


def sla_badge(ticket: Ticket, now: dt.datetime) -> Badge:
    breached_any = bool(ticket.first_response_breached_at or ticket.resolution_breached_at)
    if ticket.status not in OPEN_STATUSES:
        if breached_any:
            return Badge("missed", "", None, "SLA missed")
        if ticket.first_response_due or ticket.resolution_due:
            return Badge("met", "", None, "SLA met")
        return Badge("none", "", None, "")
    if ticket.first_response_at is None and ticket.first_response_due is not None:
        target, due = "first response", ticket.first_response_due
        warn, breached = ticket.first_response_warn_at, ticket.first_response_breached_at
    elif (
        ticket.next_response_due is not None
        and ticket.next_response_at is None
        and ticket.next_response_paused_at is None
    ):
        # a customer message waits for its answer: due before the resolution, as a rule
        target, due = "next response", ticket.next_response_due
        warn, breached = ticket.next_response_warn_at, ticket.next_response_breached_at
    elif ticket.resolution_due is not None:
        target, due = "resolution", ticket.resolution_due
        warn, breached = ticket.resolution_warn_at, ticket.resolution_breached_at
        if ticket.sla_paused_at is not None and breached is None:
            return Badge("paused", target, due, "paused: waiting on the customer")
    else:
        return Badge("none", "", None, "")
    left = (due - now).total_seconds()
    if breached is not None or left <= 0:
        return Badge("breached", target, due, f"{target} {countdown(left)} overdue")
    state = "risk" if warn is not None and now >= warn else "ok"
    return Badge(state, target, due, f"{target} in {countdown(left)}")
