"""The API's customer records: /api/contacts and /api/orgs, with the token rules of
every API route (`routes.signed`).

  GET   /api/contacts              persons, by primary address (q, org, field, limit, offset)
  GET   /api/contacts/{contact_id} a person's record, as `maildesk contacts show --json`
  PATCH /api/contacts/{contact_id} name, notes, organization, fields (`models.ContactChange`)
  DELETE /api/contacts/{contact_id}/undeliverable  clear a bounce's marks (`?email=`: of
                                   that address of the person only)
  GET   /api/orgs                  organizations, as `maildesk orgs list --json`
  POST  /api/orgs                  a new organization (`models.NewOrganization`)
  GET   /api/orgs/{org_id}         one, as `maildesk orgs show --json`
  PATCH /api/orgs/{org_id}         change it (`models.OrganizationChange`)

Tickets in a record are those the token's agent sees (`web.records`), and so are the
custom fields limited to some desks. Writes go through `tickets.contacts`, as the
CLI's do; a value it refuses, or a field value its definition refuses, is a 422.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maildesk.queries import contacts as queries
from maildesk.settings.fields import FieldError, Fields, json_text
from maildesk.store.models import Agent
from maildesk.tickets import contacts, undeliverable
from maildesk.web.api.models import ContactChange, NewOrganization, OrganizationChange
from maildesk.web.api.routes import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    ApiRoute,
    Operation,
    Rejected,
    bad,
    body_of,
    number_param,
    signed,
)
from maildesk.web.context import Web, web_of
from maildesk.web.records import (
    MAX_ID,
    contact_fields,
    contact_record,
    organization_fields,
    organization_or_404,
    organization_record,
    row_id,
    visible_contact,
)

CONTACT_PARAMS = ("q", "org", "field", "limit", "offset")


def contact_listing(params: QueryParams) -> queries.ContactQuery:
    """GET /api/contacts: which persons, by primary address (field filters: `filters`)."""
    unknown = sorted(set(params) - set(CONTACT_PARAMS))
    if unknown:
        raise bad(f"unknown parameter {unknown[0]!r} (parameters: {', '.join(CONTACT_PARAMS)})")
    org = params.get("org")
    return queries.ContactQuery(
        search=params.get("q") or None,
        organization_id=None if not org else number_param(params, "org", 0, 1, MAX_ID),
        limit=number_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=number_param(params, "offset", 0, 0, MAX_OFFSET),
    )


def find_contacts(
    web: Web, agent: Agent, spec: queries.ContactQuery, filters: list[str]
) -> list[dict[str, Any]]:
    """The persons of `spec` the agent may see (those of the tickets they see) whose
    fields match `filters` (`NAME=VALUE`, of the fields the agent sees; else 400)."""
    fields = contact_fields(web, agent)
    try:
        matching = fields.filters(filters)
    except FieldError as exc:
        raise bad(f"field: {exc}") from None
    spec = dataclasses.replace(spec, scope=web.scope_of(agent), fields=matching)
    return queries.contact_summaries(queries.find_contacts(spec), fields)


def field_changes(fields: Fields, given: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """A body's `fields` as canonical values by name, checked against `fields` (those
    the agent sees); Rejected (422) naming the first that is wrong."""
    texts = {}
    for name, value in given.items():
        try:
            texts[name] = json_text(value)
        except FieldError as exc:
            raise Rejected([f"fields.{name[:40]}: {exc}"]) from None
    try:
        return fields.changes(texts)
    except FieldError as exc:
        raise Rejected([f"fields.{exc}"]) from None


def change_contact(web: Web, agent: Agent, contact_id: int, change: ContactChange) -> Any:
    visible_contact(web, contact_id, agent)
    given = change.model_fields_set
    fields = change.fields if "fields" in given else None
    values = None if fields is None else field_changes(contact_fields(web, agent), fields)
    membership = None
    if "organization" in given:
        value = change.organization
        if value == "auto":
            membership = contacts.BY_MAIL_DOMAIN
        else:
            membership = contacts.Membership.of(value) if isinstance(value, int) else contacts.NONE
    try:
        contacts.update_contact(
            web.db,
            contact_id,
            name=change.name if "name" in given else None,
            notes=change.notes if "notes" in given else None,
            membership=membership,
            fields=values,
        )
    except contacts.ContactError as exc:  # an unknown organization in the body too
        raise Rejected([str(exc)]) from exc
    return contact_record(web, contact_id, agent)


def clear_undeliverable(
    web: Web, agent: Agent, contact_id: int, email: str | None
) -> dict[str, Any]:
    visible_contact(web, contact_id, agent)
    cleared = undeliverable.clear_person(web.db, contact_id, agent.email, web.clock(), email)
    if not cleared:
        raise Rejected([f"{email or 'the contact'}: not marked undeliverable"])
    return {"cleared": cleared, "contact": contact_record(web, contact_id, agent)}


def add_organization(web: Web, agent: Agent, spec: NewOrganization) -> dict[str, Any]:
    values = field_changes(organization_fields(web, agent), spec.fields)
    try:
        added = contacts.add_organization(
            web.db,
            spec.name,
            web.clock(),
            domains=spec.domains,
            notes=spec.notes,
            shared_tickets=spec.shared_tickets,
            fields=values,
        )
    except contacts.ContactError as exc:
        raise Rejected([str(exc)]) from exc
    return organization_record(web, added.id, agent)


def change_organization(
    web: Web, agent: Agent, organization_id: int, change: OrganizationChange
) -> dict[str, Any]:
    organization_or_404(organization_id)
    given = change.model_fields_set
    fields = change.fields if "fields" in given else None
    values = None if fields is None else field_changes(organization_fields(web, agent), fields)
    try:
        contacts.update_organization(
            web.db,
            organization_id,
            web.clock(),
            name=change.name if "name" in given else None,
            domains=change.domains if "domains" in given else None,
            notes=change.notes if "notes" in given else None,
            shared_tickets=change.shared_tickets if "shared_tickets" in given else None,
            fields=values,
        )
    except contacts.ContactError as exc:
        raise Rejected([str(exc)]) from exc
    return organization_record(web, organization_id, agent)


def organizations(web: Web, agent: Agent) -> list[dict[str, Any]]:
    return queries.list_organizations(organization_fields(web, agent))


# -- routes ---------------------------------------------------------------------------


async def list_contacts(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    spec = contact_listing(request.query_params)
    filters = request.query_params.getlist("field")
    found = await web.call(find_contacts, web, agent, spec, filters)
    return JSONResponse({"contacts": found, "limit": spec.limit, "offset": spec.offset})


async def show_contact(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    contact_id = row_id(request.path_params["contact_id"], "contact")
    return JSONResponse(await web.call(contact_record, web, contact_id, agent))


async def patch_contact(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    contact_id = row_id(request.path_params["contact_id"], "contact")
    change = await body_of(web, request, ContactChange)
    return JSONResponse(await web.call(change_contact, web, agent, contact_id, change))


async def delete_undeliverable(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    contact_id = row_id(request.path_params["contact_id"], "contact")
    unknown = sorted(set(request.query_params) - {"email"})
    if unknown:
        raise bad(f"unknown parameter {unknown[0][:40]!r}")
    email = request.query_params.get("email")
    document = await web.call(clear_undeliverable, web, agent, contact_id, email)
    return JSONResponse(document)


async def list_orgs(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    if request.query_params:
        raise bad("GET /api/orgs takes no parameters")
    return JSONResponse({"organizations": await web.call(organizations, web, agent)})


async def post_org(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    spec = await body_of(web, request, NewOrganization)
    return JSONResponse(await web.call(add_organization, web, agent, spec), 201)


async def show_org(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    organization_id = row_id(request.path_params["org_id"], "organization")
    return JSONResponse(await web.call(organization_record, web, organization_id, agent))


async def patch_org(request: Request) -> Response:
    web = web_of(request)
    agent = await signed(web, request)
    organization_id = row_id(request.path_params["org_id"], "organization")
    change = await body_of(web, request, OrganizationChange)
    document = await web.call(change_organization, web, agent, organization_id, change)
    return JSONResponse(document)


routes = [
    ApiRoute("/api/contacts", "GET", list_contacts, Operation(
        "List customers (persons, by primary address)", 200, query=CONTACT_PARAMS,
    )),
    ApiRoute("/api/contacts/{contact_id}", "GET", show_contact, Operation(
        "A customer's record, as `maildesk contacts show --json`", 200,
    )),
    ApiRoute("/api/contacts/{contact_id}", "PATCH", patch_contact, Operation(
        "Change a customer's name, notes, organization or custom fields", 200, ContactChange,
    )),
    ApiRoute("/api/contacts/{contact_id}/undeliverable", "DELETE", delete_undeliverable,
        Operation(
            "Clear the undeliverable mark a bounce set: automatic mail goes to it again",
            200, query=("email",),
        ),
    ),
    ApiRoute("/api/orgs", "GET", list_orgs, Operation(
        "List organizations, as `maildesk orgs list --json`", 200,
    )),
    ApiRoute("/api/orgs", "POST", post_org, Operation(
        "Add an organization", 201, NewOrganization,
    )),
    ApiRoute("/api/orgs/{org_id}", "GET", show_org, Operation(
        "An organization with its members and tickets, as `maildesk orgs show --json`", 200,
    )),
    ApiRoute("/api/orgs/{org_id}", "PATCH", patch_org, Operation(
        "Change an organization; domains replace the list", 200, OrganizationChange,
    )),
]  # fmt: skip
