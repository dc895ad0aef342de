"""Following a ticket from its page (agents): the Follow / Unfollow button.

Routes (agents, a session):
  POST /tickets/SUP-00042/follow     `action` follow|unfollow: the signed-in agent's
                                     `#follow` / `#unfollow`, as their mail
                                     (`actions.agent_mail`, through `ticket.send`)

The ticket page lists the followers (`tickets.followers.shown`, in
templates/web/ticket_followers.html); who follows hears of the ticket's later
customer messages and internal notes (`tickets.followers`).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.web.actions import Refused
from maildesk.web.context import checked_form, redirect, require, web_of
from maildesk.web.pages.ticket import located, merged_away, render, send

ACTIONS = ("follow", "unfollow")


async def follow(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    ticket, live = await located(web, request)
    try:
        form = await checked_form(request)
    finally:
        await request.close()
    action = form.get("action")
    if action not in ACTIONS:
        raise HTTPException(400, "action must be follow or unfollow")
    if live.id != ticket.id:
        return await merged_away(request, ticket, live, "")
    try:
        await web.call(send, web, agent, ticket.id, "", commands=[f"#{action}"])
    except Refused as exc:
        return await render(request, ticket.id, 422, error=str(exc))
    return redirect(f"/tickets/{web.label(ticket)}")


routes = [
    Route("/tickets/{label}/follow", follow, methods=["POST"]),
]
