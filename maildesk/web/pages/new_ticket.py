"""The "New ticket" page (agents): a ticket opened *to* a customer.

Routes (agents, a session):
  GET  /tickets/new      the form: requester (known customers offered by a
                         `<datalist>`, no script needed), name, subject, message,
                         desk, priority, assignee, the desk's custom fields
  POST /tickets/new      opens it (CSRF token): the message is sent to the customer
                         as the ticket's first, outbound message

The form becomes the agent's `#requester` mail (`actions.ticket_to_customer`) and
goes through the pipeline like it, so it is checked, logged and sent alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.core.vocabulary import ASSIGNABLE_ROLES
from maildesk.queries.contacts import ContactQuery, find_contacts
from maildesk.settings.desks import DeskProfile
from maildesk.settings.fields import FieldDef
from maildesk.store.models import Agent
from maildesk.web.actions import Refused, Upload, ticket_to_customer
from maildesk.web.context import Web, checked_form, redirect, require, text_field, web_of
from maildesk.web.field_forms import views
from maildesk.web.uploads import read_uploads

KNOWN_CONTACTS = 500  # offered in the requester's list, most recent first


@dataclass(frozen=True)
class Opening:
    """What the form was filled in with (shown again after an error)."""

    email: str = ""
    name: str = ""
    subject: str = ""
    text: str = ""
    desk: str = ""
    priority: str = ""
    assignee: str = "me"
    custom: dict[str, str] = field(default_factory=dict)


def _desks(web: Web, agent: Agent) -> list[DeskProfile]:
    scope = web.scope_of(agent)
    return [d for d in web.desks.all if scope is None or scope.has_desk(d.slug)]


def _fields(web: Web, desks: list[DeskProfile]) -> list[FieldDef]:
    """The ticket fields of the agent's desks (a field of several desks once)."""
    found: dict[str, FieldDef] = {}
    for desk in desks:
        for definition in web.desk.fields.of(desk.slug, None):
            found.setdefault(definition.name, definition)
    return list(found.values())


def _form_data(web: Web, agent: Agent) -> dict[str, Any]:
    """The choices the form offers (in the web's database threads)."""
    desks = _desks(web, agent)
    known = find_contacts(ContactQuery(limit=KNOWN_CONTACTS, scope=web.scope_of(agent)))
    assignable = (
        Agent.select()
        .where(Agent.active & Agent.role.in_(ASSIGNABLE_ROLES))
        .order_by(Agent.name, Agent.email)
    )
    return {
        "desks": desks,
        "contacts": [(c.email, c.name) for c in known],
        "agents": [(a.email, a.name) for a in assignable],
        "priorities": web.config.tickets.priorities,
        "default_priority": web.config.tickets.default_priority,
        "fields": views(_fields(web, desks), {}),
    }


def read_opening(form: FormData, fields: list[FieldDef]) -> Opening:
    custom = {}
    for definition in fields:
        values = form.getlist(f"field_{definition.name}")
        custom[definition.name] = ",".join(
            " ".join(v.split()) for v in values if isinstance(v, str) and v.strip()
        )
    return Opening(
        email=" ".join(text_field(form, "requester").split()),
        name=" ".join(text_field(form, "name").split()),
        subject=" ".join(text_field(form, "subject").split()),
        text=text_field(form, "text"),
        desk=text_field(form, "desk").strip(),
        priority=text_field(form, "priority").strip(),
        assignee=text_field(form, "assignee").strip() or "me",
        custom=custom,
    )


def commands_of(opening: Opening) -> list[str]:
    """The `#command` lines of the choices (one line each: see `actions._one_line`)."""
    lines = [f"#assign {opening.assignee}"]
    if opening.priority:
        lines.append(f"#priority {opening.priority}")
    lines += [f"#set {name} {value}" for name, value in opening.custom.items() if value]
    return lines


def open_to_customer(web: Web, agent: Agent, opening: Opening, uploads: list[Upload]) -> str:
    """Opens the ticket (in the web's database threads); its label."""
    desks = {d.slug: d for d in _desks(web, agent)}
    if opening.desk and opening.desk not in desks:
        raise Refused(f"no desk {opening.desk[:40]!r} of yours")
    outcome = ticket_to_customer(
        web,
        agent,
        email=opening.email,
        name=opening.name,
        subject=opening.subject,
        text=opening.text,
        commands=commands_of(opening),
        uploads=uploads,
        desk=desks.get(opening.desk),
    )
    if outcome.action != "created" or outcome.ticket is None:
        raise Refused(f"not opened ({outcome.action}: {outcome.reason})")
    return outcome.ticket


async def show(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    choices = await web.call(_form_data, web, agent)
    return web.page(request, "new_ticket.html", opening=Opening(), error="", **choices)


async def create(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    choices = await web.call(_form_data, web, agent)
    try:
        form = await checked_form(request)
        definitions = [web.desk.fields.named(v.name) for v in choices["fields"]]
        opening = read_opening(form, definitions)
        uploads = await read_uploads(form)
    finally:
        await request.close()
    try:
        label = await web.call(open_to_customer, web, agent, opening, uploads)
    except Refused as exc:
        return web.page(request, "new_ticket.html", 422, opening=opening, error=str(exc), **choices)
    web.on_mail()
    return redirect(f"/tickets/{label}")


routes = [
    Route("/tickets/new", show, methods=["GET"]),
    Route("/tickets/new", create, methods=["POST"]),
]
