"""The next-response cycles of tickets, kept for the reports.

Where it sits in the flow: `tickets.sla_clock.SlaTracker` keeps the cycle running now
in the ticket's row (due, warn, pause); this module writes the row per cycle in
`NextResponseCycle` that stays once the cycle ends: the pipeline when a customer message
starts one and when an agent's answer ends it, `tickets.escalation` when it is breached.
`queries.sla_report` counts them. All in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maildesk.store.models import NextResponseCycle, Ticket

NEXT_RESPONSE = "next_response"


def _current(ticket: Ticket) -> Any:
    return (NextResponseCycle.ticket == ticket.id) & (
        NextResponseCycle.started_at == ticket.next_response_started_at
    )


def started(ticket: Ticket) -> None:
    """The cycle `SlaTracker.customer_wrote` just started on `ticket`."""
    NextResponseCycle.insert(
        ticket=ticket.id,
        started_at=ticket.next_response_started_at,
        due_at=ticket.next_response_due,
    ).execute()


def answered(ticket: Ticket, at: dt.datetime, seconds: int) -> None:
    """The cycle ended by an agent's answer at `at`, `seconds` of business time in."""
    NextResponseCycle.update(
        answered_at=at, business_seconds=seconds, due_at=ticket.next_response_due
    ).where(_current(ticket)).execute()


def breached(ticket: Ticket, due_at: dt.datetime) -> None:
    """The running cycle's breach, recorded at its due time."""
    NextResponseCycle.update(breached_at=due_at, due_at=due_at).where(
        _current(ticket) & NextResponseCycle.breached_at.is_null()
    ).execute()
