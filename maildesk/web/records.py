"""Customer records on the web, for the pages (`pages.contacts`, `pages.orgs`) and the
API (`api.records`): reading a contact's or an organization's record for one agent,
in the web's database threads.

An agent reads the tickets of their desks (and categories) only (`Web.scope_of`),
and the customers who are part of them: a person known only to tickets the agent
does not see is not there (404, absent from lists). Organizations are shared by
every desk, as a company may be a customer of several; their tickets are those the
agent sees only. Custom fields limited to some desks (`[[field]] desks`) are there
for those desks' agents only: shown, set and filtered on alike.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from maildesk.queries import contacts as records
from maildesk.settings.fields import Fields
from maildesk.store.db import read_snapshot
from maildesk.store.models import Agent, Contact, Organization
from maildesk.web.context import Web

MAX_ID = 2**63 - 1  # larger ids are no row's (and would overflow PostgreSQL's bigint)


def row_id(value: str, what: str) -> int:
    """A row id from a path segment; anything else is no such row (404)."""
    if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= MAX_ID:
        raise HTTPException(404, f"no such {what}")
    return int(value)


def contact_or_404(contact_id: int) -> Contact:
    contact = Contact.get_or_none(Contact.id == contact_id)
    if contact is None:
        raise HTTPException(404, f"no contact {contact_id}")
    return contact


def organization_or_404(organization_id: int) -> Organization:
    organization = Organization.get_or_none(Organization.id == organization_id)
    if organization is None:
        raise HTTPException(404, f"no organization {organization_id}")
    return organization


def visible_contact(web: Web, contact_id: int, agent: Agent) -> Contact:
    """The contact, if the agent may see them: anyone for an agent who sees every
    ticket, else a person who is part of a ticket the agent sees; otherwise 404, as if
    there were none."""
    contact = contact_or_404(contact_id)
    if not records.is_known_to(records.primary(contact), web.scope_of(agent)):
        raise HTTPException(404, f"no contact {contact_id}")
    return contact


def contact_fields(web: Web, agent: Agent) -> Fields:
    """The contact fields `agent` sees (in the web's database threads)."""
    return web.desk.contact_fields.visible(_desks_seen(web, agent))


def organization_fields(web: Web, agent: Agent) -> Fields:
    """The organization fields `agent` sees (in the web's database threads)."""
    return web.desk.organization_fields.visible(_desks_seen(web, agent))


def contact_record(web: Web, contact_id: int, agent: Agent) -> dict[str, Any]:
    """The record of the person `contact_id` is an address of, from one snapshot."""
    with read_snapshot(web.desk.db):
        contact = visible_contact(web, contact_id, agent)
        return records.contact_detail(
            contact, web.desk.label, web.scope_of(agent), fields=contact_fields(web, agent)
        )


def organization_record(
    web: Web, organization_id: int, agent: Agent, limit: int | None = None
) -> dict[str, Any]:
    """The organization with its members and tickets, from one snapshot."""
    with read_snapshot(web.desk.db):
        organization = organization_or_404(organization_id)
        return records.organization_detail(
            organization,
            web.desk.label,
            web.scope_of(agent),
            limit,
            fields=organization_fields(web, agent),
        )


def _desks_seen(web: Web, agent: Agent) -> frozenset[str] | None:
    """The `ticket.desk` values of the tickets `agent` sees (None: every desk's)."""
    scope = web.scope_of(agent)
    stored = None if scope is None else scope.stored
    return None if stored is None else frozenset(stored)
