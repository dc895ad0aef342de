"""The customer pages (agents): the list of customers and one customer's record.

Routes (agents, a session):
  GET  /contacts               customers by primary address (`?q=` words, `?field=NAME=VALUE`,
                               `?offset=`)
  GET  /contacts/<id>          a person's record: addresses, organization, notes, custom
                               fields, tickets
  POST /contacts/<id>          change name, organization, notes, custom fields (CSRF token)
  POST /contacts/<id>/deliverable  clear the undeliverable mark of one of the person's
                               addresses (`email`), set by a bounce (CSRF token)

The record is `web.records.contact_record` (tickets of the agent's desks only); a
change goes through `tickets.contacts`, as `maildesk contacts set` does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.queries import contacts as queries
from maildesk.settings.fields import FieldDef, FieldError, Fields
from maildesk.store.models import Agent, ContactField, Organization
from maildesk.store.repo import field_values, primary
from maildesk.tickets import contacts, undeliverable
from maildesk.web.context import Web, checked_form, redirect, require, text_field, web_of
from maildesk.web.field_forms import FieldView, changed_fields, views
from maildesk.web.records import contact_fields, contact_record, row_id, visible_contact

PAGE = 50
MAX_OFFSET = 1_000_000


def _organizations() -> list[Organization]:
    return list(Organization.select().order_by(Organization.name_key))


@dataclass(frozen=True)
class Listing:
    contacts: list[dict[str, Any]]
    fields: tuple[FieldDef, ...]  # the contact fields the agent sees: the Field box's
    error: str = ""  # the Field box holds no field filter


def _listing(web: Web, agent: Agent, spec: queries.ContactQuery, field: str) -> Listing:
    """The persons of `spec` the agent may see (those of the tickets they see), with
    the field filter `field` (NAME=VALUE) if it is one."""
    spec = dataclasses.replace(spec, scope=web.scope_of(agent))
    fields = contact_fields(web, agent)
    if field:
        try:
            spec = dataclasses.replace(spec, fields=fields.filters([field]))
        except FieldError as exc:
            return Listing([], fields.all, f"not a field filter: {exc}")
    return Listing([queries.contact_summary(c) for c in queries.find_contacts(spec)], fields.all)


async def contact_list(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    words = request.query_params.get("q", "").strip()[:200]
    field = request.query_params.get("field", "").strip()[:240]
    offset = request.query_params.get("offset", "0")
    start = int(offset) if offset.isdecimal() and int(offset) <= MAX_OFFSET else 0
    spec = queries.ContactQuery(search=words or None, limit=PAGE + 1, offset=start)
    found = await web.call(_listing, web, agent, spec, field)
    return web.page(
        request, "contacts.html", status_code=400 if found.error else 200, active="contacts",
        contacts=found.contacts[:PAGE], custom_fields=found.fields, q=words, field=field,
        error=found.error, offset=start, more=len(found.contacts) > PAGE, page_size=PAGE,
    )  # fmt: skip


def field_state(fields: Fields, person_id: int) -> tuple[FieldView, ...]:
    """The person's custom fields the agent sees, as the page shows them."""
    return views(fields.all, field_values(ContactField.contact, person_id))


def _record_page(web: Web, contact_id: int, agent: Agent) -> dict[str, Any]:
    record = contact_record(web, contact_id, agent)
    return {
        "record": record,
        "fields": field_state(contact_fields(web, agent), record["id"]),
        "organizations": _organizations(),
    }


async def show(request: Request, error: str = "", status: int = 200) -> Response:
    agent = require(request)
    web = web_of(request)
    contact_id = row_id(request.path_params["contact_id"], "contact")
    data = await web.call(_record_page, web, contact_id, agent)
    notice = request.session.pop("flash", "")
    return web.page(
        request, "contact.html", status_code=status, active="contacts", error=error,
        notice=notice if isinstance(notice, str) else "", **data,
    )  # fmt: skip


async def page(request: Request) -> Response:
    return await show(request)


def membership_of(form: FormData) -> contacts.Membership | None:
    """The organization chosen in the form: an id, none, auto; nothing when absent."""
    value = text_field(form, "organization").strip()
    if not value:
        return None
    if value == "auto":
        return contacts.BY_MAIL_DOMAIN
    if value == "none":
        return contacts.NONE
    if not value.isdecimal() or len(value) > 18:
        raise contacts.ContactError(f"not an organization: {value[:40]!r}")
    return contacts.Membership.of(int(value))


def _change(web: Web, agent: Agent, contact_id: int, form: FormData) -> None:
    person = primary(visible_contact(web, contact_id, agent))
    fields = contact_fields(web, agent)
    now = {view.name: view.control for view in field_state(fields, person.id)}
    contacts.update_contact(
        web.db,
        contact_id,
        name=text_field(form, "name") if "name" in form else None,
        notes=text_field(form, "notes") if "notes" in form else None,
        membership=membership_of(form),
        fields=fields.changes(changed_fields(form, now)),
    )


async def change(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    contact_id = row_id(request.path_params["contact_id"], "contact")
    form = await checked_form(request)
    try:
        await web.call(_change, web, agent, contact_id, form)
    except (contacts.ContactError, FieldError) as exc:
        return await show(request, error=str(exc), status=422)
    request.session["flash"] = "Saved."
    return redirect(f"/contacts/{contact_id}")


def _deliverable(web: Web, agent: Agent, contact_id: int, email: str) -> list[str]:
    visible_contact(web, contact_id, agent)
    return undeliverable.clear_person(web.db, contact_id, agent.email, web.clock(), email)


async def deliverable(request: Request) -> Response:
    """An agent clears a bounce's mark: automatic mail goes to the address again."""
    agent = require(request)
    web = web_of(request)
    contact_id = row_id(request.path_params["contact_id"], "contact")
    form = await checked_form(request)
    email = text_field(form, "email").strip()[:320]
    cleared = await web.call(_deliverable, web, agent, contact_id, email)
    if not cleared:
        return await show(request, error=f"{email} is not marked undeliverable", status=422)
    request.session["flash"] = f"{email} is deliverable again."
    return redirect(f"/contacts/{contact_id}")


routes = [
    Route("/contacts", contact_list, methods=["GET"]),
    Route("/contacts/{contact_id}/deliverable", deliverable, methods=["POST"]),
    Route("/contacts/{contact_id}", page, methods=["GET"]),
    Route("/contacts/{contact_id}", change, methods=["POST"]),
]
