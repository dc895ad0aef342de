"""The expectation a ticket's customer is told: which target runs now, and its values.

Where it sits in the flow: the pipeline's acknowledgement and the status page call
`current` with the desk's `Policies`; it picks the target running now from the
ticket's SLA fields (kept by `tickets.sla_clock`): the first response until it is
given, then the next response while a customer message waits for its answer, else
the resolution until the ticket is done. `context` turns the `core.expectation`
value into plain values for the templates (and for a queued mail's draft, which is
JSON), the wording staying in the templates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maildesk.core.expectation import Expectation, Kind, duration_parts, expect
from maildesk.core.vocabulary import DONE_STATUSES, WAITING
from maildesk.store.models import Ticket
from maildesk.tickets.policies import Policies

WEEK = dt.timedelta(days=6)  # a due time further away is stated with its date


def current(policies: Policies, ticket: Ticket, now: dt.datetime) -> Expectation | None:
    """The target running now, or None: no SLA, no target for the ticket's priority,
    or nothing due (answered and done)."""
    calendar, target = policies.target(ticket.priority, ticket.category, ticket.desk)
    if not policies.enabled or target is None or ticket.status in DONE_STATUSES:
        return None
    waiting = ticket.status == WAITING
    if ticket.first_response_at is None:
        if ticket.first_response_due is None:
            return None
        return expect(
            calendar,
            Kind.FIRST_RESPONSE,
            target.first_response,
            _aware(ticket.first_response_due),
            now,
            paused=waiting,
        )
    running_next = ticket.next_response_started_at is not None and ticket.next_response_at is None
    if running_next and target.next_response:
        paused = waiting or ticket.next_response_paused_at is not None
        return expect(
            calendar,
            Kind.NEXT_RESPONSE,
            target.next_response,
            _aware(ticket.next_response_due),
            now,
            paused=paused,
        )
    # The resolution clock has no due time while paused (`tickets.sla_clock`).
    paused = waiting or ticket.sla_paused_at is not None
    if ticket.resolution_due is None and not paused:
        return None
    return expect(
        calendar,
        Kind.RESOLUTION,
        target.resolution,
        _aware(ticket.resolution_due),
        now,
        paused=paused,
    )


def context(expectation: Expectation | None, now: dt.datetime) -> dict[str, Any] | None:
    """Plain values for the templates: what `Expectation` holds, the times written out
    ("Monday 10:00", with the date when more than six days away), the intervals as
    milliseconds since the epoch for the status page's script."""
    if expectation is None:
        return None
    hours, minutes, seconds = duration_parts(expectation.remaining_seconds)
    back_at = expectation.back_at
    return {
        "kind": expectation.kind.value,
        "due": None if expectation.due is None else _spoken(expectation.due, now),
        "due_iso": None if expectation.due is None else expectation.due.isoformat(),
        "timezone": expectation.timezone,
        "amount": expectation.target_amount,
        "unit": expectation.target_unit,
        "away": expectation.away.value,
        "back_at": None if back_at is None else _spoken(back_at, now),
        "paused": expectation.paused,
        "late": expectation.late,
        "counting": expectation.counting,
        "remaining_seconds": expectation.remaining_seconds,
        "left": {"hours": hours, "minutes": minutes, "seconds": seconds},
        "intervals": [[_millis(start), _millis(end)] for start, end in expectation.intervals],
    }


def _spoken(moment: dt.datetime, now: dt.datetime) -> str:
    if abs(moment - now) > WEEK:
        return moment.strftime("%A %d %B %Y %H:%M")
    return moment.strftime("%A %H:%M")


def _millis(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """Stored times are UTC; read back without a zone, they are taken as such."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)
