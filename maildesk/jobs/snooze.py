"""Snoozed tickets woken and reminders sent, when their time has come, each once.

Where it sits: run by the jobs (`jobs.runner`) after each SLA pass, and by `maildesk
sla scan`. `#snooze` (`tickets.changes`) stores `ticket.snoozed_until`, `#remind` a
`reminder` row. A due ticket is locked and read again in the transaction that wakes
it and queues its notice (`repo.lock_ticket_id`), so a customer's reply, a new
`#snooze` or another instance that got there first wins; a reminder is claimed with a
conditional UPDATE of its `sent_at` in the transaction that queues its mail.

- wake: the ticket is back in the open queue (`open` again if it was waiting on the
  customer) and its assignee, else the desk's agents on duty, get a notice with their
  signed reply address. A resolved or closed ticket is only taken out of snooze.
- reminder: a mail to the agent who set it, about its ticket (the one it was merged
  into, if it was); none to an agent no longer active or no longer seeing the ticket.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from maildesk.core.vocabulary import DONE_STATUSES, OPEN, WAITING
from maildesk.jobs.batch import BATCH, drain
from maildesk.store import repo, rows
from maildesk.store.db import write_transaction
from maildesk.store.models import Agent, Reminder, Ticket
from maildesk.tickets.desk import Desk
from maildesk.tickets.escalation import event_collector


class Snoozes:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.db = desk.db
        self.mailer = desk.mailer

    def run(self, now: dt.datetime) -> dict[str, int]:
        """Wake what is due at `now`, send the reminders due; how many of each."""
        return {
            "woken": drain(functools.partial(self._wake_batch, now)),
            "reminders": drain(functools.partial(self._remind_batch, now)),
        }

    def _wake_batch(self, now: dt.datetime) -> tuple[int, int]:
        where = Ticket.snoozed_until.is_null(False) & (Ticket.snoozed_until <= now)
        done = 0
        with write_transaction(self.db):
            ids = [
                t.id
                for t in Ticket.select(Ticket.id)
                .where(where)
                .order_by(Ticket.snoozed_until)
                .limit(BATCH)
            ]
            agents = repo.active_agents() if ids else []
            for ticket_id in ids:
                done += self._wake(repo.lock_ticket_id(self.db, ticket_id), agents, now)
        return len(ids), done

    def _wake(self, ticket: Ticket, agents: list[Agent], now: dt.datetime) -> int:
        until = ticket.snoozed_until
        if until is None or until > now:  # woken or snoozed again meanwhile
            return 0
        events: list[dict[str, Any]] = []
        log_ = event_collector(events, now)
        changes = self.desk.changes(now, log_)
        ticket.snoozed_until = None
        log_(ticket, "system", "woken", {"until": until.isoformat()})
        if ticket.status not in DONE_STATUSES:
            if ticket.status == WAITING:
                changes.set_status(ticket, OPEN, "system")
            ticket.updated_at = now
            told = [a for a in agents if a.id == ticket.assignee_id] or self.mailer.on_duty(agents)
            self.mailer.snooze_ended(ticket, told, until, now, log_)
        rows.update(self.db, ticket)
        repo.record_events(events)
        return 1

    def _remind_batch(self, now: dt.datetime) -> tuple[int, int]:
        where = Reminder.sent_at.is_null() & (Reminder.due_at <= now)
        done = 0
        with write_transaction(self.db):
            due = list(Reminder.select().where(where).order_by(Reminder.due_at).limit(BATCH))
            for reminder in due:
                claimed = (
                    Reminder.update(sent_at=now)
                    .where((Reminder.id == reminder.id) & Reminder.sent_at.is_null())
                    .execute()
                )
                if not claimed:
                    continue
                events: list[dict[str, Any]] = []
                log_ = event_collector(events, now)
                ticket = repo.survivor(Ticket.get_by_id(reminder.ticket_id))
                agent = Agent.get_by_id(reminder.agent_id)
                data = {"id": reminder.id, "to": agent.email, "text": reminder.text}
                log_(ticket, "system", "reminder_sent", data)
                if agent.active:
                    self.mailer.reminder(ticket, agent, reminder.text, reminder.due_at, now, log_)
                repo.record_events(events)
                done += 1
        return len(due), done
