"""The API's links between tickets: POST /api/tickets/{label}/links relates two tickets
(or makes the other one this ticket's incident), DELETE
/api/tickets/{label}/links/{other} removes the link. Both answer the ticket as GET
/api/tickets/{label} does, whose `links` list them.

Each is the agent's `#link`, `#incident` or `#unlink` line, through the mail pipeline
like every other change (`routes.update`): checked, logged on both tickets, refused
with 422 for a ticket that is not there (another desk's included) or this one.
A reply to an incident's linked tickets is `reply_linked` on POST .../messages.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.web.api.models import Body
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


class NewLink(Body):
    """POST /api/tickets/{label}/links: the ticket to link, and how."""

    ticket: StrictStr = Field(description="the other ticket's label, e.g. SUP-00017")
    relation: Literal["related", "incident"] = Field(
        "related",
        description="related: the tickets belong together; incident: the other ticket is"
        " the incident this one belongs to (a reply there with reply_linked reaches it)",
    )


async def link(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    number = await number_of(web, request)
    spec = await body_of(web, request, NewLink)
    command = "incident" if spec.relation == "incident" else "link"
    line = f"#{command} {one_line('ticket', spec.ticket)}"
    return JSONResponse(await changed(web, update, agent, number, [line]), 201)


async def unlink(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    number = await number_of(web, request)
    line = f"#unlink {one_line('other', request.path_params['other'])}"
    return JSONResponse(await changed(web, update, agent, number, [line]))


routes = [
    ApiRoute("/api/tickets/{label}/links", "POST", link, Operation(
        "Link another ticket to this one (related, or as its incident)", 201, NewLink,
    )),
    ApiRoute("/api/tickets/{label}/links/{other}", "DELETE", unlink, Operation(
        "Remove the link between this ticket and another", 200,
    )),
]  # fmt: skip
