"""The organization pages (agents): the organizations, and one organization with its
members and the tickets they requested (the org-wide ticket view).

Routes (agents, a session):
  GET  /orgs          every organization, and a form to add one
  POST /orgs          add one (CSRF token)
  GET  /orgs/<id>     members, notes, domains, custom fields, tickets (of the agent's desks)
  POST /orgs/<id>     change name, domains, notes, shared tickets, custom fields (CSRF token)

Changes go through `tickets.contacts`, as `maildesk orgs add/set` do.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.queries import contacts as queries
from maildesk.settings.fields import FieldError, Fields
from maildesk.store.models import Agent, OrganizationField
from maildesk.store.repo import field_values
from maildesk.tickets import contacts
from maildesk.web.context import Web, checked_form, redirect, require, text_field, web_of
from maildesk.web.field_forms import FieldView, changed_fields, views
from maildesk.web.records import (
    organization_fields,
    organization_or_404,
    organization_record,
    row_id,
)

SHOWN_TICKETS = 200  # the latest tickets on the page
_SEPARATORS = re.compile(r"[\s,;]+")


def domains_of(form: FormData) -> list[str]:
    """The domains typed in the form: separated by spaces, commas or new lines."""
    return [d for d in _SEPARATORS.split(text_field(form, "domains")) if d]


def _organizations(web: Web, agent: Agent) -> list[dict[str, Any]]:
    return queries.list_organizations(organization_fields(web, agent))


async def org_list(request: Request, error: str = "", status: int = 200) -> Response:
    agent = require(request)
    web = web_of(request)
    found = await web.call(_organizations, web, agent)
    return web.page(
        request, "orgs.html", status_code=status, active="orgs", organizations=found, error=error
    )


async def page_list(request: Request) -> Response:
    return await org_list(request)


async def add(request: Request) -> Response:
    require(request)
    web = web_of(request)
    form = await checked_form(request)
    try:
        added = await web.call(
            contacts.add_organization,
            web.db,
            text_field(form, "name"),
            web.clock(),
            domains=domains_of(form),
            notes=text_field(form, "notes"),
            shared_tickets=text_field(form, "shared_tickets") == "yes",
        )
    except contacts.ContactError as exc:
        return await org_list(request, error=str(exc), status=422)
    return redirect(f"/orgs/{added.id}")


def field_state(fields: Fields, organization_id: int) -> tuple[FieldView, ...]:
    """The organization's custom fields the agent sees, as the page shows them."""
    return views(fields.all, field_values(OrganizationField.organization, organization_id))


def _record_page(web: Web, organization_id: int, agent: Agent) -> dict[str, Any]:
    return {
        "record": organization_record(web, organization_id, agent, SHOWN_TICKETS),
        "fields": field_state(organization_fields(web, agent), organization_id),
    }


async def show(request: Request, error: str = "", status: int = 200) -> Response:
    agent = require(request)
    web = web_of(request)
    organization_id = row_id(request.path_params["org_id"], "organization")
    data = await web.call(_record_page, web, organization_id, agent)
    notice = request.session.pop("flash", "")
    return web.page(
        request, "org.html", status_code=status, active="orgs", error=error,
        notice=notice if isinstance(notice, str) else "", shown=SHOWN_TICKETS, **data,
    )  # fmt: skip


async def page(request: Request) -> Response:
    return await show(request)


def _change(web: Web, agent: Agent, organization_id: int, form: FormData) -> Any:
    organization_or_404(organization_id)
    fields = organization_fields(web, agent)
    now = {view.name: view.control for view in field_state(fields, organization_id)}
    return contacts.update_organization(
        web.db,
        organization_id,
        web.clock(),
        name=text_field(form, "name") if "name" in form else None,
        domains=domains_of(form) if "domains" in form else None,
        notes=text_field(form, "notes") if "notes" in form else None,
        shared_tickets=text_field(form, "shared_tickets") == "yes",
        fields=fields.changes(changed_fields(form, now)),
    )


async def change(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    organization_id = row_id(request.path_params["org_id"], "organization")
    form = await checked_form(request)
    try:
        await web.call(_change, web, agent, organization_id, form)
    except (contacts.ContactError, FieldError) as exc:
        return await show(request, error=str(exc), status=422)
    request.session["flash"] = "Saved."
    return redirect(f"/orgs/{organization_id}")


routes = [
    Route("/orgs", page_list, methods=["GET"]),
    Route("/orgs", add, methods=["POST"]),
    Route("/orgs/{org_id}", page, methods=["GET"]),
    Route("/orgs/{org_id}", change, methods=["POST"]),
]
