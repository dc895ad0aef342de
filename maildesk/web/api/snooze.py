"""POST /api/tickets/{label}/snooze and /reminders: `#snooze` and `#remind` for API
clients, as the lines an agent's mail would hold; refused with 422 and the same
errors a mail would get (a time that has passed, a bad time).

The answer is the ticket as GET /api/tickets/{label} gives it (`snoozed_until`,
`reminders`). Reminders are mailed to the token's agent when they fall due.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.web.api.models import NewReminder, SnoozeChange
from maildesk.web.api.routes import (
    ApiRoute,
    Operation,
    body_of,
    changed,
    number_of,
    one_line,
    signed,
    update,
)
from maildesk.web.context import web_of


async def snooze(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    number = await number_of(web, request)
    body = await body_of(web, request, SnoozeChange)
    until = "none" if body.until is None else one_line("until", body.until)
    return JSONResponse(await changed(web, update, agent, number, [f"#snooze {until}"]))


async def remind(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    number = await number_of(web, request)
    body = await body_of(web, request, NewReminder)
    line = f"#remind {one_line('at', body.at)} {one_line('text', body.text)}"
    return JSONResponse(await changed(web, update, agent, number, [line]), 201)


routes = [
    ApiRoute("/api/tickets/{label}/snooze", "POST", snooze, Operation(
        "Snooze a ticket until a time (null: wake it)", 200, SnoozeChange,
        description="Out of the open queue (GET /api/tickets?snoozed=false) until then, or"
        " until the customer writes; then its assignee, else the agents on duty, are told.",
    )),
    ApiRoute("/api/tickets/{label}/reminders", "POST", remind, Operation(
        "Set a reminder, mailed to you at that time", 201, NewReminder,
    )),
]  # fmt: skip
