"""The API's agents: /api/agents, with the token rules of every API route
(`routes.signed`).

  GET   /api/agents          the agents the token's agent may see
  GET   /api/agents/{email}  one of them
  POST  /api/agents          a new agent (`models.NewAgent`), admins only
  PATCH /api/agents/{email}  change one (`models.AgentChange`), admins only

An agent or manager sees the agents who share a desk with them (the admins among
them); an admin sees every agent. Any other is not there (404). Writes are an
admin's (403 for anyone else) and go through `tickets.agents`, as the CLI's and the
admin page's do; a value it refuses (a role, a desk or category that does not exist,
a short password, the last active admin demoted) is a 422.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.core.vocabulary import ADMIN_ROLES
from maildesk.store.models import Agent
from maildesk.tickets import agents
from maildesk.web.api.models import AgentChange, NewAgent
from maildesk.web.api.routes import ApiRoute, Operation, Rejected, bad, body_of, signed
from maildesk.web.context import Web, web_of


def visible_agents(web: Web, viewer: Agent) -> list[dict[str, Any]]:
    """The agents `viewer` may see, by address."""
    seen = agents.colleagues(viewer, agents.list_agents(), web.desks.default.slug)
    return agents.describe(seen, web.desks.default.slug)


def agent_record(web: Web, viewer: Agent, email: str) -> dict[str, Any]:
    """The agent of that address, if `viewer` may see them; else 404, as if there were
    none."""
    target = Agent.get_or_none(Agent.email == email.strip().lower())
    if target is None or not agents.colleagues(viewer, [target], web.desks.default.slug):
        raise HTTPException(404, f"no agent {email.strip().lower()[:320]}")
    [record] = agents.describe([target], web.desks.default.slug)
    return record


def add(web: Web, admin: Agent, spec: NewAgent) -> dict[str, Any]:
    given = spec.model_fields_set
    if "desks" in given and not spec.desks:  # left out: the default desk
        raise Rejected(["desks: an agent works at least one desk"])
    try:
        added = agents.add_agent(
            web.db,
            spec.email,
            spec.name,
            spec.role,
            spec.password if "password" in given else None,
            web.clock(),
            desks=agents.check_desks(spec.desks, web.desks) if "desks" in given else (),
            categories=spec.categories or (),
            known_categories=web.desk.category_names,
        )
    except agents.AgentError as exc:
        raise Rejected([str(exc)]) from exc
    return agent_record(web, admin, added.email)


def change(web: Web, admin: Agent, email: str, spec: AgentChange) -> dict[str, Any]:
    given = spec.model_fields_set
    if Agent.get_or_none(Agent.email == email.strip().lower()) is None:
        raise HTTPException(404, f"no agent {email.strip().lower()[:320]}")
    try:
        changed = agents.update_agent(
            web.db,
            email,
            name=spec.name if "name" in given else None,
            role=spec.role if "role" in given else None,
            active=spec.active if "active" in given else None,
            away=spec.away if "away" in given else None,
            desks=agents.check_desks(spec.desks, web.desks) if "desks" in given else None,
            categories=(spec.categories or []) if "categories" in given else None,
            known_categories=web.desk.category_names,
            keep_an_admin=True,
        )
    except agents.AgentError as exc:
        raise Rejected([str(exc)]) from exc
    return agent_record(web, admin, changed.email)


# -- routes ---------------------------------------------------------------------------


async def admin_of(web: Web, request: Request) -> Agent:
    """The token's agent, if an admin; 403 for anyone else."""
    agent = await signed(web, request)
    if agent.role not in ADMIN_ROLES:
        raise HTTPException(403, "only an admin's token may add or change agents")
    return agent


async def list_agents(request: Request) -> Response:
    web = web_of(request)
    viewer = await signed(web, request)
    if request.query_params:
        raise bad("GET /api/agents takes no parameters")
    return JSONResponse({"agents": await web.call(visible_agents, web, viewer)})


async def show_agent(request: Request) -> Response:
    web = web_of(request)
    viewer = await signed(web, request)
    email = request.path_params["email"]
    return JSONResponse(await web.call(agent_record, web, viewer, email))


async def post_agent(request: Request) -> Response:
    web = web_of(request)
    admin = await admin_of(web, request)
    spec = await body_of(web, request, NewAgent)
    return JSONResponse(await web.call(add, web, admin, spec), 201)


async def patch_agent(request: Request) -> Response:
    web = web_of(request)
    admin = await admin_of(web, request)
    email = request.path_params["email"]
    spec = await body_of(web, request, AgentChange)
    return JSONResponse(await web.call(change, web, admin, email, spec))


routes = [
    ApiRoute("/api/agents", "GET", list_agents, Operation(
        "List the agents you may see (those sharing a desk with you; an admin: all)", 200,
    )),
    ApiRoute("/api/agents", "POST", post_agent, Operation(
        "Add an agent (admins only)", 201, NewAgent, admin=True,
    )),
    ApiRoute("/api/agents/{email}", "GET", show_agent, Operation(
        "An agent: role, state, desks and categories", 200,
    )),
    ApiRoute("/api/agents/{email}", "PATCH", patch_agent, Operation(
        "Change an agent; desks and categories replace the lists (admins only)", 200,
        AgentChange, admin=True,
    )),
]  # fmt: skip
