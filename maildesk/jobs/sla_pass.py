"""The SLA pass: warnings and breaches that have come due, each sent once.

Where it sits: run by the jobs (`jobs.runner`) every `[sla] scan_interval`
seconds in the daemon, and by `maildesk sla scan`. It finds due tickets with an
indexed query on the stored warn and due times (`tickets.sla_clock` keeps them),
and claims each with a conditional UPDATE in the transaction that queues its mail.

- warning: when `[sla] warn_percent` of a target has elapsed, to the assignee,
  else the category's agents, else everyone on duty; once per ticket and target.
- breach: recorded at the due time itself (not when the pass notices it);
  escalation level + 1, mail to `[sla] escalation_addresses` and the managers,
  the priority raised one step if `escalation_bump_priority`; once per target,
  whether this pass or a late answer (`tickets.escalation`, from the pipeline)
  sees it first. For the next response, once per cycle (a customer message waiting
  for its answer): a new cycle starts with neither signalled.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from maildesk.core.vocabulary import DONE_STATUSES
from maildesk.jobs.batch import BATCH, drain
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Agent, Ticket
from maildesk.tickets.desk import Desk
from maildesk.tickets.escalation import event_collector
from maildesk.tickets.next_response import NEXT_RESPONSE

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
TARGETS = (FIRST_RESPONSE, RESOLUTION, NEXT_RESPONSE)


class SlaPass:
    def __init__(self, desk: Desk) -> None:
        self.db = desk.db
        self.mailer = desk.mailer
        self.policies = desk.policies
        self.escalation = desk.escalation

    def run(self, now: dt.datetime) -> dict[str, int]:
        """Breaches, then warnings, due at `now`; how many of each."""
        counts = {"breaches": 0, "warnings": 0}
        if not self.policies.enabled:
            return counts
        # Breaches first: a ticket whose warning time and due time have both passed (the
        # daemon was down) gets its breach, and no late warning.
        for target in TARGETS:
            counts["breaches"] += drain(functools.partial(self._breaches, target, now))
        for target in TARGETS:
            counts["warnings"] += drain(functools.partial(self._warnings, target, now))
        return counts

    def _breaches(self, target: str, now: dt.datetime) -> tuple[int, int]:
        due_field = getattr(Ticket, f"{target}_due")
        breached_field = getattr(Ticket, f"{target}_breached_at")
        where = (due_field <= now) & breached_field.is_null() & _running(target)
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(where).order_by(due_field).limit(BATCH))
            for ticket in tickets:
                done += self.escalation.breach(ticket, target, now)
        return len(tickets), done

    def _warnings(self, target: str, now: dt.datetime) -> tuple[int, int]:
        warn_field = getattr(Ticket, f"{target}_warn_at")
        warned_field = getattr(Ticket, f"{target}_warned_at")
        breached_field = getattr(Ticket, f"{target}_breached_at")
        where = (warn_field <= now) & warned_field.is_null() & breached_field.is_null()
        where &= _running(target)
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(where).order_by(warn_field).limit(BATCH))
            agents = repo.active_agents() if tickets else []
            for ticket in tickets:
                claimed = (
                    Ticket.update({warned_field: now})
                    .where((Ticket.id == ticket.id) & warned_field.is_null())
                    .execute()
                )
                if not claimed:
                    continue
                events: list[dict[str, Any]] = []
                log_ = event_collector(events, now)
                due_at = getattr(ticket, f"{target}_due")
                log_(ticket, "system", "sla_warning", {"target": target, "due": due_at.isoformat()})
                self.mailer.sla_warning(
                    ticket, target, due_at, self._workers(ticket, agents), now, log_
                )
                repo.record_events(events)
                done += 1
        return len(tickets), done

    def _workers(self, ticket: Ticket, agents: Sequence[Agent]) -> list[Agent]:
        """Who is told a target is at risk: the assignee, else the category's agents,
        else everyone on duty: of the ticket's desk."""
        agents = self.mailer.of_desk(ticket, agents)
        assignee = [a for a in agents if a.id == ticket.assignee_id]
        if assignee:
            return assignee
        category = self.policies.category(ticket.category, ticket.desk)
        on_duty = self.mailer.on_duty(agents)
        if category is not None and category.agents:
            chosen = [a for a in on_duty if a.email in category.agents]
            if chosen:
                return chosen
        return on_duty


def _running(target: str) -> Any:
    """Tickets whose clock for `target` runs: live, not yet answered (first response),
    a customer message waiting for its answer (next response, not paused) or not yet
    resolved and not waiting on the customer (resolution)."""
    live = Ticket.unmerged() & Ticket.status.not_in(DONE_STATUSES)
    if target == FIRST_RESPONSE:
        return live & Ticket.first_response_at.is_null()
    if target == NEXT_RESPONSE:
        return (
            live
            & Ticket.next_response_started_at.is_null(False)
            & Ticket.next_response_at.is_null()
            & Ticket.next_response_paused_at.is_null()
        )
    return live & Ticket.resolved_at.is_null() & Ticket.sla_paused_at.is_null()
