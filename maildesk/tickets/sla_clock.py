"""A ticket's SLA clocks, kept in its row: due times, warn times, pauses, breaches.

Where it sits in the flow: the pipeline and `changes.TicketChanges` call
`SlaTracker` when a ticket is created, when its priority or category changes,
when its status changes (`waiting_on_customer` pauses the resolution clock,
an answer from the customer resumes it), when an agent's reply reaches the
customer (first response) and when it is resolved. The SLA pass (`jobs.runner`)
reads the stored due and warn times. The arithmetic is `core.sla`'s.

Stored per ticket: `first_response_due` / `resolution_due` (None while the
resolution clock is paused), `first_response_warn_at` / `resolution_warn_at`,
`sla_paused_at` and `sla_paused_seconds` (business seconds spent paused).
The next-response clock (a priority's optional third target) runs per cycle: a
customer message after an agent's answer starts one (`next_response_started_at`,
`_due`, `_warn_at`), a second message before the answer does not restart it, the
next public answer ends it (`next_response_at`); it pauses and resumes with the
resolution clock (`next_response_paused_at`, `_paused_seconds`).
A target met late is a breach at the due time, whether or not the SLA pass
saw it pass: `tickets.escalation` records and escalates it, once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maildesk.core.sla import (
    Calendar,
    Clock,
    Target,
    business_seconds,
    due,
    elapsed,
    pause,
    rebase,
    resume,
    warn_at,
)
from maildesk.core.vocabulary import DONE_STATUSES, PAUSED_STATUSES
from maildesk.store.models import Ticket
from maildesk.tickets.policies import Policies

# The ticket fields `start` sets, for a caller that inserts the row itself.
SLA_FIELDS = (
    "first_response_due",
    "first_response_warn_at",
    "resolution_due",
    "resolution_warn_at",
)


class SlaTracker:
    def __init__(self, policies: Policies) -> None:
        self.policies = policies

    def _policy(self, ticket: Ticket) -> tuple[Calendar, Target | None]:
        return self.policies.target(ticket.priority, ticket.category, ticket.desk)

    # -- changes ------------------------------------------------------------------------

    def start(self, ticket: Ticket) -> None:
        """A new ticket (priority and category already routed): set the clocks."""
        self.retarget(ticket)

    def changed(self, ticket: Ticket, name: str, before: str | None, now: dt.datetime) -> None:
        """After `ticket.<name>` (priority or category) changed from `before` at `now`:
        the new targets. When the category brings another calendar, the business time
        elapsed so far (on the old calendar) is kept and the rest of the new target
        counts on the new calendar from `now` on."""
        old_category = before if name == "category" else ticket.category
        old = self.policies.policy(old_category, ticket.desk).calendar
        new = self.policies.policy(ticket.category, ticket.desk).calendar
        if self.policies.enabled and old != new:
            self._rebase(ticket, old, now)
        self.retarget(ticket)

    def retarget(self, ticket: Ticket) -> None:
        """Due and warn times for the ticket's current priority and category; the time
        already elapsed (and paused) is kept, since both clocks start at creation (or
        at the last change of calendar, with the time counted before it carried)."""
        calendar, target = self._policy(ticket)
        if not self.policies.enabled or target is None:
            ticket.first_response_due = ticket.first_response_warn_at = None
            ticket.resolution_due = ticket.resolution_warn_at = None
            ticket.next_response_due = ticket.next_response_warn_at = None
            return
        share = self.policies.warn_share
        first = self._first_clock(ticket, target.first_response)
        ticket.first_response_due = due(calendar, first)
        ticket.first_response_warn_at = warn_at(calendar, first, share)
        self._set_resolution(ticket, calendar, target)
        if self.next_running(ticket):
            self._set_next(ticket, calendar, target)

    def _rebase(self, ticket: Ticket, old: Calendar, now: dt.datetime) -> None:
        first_end = now
        if ticket.first_response_at is not None:  # stopped at the answer
            first_end = min(now, ticket.first_response_at)
        first = self._first_clock(ticket, 0)
        resolution = self._resolution_clock(ticket, 0)
        ticket.first_response_carried_seconds = elapsed(old, first, first_end)
        ticket.resolution_carried_seconds = rebase(old, resolution, now).carried
        ticket.sla_paused_seconds = 0  # left out of the time carried already
        ticket.sla_rebased_at = now

    def _start(self, ticket: Ticket) -> dt.datetime:
        return ticket.sla_rebased_at or ticket.created_at

    def _first_clock(self, ticket: Ticket, seconds: int) -> Clock:
        carried = int(ticket.first_response_carried_seconds or 0)
        return Clock(self._start(ticket), seconds, carried=carried)

    def _set_resolution(self, ticket: Ticket, calendar: Calendar, target: Target) -> None:
        clock = self._resolution_clock(ticket, target.resolution)
        ticket.resolution_due = due(calendar, clock)
        ticket.resolution_warn_at = warn_at(calendar, clock, self.policies.warn_share)

    def _resolution_clock(self, ticket: Ticket, seconds: int) -> Clock:
        start = self._start(ticket)
        paused_since = ticket.sla_paused_at
        if paused_since is not None:  # paused before a change of calendar: from it on
            paused_since = max(paused_since, start)
        return Clock(
            start,
            seconds,
            int(ticket.sla_paused_seconds or 0),
            paused_since,
            int(ticket.resolution_carried_seconds or 0),
        )

    def status_changed(self, ticket: Ticket, before: str, now: dt.datetime) -> None:
        """After `ticket.status` changed from `before`. The resolution clock runs only
        while the ticket is in the agents' court: `waiting_on_customer` pauses it, and so
        does resolving (a reopened ticket goes on from where it stood, instead of being
        late for the time it rested). A resolution after the due time is a breach, which
        the caller records and escalates (`escalation.Escalation.late`)."""
        after = ticket.status
        calendar, target = self._policy(ticket)
        if target is None or not self.policies.enabled:
            return
        stopped = after in PAUSED_STATUSES
        clock = self._resolution_clock(ticket, target.resolution)
        if stopped and clock.paused_since is None:
            clock = pause(calendar, clock, now)
        elif not stopped and clock.paused_since is not None:
            clock = resume(calendar, clock, now)
        ticket.sla_paused_at = clock.paused_since
        ticket.sla_paused_seconds = clock.paused
        if after not in DONE_STATUSES:  # a resolved ticket keeps the due time it had
            self._set_resolution(ticket, calendar, target)
        if self.next_running(ticket):
            self._pause_next(ticket, calendar, target, stopped, now)

    def responded(self, ticket: Ticket, at: dt.datetime) -> None:
        """An agent's reply reached the customer: the first response, if it is the first."""
        if ticket.first_response_at is not None:
            return
        ticket.first_response_at = at  # late: `escalation.Escalation.late` breaches it

    # -- next response --------------------------------------------------------------------

    @staticmethod
    def next_running(ticket: Ticket) -> bool:
        """A next-response cycle is open: a customer message waits for its answer."""
        return ticket.next_response_started_at is not None and ticket.next_response_at is None

    def customer_wrote(self, ticket: Ticket, now: dt.datetime) -> bool:
        """A customer message reached the ticket at `now` (its status already set): a
        next-response cycle starts if the ticket has had an agent's answer (before that,
        the first response is due), its priority has a next-response target and no
        cycle waits already (the first unanswered message counts). True if one started."""
        calendar, target = self._policy(ticket)
        if not self.policies.enabled or target is None or target.next_response is None:
            return False
        if ticket.first_response_at is None or self.next_running(ticket):
            return False
        ticket.next_response_started_at = now
        ticket.next_response_at = None
        ticket.next_response_warned_at = ticket.next_response_breached_at = None
        ticket.next_response_paused_at = None
        ticket.next_response_paused_seconds = 0
        if ticket.status in PAUSED_STATUSES:  # e.g. a message kept without reopening
            ticket.next_response_paused_at = now
        self._set_next(ticket, calendar, target)
        return True

    def answered(self, ticket: Ticket, at: dt.datetime) -> int | None:
        """An agent's public answer reached the customer at `at`: the cycle waiting for it
        ends. Its business seconds (pauses left out), or None when none waited. Late:
        `escalation.Escalation.late` breaches it."""
        if not self.next_running(ticket):
            return None
        ticket.next_response_at = at
        calendar, _ = self._policy(ticket)
        return elapsed(calendar, self._next_clock(ticket, 0), at)

    def _next_clock(self, ticket: Ticket, seconds: int) -> Clock:
        assert ticket.next_response_started_at is not None
        return Clock(
            ticket.next_response_started_at,
            seconds,
            int(ticket.next_response_paused_seconds or 0),
            ticket.next_response_paused_at,
        )

    def _set_next(self, ticket: Ticket, calendar: Calendar, target: Target) -> None:
        if target.next_response is None:  # the new priority has none: nothing is due
            ticket.next_response_due = ticket.next_response_warn_at = None
            return
        clock = self._next_clock(ticket, target.next_response)
        ticket.next_response_due = due(calendar, clock)
        ticket.next_response_warn_at = warn_at(calendar, clock, self.policies.warn_share)

    def _pause_next(
        self, ticket: Ticket, calendar: Calendar, target: Target, stopped: bool, now: dt.datetime
    ) -> None:
        """The resolution clock's pause rule, for the waiting customer message. A paused
        cycle keeps the due time it had (the SLA pass leaves it alone): an answer that
        comes with the pause (the reply that sets waiting_on_customer) is judged by it;
        resuming moves it by the business time spent paused."""
        clock = self._next_clock(ticket, target.next_response or 0)
        if stopped and clock.paused_since is None:
            ticket.next_response_paused_at = pause(calendar, clock, now).paused_since
        elif not stopped and clock.paused_since is not None:
            clock = resume(calendar, clock, now)
            ticket.next_response_paused_at = None
            ticket.next_response_paused_seconds = clock.paused
            self._set_next(ticket, calendar, target)

    # -- reading ------------------------------------------------------------------------

    def view(self, ticket: Ticket, now: dt.datetime) -> dict[str, Any]:
        """The SLA state for `tickets show --json`."""
        calendar, target = self._policy(ticket)
        if target is None or not self.policies.enabled:
            return {"policy": None}
        first = self._first_clock(ticket, target.first_response)
        first_end = ticket.first_response_at or now
        resolution = self._resolution_clock(ticket, target.resolution)
        resolution_end = ticket.resolved_at or now
        found: dict[str, Any] = {
            "policy": {
                "first_response_seconds": target.first_response,
                "resolution_seconds": target.resolution,
            },
            "first_response": {
                "due": _iso(ticket.first_response_due),
                "met": ticket.first_response_at is not None
                and ticket.first_response_breached_at is None,
                "elapsed_seconds": elapsed(calendar, first, first_end),
                "warned_at": _iso(ticket.first_response_warned_at),
                "breached_at": _iso(ticket.first_response_breached_at),
            },
            "resolution": {
                "due": _iso(ticket.resolution_due),
                "met": ticket.resolved_at is not None and ticket.resolution_breached_at is None,
                "elapsed_seconds": elapsed(calendar, resolution, resolution_end),
                "paused": ticket.sla_paused_at is not None,
                "paused_since": _iso(ticket.sla_paused_at),
                "paused_seconds": int(ticket.sla_paused_seconds or 0),
                "warned_at": _iso(ticket.resolution_warned_at),
                "breached_at": _iso(ticket.resolution_breached_at),
            },
        }
        if target.next_response is not None:
            found["policy"]["next_response_seconds"] = target.next_response
        following = self._next_view(ticket, calendar, target, now)
        if following is not None:  # only where a next-response target is or was
            found["next_response"] = following
        return found

    def _next_view(
        self, ticket: Ticket, calendar: Calendar, target: Target, now: dt.datetime
    ) -> dict[str, Any] | None:
        """The next-response cycle running now, or the last one; None before any."""
        if target.next_response is None and ticket.next_response_started_at is None:
            return None
        started = ticket.next_response_started_at
        if started is None:
            return {"target_seconds": target.next_response, "running": False}
        answered = ticket.next_response_at
        clock = self._next_clock(ticket, 0)
        return {
            "target_seconds": target.next_response,
            "running": answered is None,
            "started_at": _iso(started),
            "due": _iso(ticket.next_response_due),
            "answered_at": _iso(answered),
            "met": answered is not None and ticket.next_response_breached_at is None,
            "elapsed_seconds": elapsed(calendar, clock, answered or now),
            "paused": ticket.next_response_paused_at is not None,
            "warned_at": _iso(ticket.next_response_warned_at),
            "breached_at": _iso(ticket.next_response_breached_at),
        }

    def clock_seconds(self, ticket: Ticket, target: str, end: dt.datetime) -> float:
        """Business seconds `target`'s clock ("first_response" or "resolution") counted
        from the ticket's creation until `end`: what `view` shows as elapsed, and what
        the reports average (waiting on the customer left out of the resolution)."""
        calendar, _ = self._policy(ticket)
        if target == "first_response":
            clock = self._first_clock(ticket, 0)
        else:
            clock = self._resolution_clock(ticket, 0)
        return float(elapsed(calendar, clock, end))

    def business_duration(self, ticket: Ticket, start: dt.datetime, end: dt.datetime) -> float:
        """Business seconds between two moments on this ticket's calendar."""
        calendar, _ = self._policy(ticket)
        return float(business_seconds(calendar, start, end))


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
