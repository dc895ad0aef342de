"""Followers of a ticket: agents who hear of its later customer messages and notes.

Where it sits in the flow: an agent follows a ticket when named with @ in an internal
note (`how` "mention") or by `#follow` (by mail, the ticket page's button or the API:
each is that agent's mail, `tickets.changes` applies it; `how` "follow"), and stops
by `#unfollow`. The pipeline asks `check_mentions` whether the mentions of a reply
are allowed (only in a note, only of agents who see the ticket) and `to_notify` whom
to tell of a customer's message or a note beside those told already. `#merge` moves
the followers to the surviving ticket (`move`). Every change is in the event log
(`followed`, `unfollowed`: internal entries).

Who hears: active agents (and admins) who see the ticket, not away; never of their
own note, and never twice (the assignee, or the agents on duty, are told once). A
mention itself is mailed even to an agent who is away: it was written to them.

These functions run in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from maildesk.core.mentions import find_mentions, resolve
from maildesk.core.quoting import split_reply
from maildesk.core.vocabulary import ASSIGNABLE_ROLES
from maildesk.store import rows
from maildesk.store.models import Agent, Follower, Ticket
from maildesk.store.scope import current

MENTION = "mention"
FOLLOW = "follow"

EventLog = Callable[[Ticket, str, str, dict[str, Any]], None]
# Those of some agents who see a ticket (`outbound.compose.Mailer.of_desk`).
Seeing = Callable[[Ticket, Iterable[Agent]], list[Agent]]


@dataclass(frozen=True)
class Mentions:
    agents: tuple[Agent, ...]  # the agents a note names, each once
    errors: tuple[str, ...]  # empty: the reply may be applied


def check_mentions(
    ticket: Ticket, body: str, is_note: bool, agents: Sequence[Agent], sees: Seeing
) -> Mentions:
    """The agents the new text of `body` names (its quoted history is not read), or why
    the reply must not go: a mention outside a note would reach the customer, and a
    mention must name one active agent who sees the ticket."""
    mentions = find_mentions(split_reply(body).visible)
    if not mentions:
        return Mentions((), ())
    if not is_note:
        written = ", ".join(m.written for m in mentions)
        return Mentions(
            (),
            (
                f"{written}: a mention in a reply to the customer would reach them;"
                " mention agents in an internal note (#note)",
            ),
        )
    candidates = sees(ticket, [a for a in agents if a.active and a.role in ASSIGNABLE_ROLES])
    resolved = resolve(mentions, [a.email for a in candidates])
    by_email = {a.email: a for a in candidates}
    return Mentions(tuple(by_email[e] for e in resolved.emails), resolved.errors)


def follow(
    ticket: Ticket, agent: Agent, how: str, now: dt.datetime, actor: str, log: EventLog
) -> bool:
    """`agent` follows the ticket (logged); False when they did already."""
    values = {"ticket": ticket, "agent": agent, "since": now, "how": how}
    if rows.insert(current(), Follower, values, ignore=True) is None:
        return False
    log(ticket, actor, "followed", {"agent": agent.email, "how": how})
    return True


def unfollow(ticket: Ticket, agent: Agent, actor: str, log: EventLog) -> bool:
    """`agent` no longer follows the ticket (logged); False when they did not."""
    query = Follower.delete().where((Follower.ticket == ticket) & (Follower.agent == agent))
    if not query.execute():
        return False
    log(ticket, actor, "unfollowed", {"agent": agent.email})
    return True


def listing(ticket: Ticket) -> list[tuple[Agent, Follower]]:
    """The ticket's followers with their rows, in the order they came."""
    query = (
        Follower.select(Follower, Agent)
        .join(Agent)
        .where(Follower.ticket == ticket)
        .order_by(Follower.since, Follower.id)
    )
    return [(row.agent, row) for row in query]


def shown(ticket_id: int) -> list[dict[str, Any]]:
    """The followers of a ticket as a page or the API shows them, in the order they came."""
    return [
        {"email": agent.email, "name": agent.name, "how": row.how, "since": row.since}
        for agent, row in listing(Ticket.get_by_id(ticket_id))
    ]


def to_notify(
    ticket: Ticket, told: Iterable[Agent], sees: Seeing, author: str | None = None
) -> list[Agent]:
    """The followers to tell of a new message beside the agents `told` already: active,
    not away, seeing the ticket, and not its `author`."""
    skip = {a.id for a in told}
    followers = [
        agent
        for agent, _ in listing(ticket)
        if agent.active
        and not agent.away
        and agent.role in ASSIGNABLE_ROLES
        and agent.id not in skip
        and agent.email != author
    ]
    return sees(ticket, followers) if followers else []


def move(source: Ticket, target: Ticket, now: dt.datetime, actor: str, log: EventLog) -> None:
    """`#merge`: the followers of `source` follow `target` (as they came to), and no
    longer `source`, which is closed."""
    for agent, row in listing(source):
        follow(target, agent, row.how, now, actor, log)
    Follower.delete().where(Follower.ticket == source).execute()
