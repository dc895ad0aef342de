"""Live updates for the agents' pages (`events.live`), and who else is on a ticket.

Routes (agents, a session):
  GET  /events/stream                   Server-Sent Events: `change` (a ticket of the
                                        agent's scope changed: its label, the event type,
                                        the new message's id), `reload` (the page fell
                                        behind: fetch it anew); `ready` once it is open
  GET  /events/stream?ticket=SUP-00042  the same for one ticket's page, plus `presence`
                                        (who is viewing or replying changed); the agent
                                        counts as viewing the ticket while it is open
  GET  /tickets/SUP-00042/presence      who else is on the ticket, as a small HTML part
  POST /tickets/SUP-00042/presence      `state=replying`: the agent is writing a reply
                                        (the reply box posts it while they type)

The browser never renders what the stream says: it fetches the page (or the presence
part) again and swaps in the fresh HTML (static/maildesk.js). Without script, the
pages are the same, as of their loading.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.events.live import CLOSE, Live, Stream
from maildesk.events.presence import Present
from maildesk.store.models import Agent
from maildesk.web import detail
from maildesk.web.context import Web, checked_form, require, signed_in, text_field, web_of

PING_SECONDS = 15  # keeps proxies from closing a quiet stream
SEND_TIMEOUT = 30  # a browser that reads nothing for this long is let go
RETRY_MS = 3000  # how soon a browser reconnects after the stream ends
# A stream ends after this long and the browser reconnects: the session and the
# agent's scope are checked again (an agent signed out or moved to another desk stops
# hearing of tickets within this time).
STREAM_SECONDS = 600.0


def _live(web: Web) -> Live:
    if web.live is None:
        raise HTTPException(404, "live updates are not running")
    return web.live


def name_of(agent: Agent) -> str:
    return agent.name or agent.email


async def _ticket_of(web: Web, agent: Agent, label: str) -> tuple[int, str]:
    """(id, label) of the ticket a stream follows: one the agent sees, else 404."""
    number = await web.ticket_number(label)
    _, live = await web.call(detail.live_ticket, number)
    if live is None or not await web.call(web.sees, agent, live):
        raise HTTPException(404, "no such ticket")
    return live.id, web.label(live)


async def stream(request: Request) -> Response:
    if signed_in(request) is None:
        raise HTTPException(401, "sign in first")
    agent = require(request)
    web = web_of(request)
    live = _live(web)
    label = request.query_params.get("ticket", "")
    ticket = await _ticket_of(web, agent, label) if label else None
    scope = await web.call(web.scope_of, agent)
    notes = _notes(live, agent, scope, ticket)
    return EventSourceResponse(notes, ping=PING_SECONDS, send_timeout=SEND_TIMEOUT)


async def _notes(
    live: Live, agent: Agent, scope: Any, ticket: tuple[int, str] | None
) -> AsyncIterator[dict[str, Any]]:
    with live.stream(agent.id, name_of(agent), scope, ticket) as opened:
        yield {"event": "ready", "data": "{}", "retry": RETRY_MS}
        async for note in _until_closed(live, opened):
            yield note


async def _until_closed(live: Live, opened: Stream) -> AsyncIterator[dict[str, Any]]:
    """The stream's notes as SSE messages, renewing the agent's "viewing" mark of a
    ticket page meanwhile, until the stream is closed or has run its time."""
    renew_every = live.presence_seconds / 3
    renew = time.monotonic() + renew_every
    ends = time.monotonic() + STREAM_SECONDS
    while (now := time.monotonic()) < ends:
        note = await opened.next(max(0.0, min(renew, ends) - now))
        if note is CLOSE:
            return
        if note is not None:
            yield note.sse()
        if opened.ticket_id is not None and time.monotonic() >= renew:
            live.present(opened.ticket_id, opened.agent_id, opened.name, "viewing")
            renew = time.monotonic() + renew_every


def others(web: Web, ticket_id: int, agent: Agent | None) -> tuple[Present, ...]:
    """Who else is on the ticket (never the agent themselves)."""
    if web.live is None:
        return ()
    mine = agent.id if agent is not None else None
    return tuple(p for p in web.live.shown(ticket_id) if p.agent_id != mine)


async def presence(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    ticket_id, _ = await _ticket_of(web, agent, request.path_params["label"])
    return web.page(request, "ticket_presence.html", present=others(web, ticket_id, agent))


async def mark(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    ticket_id, _ = await _ticket_of(web, agent, request.path_params["label"])
    form = await checked_form(request)
    state = text_field(form, "state")
    if state not in ("viewing", "replying"):
        raise HTTPException(400, "state must be viewing or replying")
    _live(web).present(ticket_id, agent.id, name_of(agent), state)
    return Response(status_code=204)


routes = [
    Route("/events/stream", stream, methods=["GET"]),
    Route("/tickets/{label}/presence", presence, methods=["GET"]),
    Route("/tickets/{label}/presence", mark, methods=["POST"]),
]
