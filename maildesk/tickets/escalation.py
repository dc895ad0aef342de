"""A breached SLA target, escalated exactly once, by whoever sees the breach first.

Where it sits in the flow: the SLA pass (`jobs.runner`) finds targets whose due time has
passed unanswered; the pipeline finds targets met late, when an agent's first
reply or the resolution comes after the due time and no pass ran in between.
Both call `Escalation.breach`, which claims the breach with a conditional UPDATE
(`*_breached_at` still unset) in the caller's transaction, so of the two (and of
two instances on one PostgreSQL) exactly one records it and escalates:

- the breach recorded at the due time itself, escalation level + 1;
- the priority raised one step if `[sla] escalation_bump_priority`;
- mail to `[sla] escalation_addresses` and the managers, an `sla_breached` event.

A merged ticket's breach is recorded but not escalated (its work goes on in the
ticket it joined, which has clocks of its own).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import peewee

from maildesk.config import Config
from maildesk.core.message import Address
from maildesk.outbound.compose import Mailer
from maildesk.store import repo
from maildesk.store.models import Agent, Ticket
from maildesk.tickets import next_response
from maildesk.tickets.changes import TicketChanges
from maildesk.tickets.labels import Labels
from maildesk.tickets.next_response import NEXT_RESPONSE
from maildesk.tickets.sla_clock import SlaTracker

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
TARGETS = (FIRST_RESPONSE, RESOLUTION, NEXT_RESPONSE)


class Escalation:
    def __init__(
        self, db: peewee.Database, config: Config, mailer: Mailer, sla: SlaTracker, labels: Labels
    ) -> None:
        self.db = db
        self.config = config
        self.mailer = mailer
        self.sla = sla
        self.labels = labels

    def breach(self, ticket: Ticket, target: str, now: dt.datetime) -> bool:
        """Record `target`'s breach at its due time and escalate, unless recorded
        already (by the SLA pass, a late answer, another instance). True if it was now."""
        due_at = getattr(ticket, f"{target}_due")
        if due_at is None:
            return False
        breached_field = getattr(Ticket, f"{target}_breached_at")
        claimed = (
            Ticket.update(
                {breached_field: due_at, Ticket.escalation_level: Ticket.escalation_level + 1}
            )
            .where((Ticket.id == ticket.id) & breached_field.is_null())
            .execute()
        )
        if not claimed:
            return False
        if target == NEXT_RESPONSE:
            next_response.breached(ticket, due_at)
        if ticket.merged_into_id is None:
            self._escalate(ticket, target, due_at, now)
        return True

    def late(self, ticket: Ticket, now: dt.datetime) -> int:
        """After `ticket` (stored) was answered or resolved at `now`: the targets it met
        late that no SLA pass has breached yet are breached now. How many. Only a target
        met at `now` counts: a due time moved later (a priority change after the
        answer) does not make an old answer late."""
        late = []
        if _late(now, ticket.first_response_at, ticket.first_response_due):
            late.append(FIRST_RESPONSE)
        if _late(now, ticket.resolved_at, ticket.resolution_due):
            late.append(RESOLUTION)
        if _late(now, ticket.next_response_at, ticket.next_response_due):
            late.append(NEXT_RESPONSE)
        return sum(self.breach(ticket, target, now) for target in late)

    def _escalate(self, ticket: Ticket, target: str, due_at: dt.datetime, now: dt.datetime) -> None:
        # Fresh and locked (the claiming UPDATE took the lock already): the level just
        # raised, and a priority bump that starts from the current priority.
        ticket = repo.lock_ticket_id(self.db, ticket.id)
        events: list[dict[str, Any]] = []
        log_ = event_collector(events, now)
        bumped_from = None
        sla = self.config.sla
        if sla.escalation_bump_priority:
            priorities = self.config.tickets.priorities
            index = priorities.index(ticket.priority) if ticket.priority in priorities else -1
            if 0 <= index < len(priorities) - 1:
                bumped_from = ticket.priority
                changes = TicketChanges(self.db, self.labels, now, log_, self.sla)
                changes.set_field(ticket, "priority", priorities[index + 1], "system")
                ticket.save()
        log_(
            ticket,
            "system",
            "sla_breached",
            {"target": target, "due": due_at.isoformat(), "level": ticket.escalation_level},
        )
        managers = self.mailer.of_desk(
            ticket, Agent.select().where(Agent.active & (Agent.role == "manager"))
        )  # the managers of the ticket's desk
        to = [Address("", a) for a in sla.escalation_addresses] + [
            Address(m.name, m.email) for m in managers
        ]
        self.mailer.sla_breach(
            ticket, target, due_at, ticket.escalation_level, bumped_from, to, now, log_
        )
        repo.record_events(events)


def _late(now: dt.datetime, met: dt.datetime | None, due_at: dt.datetime | None) -> bool:
    return met == now and due_at is not None and now > due_at


def event_collector(
    events: list[dict[str, Any]], now: dt.datetime
) -> Callable[[Ticket, str, str, dict[str, Any]], None]:
    """An event log (`log_(ticket, actor, type, data)`) that gathers into `events`, to be
    written in one go by `repo.record_events`."""

    def log_(ticket: Ticket, actor: str, type_: str, data: dict[str, Any]) -> None:
        events.append({"ticket": ticket, "at": now, "actor": actor, "type": type_, "data": data})

    return log_
