"""The organization pages (agents): the organizations, and one organization with its
members and the tickets they requested (the org-wide ticket view).

Routes (agents, a session):
  GET  /orgs          every organization, and a form to add one
  POST /orgs          add one (CSRF token)
  GET  /orgs/<id>     members, notes, domains, tickets (of the agent's desks)
  POST /orgs/<id>     change name, domains, notes, shared tickets (CSRF token)

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
from maildesk.tickets import contacts
from maildesk.web.context import Web, checked_form, redirect, require, text_field, web_of
from maildesk.web.records import organization_or_404, organization_record, row_id

SHOWN_TICKETS = 200  # the latest tickets on the page
_SEPARATORS = re.compile(r"[\s,;]+")


def domains_of(form: FormData) -> list[str]:
    """The domains typed in the form: separated by spaces, commas or new lines."""
    return [d for d in _SEPARATORS.split(text_field(form, "domains")) if d]


async def org_list(request: Request, error: str = "", status: int = 200) -> Response:
    require(request)
    web = web_of(request)
    found = await web.call(queries.list_organizations)
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


async def show(request: Request, error: str = "", status: int = 200) -> Response:
    agent = require(request)
    web = web_of(request)
    organization_id = row_id(request.path_params["org_id"], "organization")
    record = await web.call(organization_record, web, organization_id, agent, SHOWN_TICKETS)
    notice = request.session.pop("flash", "")
    return web.page(
        request, "org.html", status_code=status, active="orgs", record=record, error=error,
        notice=notice if isinstance(notice, str) else "", shown=SHOWN_TICKETS,
    )  # fmt: skip


async def page(request: Request) -> Response:
    return await show(request)


def _change(web: Web, organization_id: int, form: FormData) -> Any:
    organization_or_404(organization_id)
    return contacts.update_organization(
        web.db,
        organization_id,
        web.clock(),
        name=text_field(form, "name") if "name" in form else None,
        domains=domains_of(form) if "domains" in form else None,
        notes=text_field(form, "notes") if "notes" in form else None,
        shared_tickets=text_field(form, "shared_tickets") == "yes",
    )


async def change(request: Request) -> Response:
    require(request)
    web = web_of(request)
    organization_id = row_id(request.path_params["org_id"], "organization")
    form = await checked_form(request)
    try:
        await web.call(_change, web, organization_id, form)
    except contacts.ContactError as exc:
        return await show(request, error=str(exc), status=422)
    request.session["flash"] = "Saved."
    return redirect(f"/orgs/{organization_id}")


routes = [
    Route("/orgs", page_list, methods=["GET"]),
    Route("/orgs", add, methods=["POST"]),
    Route("/orgs/{org_id}", page, methods=["GET"]),
    Route("/orgs/{org_id}", change, methods=["POST"]),
]
