"""The followers of a ticket: who hears of its later customer messages and notes.

  GET    /api/tickets/{label}/followers   the list
  POST   /api/tickets/{label}/followers   the token's agent follows (`#follow`)
  DELETE /api/tickets/{label}/followers   the token's agent no longer follows (`#unfollow`)

A change is the agent's mail (`actions.agent_mail`, intake source "api"), so it is
applied and logged as the same `#follow` by mail would be (`tickets.followers`); each
answers the list as it is afterwards. The ticket is found as for GET
/api/tickets/{label}: one the token's agent does not see is not there (404).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.queries import serialize
from maildesk.store.db import read_snapshot
from maildesk.store.models import Agent
from maildesk.tickets import followers
from maildesk.web import actions
from maildesk.web.api.answers import FollowerList
from maildesk.web.api.routes import ApiRoute, Operation, changed, number_of, signed, ticket_or_404
from maildesk.web.context import Web, web_of


def listed(web: Web, agent: Agent, number: int) -> dict[str, Any]:
    with read_snapshot(web.desk.db):
        ticket = ticket_or_404(web, number, agent)
        rows = followers.shown(ticket.id)
        label = web.label(ticket)
    return {
        "ticket": label,
        "followers": [{**row, "since": serialize.iso(row["since"])} for row in rows],
    }


def changing(web: Web, agent: Agent, number: int, command: str) -> dict[str, Any]:
    ticket = ticket_or_404(web, number, agent)
    actions.agent_mail(web, agent, ticket, "", commands=[command], source="api")
    return listed(web, agent, number)


async def list_followers(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    return JSONResponse(await web.call(listed, web, agent, await number_of(web, request)))


async def follow(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    number = await number_of(web, request)
    return JSONResponse(await changed(web, changing, agent, number, "#follow"))


async def unfollow(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    number = await number_of(web, request)
    return JSONResponse(await changed(web, changing, agent, number, "#unfollow"))


routes = [
    ApiRoute("/api/tickets/{label}/followers", "GET", list_followers, Operation(
        "A ticket's followers", 200, answer=FollowerList,
        description="The agents who hear of the ticket's later customer messages and"
        " internal notes: those who follow it, and those an internal note mentioned.",
    )),
    ApiRoute("/api/tickets/{label}/followers", "POST", follow, Operation(
        "Follow a ticket (the token's agent)", 200, answer=FollowerList,
        description="As `#follow` by mail; following again changes nothing.",
    )),
    ApiRoute("/api/tickets/{label}/followers", "DELETE", unfollow, Operation(
        "Stop following a ticket (the token's agent)", 200, answer=FollowerList,
        description="As `#unfollow` by mail; nothing changes for an agent who does not"
        " follow it.",
    )),
]  # fmt: skip
