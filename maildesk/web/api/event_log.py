"""GET /api/tickets/{label}/events: a ticket's event log, a page at a time, oldest first.

Each event is as `maildesk tickets show --json` gives it (`serialize.event_detail`:
`at`, `actor`, `type`, `data`) with its `id`; `after` (an event id) starts the page
after that event, `limit` bounds it, and `next_after` says where the next page starts
(null when there is none). The ticket is found as for GET /api/tickets/{label}: one
the token's agent does not see is not there (404).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.queries import serialize
from maildesk.store.db import read_snapshot
from maildesk.store.models import Agent, Event
from maildesk.web.api.answers import EventPage
from maildesk.web.api.routes import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_NUMBER,
    ApiRoute,
    Operation,
    bad,
    number_of,
    number_param,
    signed,
    ticket_or_404,
)
from maildesk.web.context import Web, web_of

EVENT_PARAMS = ("after", "limit")


def events_page(web: Web, agent: Agent, number: int, after: int, limit: int) -> dict[str, Any]:
    """Up to `limit` events of the ticket with ids above `after`, from one snapshot."""
    with read_snapshot(web.desk.db):
        ticket = ticket_or_404(web, number, agent)
        rows = list(
            Event.select()
            .where((Event.ticket == ticket) & (Event.id > after))
            .order_by(Event.id)
            .limit(limit + 1)  # one more: is there a next page?
        )
        label = web.label(ticket)
    events = [{"id": event.id, **serialize.event_detail(event)} for event in rows[:limit]]
    more = len(rows) > limit
    return {"ticket": label, "events": events, "next_after": events[-1]["id"] if more else None}


async def list_events(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    params = request.query_params
    unknown = sorted(set(params) - set(EVENT_PARAMS))
    if unknown:
        raise bad(f"unknown parameter {unknown[0]!r} (parameters: {', '.join(EVENT_PARAMS)})")
    after = number_param(params, "after", 0, 0, MAX_NUMBER)
    limit = number_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    number = await number_of(web, request)
    return JSONResponse(await web.call(events_page, web, agent, number, after, limit))


routes = [
    ApiRoute("/api/tickets/{label}/events", "GET", list_events, Operation(
        "A ticket's event log, oldest first, a page at a time", 200,
        query=EVENT_PARAMS, answer=EventPage,
        description="Every change to the ticket: who, what (before and after), when."
        " Pass `next_after` as `after` for the next page.",
    )),
]  # fmt: skip
