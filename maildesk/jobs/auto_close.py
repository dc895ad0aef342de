"""Auto-close: resolved tickets are closed `[sla] auto_close_days` later, with a notice.

Where it sits: run by the jobs (`jobs.runner`) after each SLA pass, and by
`maildesk sla scan`. Each ticket is claimed with a conditional UPDATE (still
resolved), so a reply that reopened it meanwhile, or another instance, wins.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from maildesk.core.vocabulary import AUTO_CLOSE_FROM, CLOSED
from maildesk.jobs.batch import BATCH, drain
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Ticket
from maildesk.tickets.desk import Desk
from maildesk.tickets.escalation import event_collector


class AutoClose:
    def __init__(self, desk: Desk) -> None:
        self.db = desk.db
        self.config = desk.config
        self.mailer = desk.mailer

    def run(self, now: dt.datetime) -> int:
        """Close what was resolved `auto_close_days` ago; how many."""
        days = self.config.sla.auto_close_days
        if days <= 0:
            return 0
        before = now - dt.timedelta(days=days)
        return drain(functools.partial(self._close_batch, before, days, now))

    def _close_batch(self, before: dt.datetime, days: int, now: dt.datetime) -> tuple[int, int]:
        where = (
            (Ticket.status == AUTO_CLOSE_FROM) & (Ticket.resolved_at <= before) & Ticket.unmerged()
        )
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(where).order_by(Ticket.resolved_at).limit(BATCH))
            for ticket in tickets:
                events: list[dict[str, Any]] = []
                log_ = event_collector(events, now)
                claimed = (
                    Ticket.update(status=CLOSED, closed_at=now, updated_at=now)
                    .where((Ticket.id == ticket.id) & (Ticket.status == AUTO_CLOSE_FROM))
                    .execute()
                )
                if not claimed:
                    continue
                ticket.status, ticket.closed_at = CLOSED, now  # `stamps`: resolved_at is kept
                log_(
                    ticket, "system", "status_changed", {"before": AUTO_CLOSE_FROM, "after": CLOSED}
                )
                log_(ticket, "system", "auto_closed", {"days": days})
                self.mailer.auto_close(ticket, days, now, log_)
                repo.record_events(events)
                done += 1
        return len(tickets), done
