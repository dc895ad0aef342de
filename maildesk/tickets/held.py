"""Stale replies held until the agent says `#send` (`HeldReply` rows).

Where it sits in the flow: the pipeline (`pipeline.flow`) holds an agent's mailed
reply that answers a notification older than what others wrote since
(`tickets.meanwhile`), and runs it again when the agent answers `#send`. At most one
reply per agent and ticket is held: a newer one replaces it, and a reply of theirs
that reaches the customer drops it. Each step is in the ticket's event log. Runs in
the pipeline's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from maildesk.core.commands import Command, SendHeld
from maildesk.store.models import Agent, HeldReply, Intake, Message, Ticket

EventLog = Callable[[Ticket, str, str, dict[str, Any]], None]

HELD, SENT, DROPPED = "held", "sent", "dropped"


def _waiting(ticket: Ticket, agent: Agent) -> Any:
    return (HeldReply.ticket == ticket) & (HeldReply.agent == agent) & (HeldReply.state == HELD)


def hold(
    ticket: Ticket, agent: Agent, intake: Intake, note: Message, now: dt.datetime, log: EventLog
) -> HeldReply:
    """Hold the reply of `intake` (shown on the ticket as `note`); it replaces one of
    the agent's held before."""
    drop(ticket, agent, now, log)
    row: HeldReply = HeldReply.create(
        ticket=ticket, agent=agent, intake=intake, note=note, state=HELD, held_at=now
    )
    return row


def send_problems(ticket: Ticket, agent: Agent, commands: Sequence[Command]) -> list[str]:
    """What is wrong with a `#send` among `commands` (empty: nothing, or no `#send`)."""
    if not any(isinstance(c, SendHeld) for c in commands):
        return []
    if len(commands) > 1:
        return ["#send: give it alone; the held reply goes out as it was written"]
    if not HeldReply.select().where(_waiting(ticket, agent)).exists():
        return ["#send: no reply of yours is held on this ticket (nothing to send)"]
    return []


def release(ticket: Ticket, agent: Agent, now: dt.datetime, log: EventLog) -> Intake | None:
    """The held reply's mail, marked sent (None when there is none: a second `#send`
    that raced the first). Conditional, so it is released once."""
    row = HeldReply.select().where(_waiting(ticket, agent)).order_by(HeldReply.id.desc()).first()
    if row is None:
        return None
    taken = (
        HeldReply.update(state=SENT, done_at=now)
        .where((HeldReply.id == row.id) & (HeldReply.state == HELD))
        .execute()
    )
    if not taken:
        return None
    log(ticket, agent.email, "held_reply_sent", {"message": row.note_id})
    intake: Intake = Intake.get_by_id(row.intake_id)
    return intake


def drop(ticket: Ticket, agent: Agent, now: dt.datetime, log: EventLog) -> None:
    """The agent's held reply (if any) is not to be sent any more."""
    rows = list(HeldReply.select(HeldReply.id, HeldReply.note).where(_waiting(ticket, agent)))
    if not rows:
        return
    HeldReply.update(state=DROPPED, done_at=now).where(
        HeldReply.id.in_([r.id for r in rows])
    ).execute()
    for row in rows:
        log(ticket, agent.email, "held_reply_dropped", {"message": row.note_id})
