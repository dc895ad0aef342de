"""Auto-close of tickets waiting on the customer: after `[sla]
auto_close_waiting_days` of silence the ticket is closed, and `auto_close_warning_days`
before that the customer is told ("we will close this on ..., reply to keep it open").

Where it sits: run by the jobs (`jobs.runner`) after each SLA pass, and by `maildesk
sla scan`. The silence counts from `ticket.waiting_since`, stamped by every move to
waiting (`tickets.changes.set_stamps`); any move away from waiting, a customer's reply
above all, clears it and the warning with it. The warning is claimed with a
conditional UPDATE of `close_warned_at`, the close with one of the status, each in
the transaction that queues its mail: once each, across restarts and instances. A
ticket is never closed sooner than `auto_close_warning_days` after its warning, so a
warning sent late (the daemon was down) still leaves the customer that time.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Any

from maildesk.core.vocabulary import CLOSED, WAITING
from maildesk.jobs.batch import BATCH, drain
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Ticket
from maildesk.tickets.desk import Desk
from maildesk.tickets.escalation import event_collector


class WaitingClose:
    def __init__(self, desk: Desk) -> None:
        self.db = desk.db
        self.config = desk.config
        self.mailer = desk.mailer

    def run(self, now: dt.datetime) -> dict[str, int]:
        """Warnings, then closes, due at `now`; how many of each."""
        days = self.config.sla.auto_close_waiting_days
        if days <= 0:
            return {"close_warnings": 0, "waiting_closed": 0}
        warning = dt.timedelta(days=min(self.config.sla.auto_close_warning_days, days))
        silence = dt.timedelta(days=days)
        return {
            "close_warnings": drain(functools.partial(self._warn_batch, now, silence, warning))
            if warning
            else 0,
            "waiting_closed": drain(functools.partial(self._close_batch, now, silence, warning)),
        }

    def _warn_batch(
        self, now: dt.datetime, silence: dt.timedelta, warning: dt.timedelta
    ) -> tuple[int, int]:
        due = (
            (Ticket.status == WAITING)
            & (Ticket.waiting_since <= now - (silence - warning))
            & Ticket.close_warned_at.is_null()
            & Ticket.unmerged()
        )
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(due).order_by(Ticket.waiting_since).limit(BATCH))
            for ticket in tickets:
                claimed = (
                    Ticket.update(close_warned_at=now)
                    .where((Ticket.id == ticket.id) & due)
                    .execute()
                )
                if not claimed:
                    continue
                closes = max(ticket.waiting_since + silence, now + warning)
                events: list[dict[str, Any]] = []
                log_ = event_collector(events, now)
                log_(ticket, "system", "close_warning", {"closes": closes.isoformat()})
                self.mailer.close_warning(ticket, self._local_day(closes), now, log_)
                repo.record_events(events)
                done += 1
        return len(tickets), done

    def _close_batch(
        self, now: dt.datetime, silence: dt.timedelta, warning: dt.timedelta
    ) -> tuple[int, int]:
        due = (Ticket.status == WAITING) & (Ticket.waiting_since <= now - silence)
        due &= Ticket.unmerged()
        if warning:
            due &= Ticket.close_warned_at <= now - warning
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(due).order_by(Ticket.waiting_since).limit(BATCH))
            for ticket in tickets:
                resolved_at = ticket.resolved_at or now  # as `core.vocabulary.stamps` has it
                claimed = (
                    Ticket.update(
                        status=CLOSED,
                        closed_at=now,
                        resolved_at=resolved_at,
                        updated_at=now,
                        waiting_since=None,
                        close_warned_at=None,
                    )
                    .where((Ticket.id == ticket.id) & due)
                    .execute()
                )
                if not claimed:
                    continue
                ticket.status, ticket.closed_at = CLOSED, now
                events: list[dict[str, Any]] = []
                log_ = event_collector(events, now)
                log_(ticket, "system", "status_changed", {"before": WAITING, "after": CLOSED})
                days = silence.days
                log_(ticket, "system", "auto_closed", {"days": days, "waiting": True})
                self.mailer.waiting_closed(ticket, days, now, log_)
                repo.record_events(events)
                done += 1
        return len(tickets), done

    def _local_day(self, moment: dt.datetime) -> str:
        return moment.astimezone(zoneinfo.ZoneInfo(self.config.sla.timezone)).strftime("%Y-%m-%d")
