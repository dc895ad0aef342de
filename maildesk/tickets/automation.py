"""What happens to a new ticket by itself: routing rules, then auto-assignment.

Where it sits in the flow: the pipeline calls `routed` before it creates a
ticket (category, priority and tags from `[[rule]]`, `core.routing.route`),
and `auto_assign` right after, for a category with `assign = "round_robin"` or
`"least_open"` among its `[[category]] agents` (active, not away). The
round-robin state is each agent's `last_assigned` sequence number in the
database, so it is fair across restarts and instances.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import peewee

from maildesk.core.routing import Candidate, MailFacts, Routing, Strategy, pick_assignee, route
from maildesk.core.vocabulary import ASSIGNABLE_ROLES, OPEN_STATUSES
from maildesk.store import repo
from maildesk.store.models import Agent, Ticket, TicketTag
from maildesk.store.rows import tuples
from maildesk.tickets.policies import Policies

EventLog = Callable[[Ticket, str, str, dict[str, Any]], None]
ASSIGNMENT_COUNTER = "assignment"


class Automation:
    def __init__(self, db: peewee.Database, policies: Policies) -> None:
        self.db = db
        self.policies = policies

    def routed(self, facts: MailFacts, desk: str = "") -> Routing:
        """What the rules of the new ticket's desk make of the mail."""
        return route(self.policies.rules_for(desk), facts)

    def record(self, ticket: Ticket, routing: Routing, log: EventLog) -> None:
        """The routed ticket exists: its tags, and the event naming the rules."""
        for tag in routing.tags:
            TicketTag.create(ticket=ticket, tag=tag)
        if routing.matched:
            data = {
                "rules": list(routing.matched),
                "category": routing.category,
                "priority": routing.priority,
                "tags": list(routing.tags),
            }
            log(ticket, "system", "routed", data)

    def auto_assign(
        self, ticket: Ticket, agents: Sequence[Agent], now: dt.datetime, log: EventLog
    ) -> Agent | None:
        """Assign by the ticket's category's strategy; the agent, or None."""
        category = self.policies.category(ticket.category, ticket.desk)
        if category is None or category.strategy is Strategy.NONE or not category.agents:
            return None
        active = {a.email: a for a in agents if a.role in ASSIGNABLE_ROLES}
        pool = [active[email] for email in category.agents if email in active]
        if not pool:
            return None
        open_counts = _open_counts([a.id for a in pool])
        candidates = [
            Candidate(a.email, open_counts.get(a.id, 0), int(a.last_assigned or 0), a.away)
            for a in pool
        ]
        chosen = pick_assignee(category.strategy, candidates)
        if chosen is None:
            return None
        agent = active[chosen]
        agent.last_assigned = repo.next_counter(self.db, ASSIGNMENT_COUNTER)
        agent.save()
        ticket.assignee = agent
        log(
            ticket,
            "system",
            "assigned",
            {"before": None, "after": agent.email, "by": str(category.strategy)},
        )
        return agent


def _open_counts(agent_ids: list[int]) -> dict[int, int]:
    query = (
        Ticket.select(Ticket.assignee, peewee.fn.COUNT(Ticket.id))
        .where(
            Ticket.assignee.in_(agent_ids) & Ticket.status.in_(OPEN_STATUSES) & Ticket.unmerged()
        )
        .group_by(Ticket.assignee)
    )
    return {agent_id: count for agent_id, count in tuples(query)}
