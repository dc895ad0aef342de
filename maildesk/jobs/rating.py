"""The satisfaction question, asked `[tickets] rating_delay_hours` after the resolution.

Where it sits: run by the jobs (`jobs.runner`) after each SLA pass, and by
`maildesk sla scan`. With a delay of 0 the resolved notice asks it and this does
nothing. Otherwise each resolved (or since closed) ticket that is not rated is
claimed with a conditional UPDATE of `rating_asked_at` in the transaction that
queues the mail, so neither a restart nor a second instance asks twice. A question
more than `LATE` overdue (the jobs were stopped, or the setting was just turned on)
is not asked at all: a survey weeks later is noise.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import peewee

from maildesk.core.vocabulary import DONE_STATUSES
from maildesk.jobs.batch import BATCH, drain
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Satisfaction, Ticket
from maildesk.tickets.desk import Desk
from maildesk.tickets.escalation import event_collector

LATE = dt.timedelta(days=7)
ASKED = "satisfaction_asked"  # the log entry


def before_hours(before: dt.datetime, now: dt.datetime) -> int:
    return int((now - before).total_seconds() // 3600)


class RatingQuestions:
    def __init__(self, desk: Desk) -> None:
        self.db = desk.db
        self.config = desk.config
        self.mailer = desk.mailer

    def run(self, now: dt.datetime) -> int:
        """Ask what was resolved `rating_delay_hours` ago; how many were asked."""
        hours = self.config.tickets.rating_delay_hours
        if hours <= 0:
            return 0
        before = now - dt.timedelta(hours=hours)
        return drain(functools.partial(self._ask_batch, before, before - LATE, now))

    def _due(self, before: dt.datetime, since: dt.datetime) -> Any:
        rated = Satisfaction.select(Satisfaction.id).where(Satisfaction.ticket == Ticket.id)
        return (
            Ticket.rating_asked_at.is_null()
            & Ticket.resolved_at.is_null(False)
            & (Ticket.resolved_at <= before)
            & (Ticket.resolved_at > since)
            & Ticket.status.in_(DONE_STATUSES)
            & Ticket.unmerged()
            & ~peewee.fn.EXISTS(rated)
        )

    def _ask_batch(
        self, before: dt.datetime, since: dt.datetime, now: dt.datetime
    ) -> tuple[int, int]:
        due = self._due(before, since)
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(due).order_by(Ticket.resolved_at).limit(BATCH))
            for ticket in tickets:
                claimed = (
                    Ticket.update(rating_asked_at=now)
                    .where((Ticket.id == ticket.id) & due)
                    .execute()
                )
                if not claimed:  # another instance asked, a reply reopened it, or it was rated
                    continue
                events: list[dict[str, Any]] = []
                log_ = event_collector(events, now)
                log_(
                    ticket, "system", ASKED, {"delay_hours": self.config.tickets.rating_delay_hours}
                )
                self.mailer.satisfaction(ticket, now, log_)
                repo.record_events(events)
                done += 1
        return len(tickets), done
