"""POST /api/tickets/bulk: one change made to many tickets (`models.BulkChange`, at most
`models.MAX_BULK` of them).

The change becomes the `#command` lines of PATCH /api/tickets/{label}
(`routes.patch_commands`: a value no command takes refuses the whole request, 422, and
nothing is changed); then each ticket is changed by `routes.update`, the single PATCH's
own work, in a database call of its own: its own mail from the agent, its own
transaction, its events, SLA clocks, routing and notifications, as for one ticket.

The answer lists every ticket given, in order, as `{"ticket", "ok", "errors"}`. A
ticket the agent does not see is reported as one that does not exist, and never
changed; one the desk refuses the change for keeps its state and carries the reasons;
the others go on.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.store.models import Agent
from maildesk.web.actions import Refused
from maildesk.web.api.answers import BulkResults
from maildesk.web.api.models import BulkChange
from maildesk.web.api.routes import (
    MAX_NUMBER,
    ApiRoute,
    Operation,
    Rejected,
    body_of,
    patch_commands,
    signed,
    ticket_or_404,
    update,
)
from maildesk.web.context import Web, web_of

NOT_FOUND = "no such ticket"


def entry(ticket: str, errors: list[str]) -> dict[str, Any]:
    return {"ticket": ticket, "ok": not errors, "errors": errors}


def change_one(
    web: Web, agent: Agent, given: str, commands: list[str], done: set[int]
) -> dict[str, Any]:
    """Make the change to the ticket `given` names, as PATCH would (in the web's
    database threads); `done`: the tickets changed or tried so far (each once)."""
    number = web.desk.labels.find(given)
    if number is None or number > MAX_NUMBER:
        return entry(given[:100], [NOT_FOUND])
    try:
        ticket = ticket_or_404(web, number, agent)
    except HTTPException:  # not there, or not the agent's: the same answer
        return entry(given[:100], [NOT_FOUND])
    label = web.label(ticket)
    if ticket.id in done:
        return entry(label, ["listed more than once (changed at its first mention)"])
    done.add(ticket.id)
    try:
        update(web, agent, number, commands)
    except Rejected as exc:
        return entry(label, exc.errors)
    except Refused as exc:
        return entry(label, [str(exc)])
    return entry(label, [])


async def bulk(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    spec = await body_of(web, request, BulkChange)
    commands = patch_commands(spec.changes)
    done: set[int] = set()
    results = []
    for given in spec.tickets:
        try:
            results.append(await web.call(change_one, web, agent, given, commands, done))
        finally:
            web.on_mail()
    changed = sum(1 for result in results if result["ok"])
    return JSONResponse({"changed": changed, "results": results})


routes = [
    ApiRoute("/api/tickets/bulk", "POST", bulk, Operation(
        "Change many tickets at once, each as PATCH /api/tickets/{label} does", 200,
        BulkChange, answer=BulkResults,
        description="Each ticket is changed on its own (its own events, notifications and"
        " SLA clocks); one the desk refuses the change for, or one you do not see, is"
        " listed with its errors and left as it was.",
    )),
]  # fmt: skip
