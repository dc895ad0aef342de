"""The admin page, /admin/agents: the agents (add, role, active, away, desks,
categories, password, sign-ins) and their API tokens.

Admins only. Each change is one POST with a CSRF token and goes through
`maildesk.tickets.agents`, the same functions as `maildesk agents ...`. The last active
admin cannot be demoted or deactivated from here, so nobody locks the desk out.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.core.vocabulary import ADMIN_ROLES, ROLES
from maildesk.store import repo
from maildesk.store.models import Agent, ApiToken
from maildesk.tickets import agents
from maildesk.web import sessions
from maildesk.web.context import Web, checked_form, redirect, require, web_of


def _overview(web: Web) -> dict[str, Any]:
    listed = agents.list_agents()
    tokens = agents.list_tokens()
    works = repo.agent_desks(listed, web.desks.default.slug)
    limits = repo.agent_categories(listed)
    return {
        "agents": listed,
        "tokens": [t for t in tokens if t.revoked_at is None],
        "works": {a.id: works[a.id] or frozenset(web.desks.slugs) for a in listed},
        "limits": {a.id: limits[a.id] or frozenset() for a in listed},
        "desk_choices": [(d.slug, d.name) for d in web.desks.all] if web.desks.several else [],
        "category_choices": web.desk.category_names,
    }


def _desks(web: Web, form: FormData) -> list[str] | None:
    """The desks ticked on a form with the desk boxes (None: the form has none); an
    unknown slug is an error."""
    if "has_desks" not in form:
        return None
    slugs = [v for v in form.getlist("desk") if isinstance(v, str)]
    return agents.check_desks(slugs, web.desks)


def _categories(form: FormData) -> list[str] | None:
    """The categories ticked on a form with the category boxes (None: the form has
    none; none ticked: every category)."""
    if "has_categories" not in form:
        return None
    return [v for v in form.getlist("category") if isinstance(v, str)]


def _field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


async def posted(request: Request) -> tuple[Agent, Web, FormData]:
    """The admin, the `Web` and the posted form, after the role and CSRF checks."""
    me = require(request, ADMIN_ROLES)
    return me, web_of(request), await checked_form(request)


def done(request: Request, flash: str) -> Response:
    """Back to the page, which shows `flash` once."""
    request.session["flash"] = flash
    return redirect("/admin/agents")


async def show(request: Request, error: str = "", token: str = "", status: int = 200) -> Response:
    require(request, ADMIN_ROLES)
    web = web_of(request)
    data = await web.call(_overview, web)
    notice = request.session.pop("flash", "")
    return web.page(
        request,
        "admin_agents.html",
        status_code=status,
        active="admin",
        roles=ROLES,
        error=error,
        notice=notice,
        new_token=token,
        **data,
    )


async def page(request: Request) -> Response:
    return await show(request)


async def add(request: Request) -> Response:
    _, web, form = await posted(request)
    password = _field(form, "password") or None
    try:
        added = await web.call(
            agents.add_agent,
            web.db,
            _field(form, "email"),
            _field(form, "name"),
            _field(form, "role") or "agent",
            password,
            web.clock(),
            desks=_desks(web, form) or (),
            categories=_categories(form) or (),
            known_categories=web.desk.category_names,
        )
    except agents.AgentError as exc:
        return await show(request, error=str(exc), status=422)
    return done(request, f"Added {added.role} {added.email}.")


async def change(request: Request) -> Response:
    me, web, form = await posted(request)
    email = _field(form, "email")
    await _agent(web, email)
    try:
        changed = await web.call(
            agents.update_agent,
            web.db,
            email,
            role=_field(form, "role") or None,
            active={"yes": True, "no": False}.get(_field(form, "active")),
            away={"yes": True, "no": False}.get(_field(form, "away")),
            desks=_desks(web, form),
            categories=_categories(form),
            known_categories=web.desk.category_names,
            keep_an_admin=True,
        )
    except agents.AgentError as exc:
        return await show(request, error=str(exc), status=422)
    request.session["flash"] = f"Saved {changed.email}."
    if changed.id == me.id and changed.role not in ADMIN_ROLES:
        return redirect("/")
    return redirect("/admin/agents")


async def _agent(web: Web, email: str) -> Agent:
    """The agent with that address, else 404."""
    target = await web.call(Agent.get_or_none, Agent.email == email.lower())
    if target is None:
        raise HTTPException(404, f"no agent {email}")
    assert isinstance(target, Agent)
    return target


async def password(request: Request) -> Response:
    _, web, form = await posted(request)
    try:
        changed = await web.call(
            agents.set_password, web.db, _field(form, "email"), str(form.get("password", ""))
        )
    except agents.AgentError as exc:
        return await show(request, error=str(exc), status=422)
    return done(request, f"New password set for {changed.email}; their sessions ended.")


async def sign_out(request: Request) -> Response:
    """End every web sign-in of an agent (a lost laptop, a shared cookie)."""
    me, web, form = await posted(request)
    target = await _agent(web, _field(form, "email"))
    ended = await web.call(sessions.end_all, web.db, target.id)
    if target.id == me.id:
        return redirect("/login")
    return done(request, f"Ended {ended} sign-in(s) of {target.email}.")


async def new_token(request: Request) -> Response:
    _, web, form = await posted(request)
    try:
        token = await web.call(
            agents.create_token,
            web.db,
            _field(form, "email"),
            _field(form, "name") or "api",
            web.clock(),
        )
    except agents.AgentError as exc:
        return await show(request, error=str(exc), status=422)
    return await show(request, token=token)  # shown once, never stored


async def revoke(request: Request) -> Response:
    _, web, form = await posted(request)
    try:
        token_id = int(_field(form, "id"))
    except ValueError as exc:
        raise HTTPException(400, "no token id") from exc
    try:
        row: ApiToken = await web.call(agents.revoke_token, web.db, token_id, web.clock())
    except agents.AgentError as exc:
        raise HTTPException(404, str(exc)) from exc
    return done(request, f"Revoked token {row.id} ({row.name}).")


routes = [
    Route("/admin/agents", page, methods=["GET"]),
    Route("/admin/agents/add", add, methods=["POST"]),
    Route("/admin/agents/change", change, methods=["POST"]),
    Route("/admin/agents/password", password, methods=["POST"]),
    Route("/admin/agents/signout", sign_out, methods=["POST"]),
    Route("/admin/agents/token", new_token, methods=["POST"]),
    Route("/admin/agents/revoke", revoke, methods=["POST"]),
]
