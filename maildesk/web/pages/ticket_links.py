"""The ticket page's split action and its list of linked tickets (agents).

Routes (agents, a session, CSRF):
  POST /tickets/SUP-00042/split   "Split from here" on a message: that message and the
                                  later ones the agent ticked move to a new ticket
                                  (`tickets.links`); answers 303 to the new ticket

Links themselves (`#link`, `#unlink`, `#incident`) are made with the controls, as
`#command` lines through the mail pipeline like every other change (`pages.ticket`).
A split has no mail to go through (it names messages, not a reply), so it is one unit
of work here, checked and logged as `#split` is.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Agent, Message
from maildesk.tickets.escalation import event_collector
from maildesk.web.actions import Refused
from maildesk.web.context import Web, checked_form, redirect, require, web_of
from maildesk.web.pages.ticket import located, render

MAX_ID = 2**63 - 1


def split_messages(web: Web, agent: Agent, ticket_id: int, first: int, take: list[int]) -> str:
    """Move message `first` and the later messages `take` of the ticket to a new ticket;
    the new ticket's label. Refused: not messages of this ticket, earlier ones, or all."""
    now = web.clock()
    events: list[dict[str, Any]] = []
    with write_transaction(web.db):
        ticket = repo.lock_ticket_id(web.db, ticket_id)
        start = Message.get_or_none((Message.id == first) & (Message.ticket == ticket))
        if start is None:
            raise Refused("no such message in this ticket")
        changes = web.desk.changes(now, event_collector(events, now))
        if not set(take) <= set(changes.links.from_message(ticket, start, only=False)):
            raise Refused("only later messages of this ticket can go along")
        ids = [first, *(i for i in take if i != first)]
        problem = changes.links.split_problem(ticket, ids)
        if problem:
            raise Refused(f"cannot split: {problem}")
        new = changes.links.split(ticket, ids, agent.email)
        repo.record_events(events)
        return web.label(new)


def _ids(values: list[Any]) -> list[int]:
    found = []
    for value in values:
        if not isinstance(value, str) or not value.isdecimal() or len(value) > 18:
            raise HTTPException(400, "message ids are numbers")
        if int(value) <= MAX_ID:
            found.append(int(value))
    return found


async def split(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    ticket, live = await located(web, request)
    try:
        form = await checked_form(request)
    finally:
        await request.close()
    if live.id != ticket.id:
        raise HTTPException(409, "the ticket was merged: split on the ticket it lives on")
    first = _ids([form.get("from", "")])
    if not first:
        raise HTTPException(400, "which message to split from?")
    take = _ids(list(form.getlist("take")))
    try:
        label = await web.call(split_messages, web, agent, ticket.id, first[0], take)
    except Refused as exc:
        return await render(request, ticket.id, 422, error=str(exc))
    return redirect(f"/tickets/{label}")


routes = [Route("/tickets/{label}/split", split, methods=["POST"])]
