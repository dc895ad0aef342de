"""The queue page (agents): GET / lists tickets by filters (`listing`), POST /bulk changes the
selected ones.

A bulk change is one agent mail per ticket (`actions.agent_mail` with `#assign`,
`#status` and `#priority` lines), so notices, SLA clocks and the event log follow
exactly as when the agent mails the same commands. The answer goes back to the
queue view it came from, with a one-time message in the session (`flash`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.core.addresses import plain_address
from maildesk.core.vocabulary import STATUSES
from maildesk.queries.ticket_list import in_scope
from maildesk.settings.fields import Fields
from maildesk.store.models import Agent, Ticket
from maildesk.web import actions, listing
from maildesk.web.context import Web, checked_form, find_ticket, redirect, require, web_of

MAX_BULK = 200  # tickets per bulk change: each is a mail through the pipeline
MAX_FLASH_ERRORS = 5  # the flash lives in the session cookie: keep it short


@dataclass
class BulkResult:
    """What a bulk change did: the tickets changed, and why others were not."""

    changed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def message(self) -> str:
        parts = [f"Updated {len(self.changed)} ticket{'' if len(self.changed) == 1 else 's'}."]
        if self.errors:
            shown = [error[:200] for error in self.errors[:MAX_FLASH_ERRORS]]
            more = len(self.errors) - len(shown)
            parts.append(
                "Not changed: " + "; ".join(shown) + (f"; and {more} more" if more else "")
            )
        return " ".join(parts)


def bulk_ids(values: Sequence[object]) -> list[int]:
    """The ticket ids posted (400 for anything but ids, or too many)."""
    ids: dict[int, None] = {}
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        if not text.isdecimal() or len(text) > 18:
            raise HTTPException(400, "ticket must be a ticket id")
        ids[int(text)] = None
    if len(ids) > MAX_BULK:
        raise HTTPException(400, f"at most {MAX_BULK} tickets at once")
    return list(ids)


def _field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return " ".join(value.split()) if isinstance(value, str) else ""


def bulk_commands(form: FormData, priorities: tuple[str, ...]) -> list[str]:
    """The #command lines the form asks for (400 for values no command takes)."""
    commands = []
    assignee = _field(form, "assignee").lower()
    if assignee:
        if assignee not in ("me", "none") and plain_address(assignee) is None:
            raise HTTPException(400, "assignee must be me, none or an agent's address")
        commands.append(f"#assign {assignee}")
    for name, choices in (("status", STATUSES), ("priority", priorities)):
        value = _field(form, name)
        if value and value not in choices:
            raise HTTPException(400, f"unknown {name} {value[:40]!r}: one of {', '.join(choices)}")
        if value:
            commands.append(f"#{name} {value}")
    return commands


def back_to(form: FormData, priorities: tuple[str, ...]) -> str:
    """The queue view the form was posted from: its query string, rebuilt from the
    filters it names (so never another site or path)."""
    back = form.get("back", "")
    pairs = parse_qsl(back if isinstance(back, str) else "")
    try:
        filters = listing.parse_filters(dict(pairs), priorities)
    except listing.BadFilter:
        return "/"
    return filters.link(page=filters.page)


def is_active_agent(email: str) -> bool:
    return Agent.get_or_none((Agent.email == email) & (Agent.active == True)) is not None  # noqa: E712


def apply_bulk(web: Web, agent: Agent, ids: list[int], commands: list[str]) -> BulkResult:
    """Mail `commands` into each ticket as `agent` (runs in the web's database threads)."""
    result = BulkResult()
    # A ticket the agent does not see (another desk's, another category's) is as good
    # as none.
    query = Ticket.select().where(Ticket.id.in_(ids) & in_scope(web.scope_of(agent)))
    tickets = {t.id: t for t in query}
    for ticket_id in ids:
        ticket = tickets.get(ticket_id)
        if ticket is None:
            result.errors.append(f"no ticket with id {ticket_id}")
            continue
        label = web.label(ticket)
        if ticket.merged_into_id is not None:  # its mail would go to the survivor
            result.errors.append(f"{label} was merged into another ticket")
            continue
        try:
            outcome = actions.agent_mail(web, agent, ticket, "", commands=commands)
        except actions.Refused as exc:
            result.errors.append(f"{label}: {exc}")
            continue
        if outcome.action != "appended" or outcome.ticket != label:
            result.errors.append(f"{label}: {outcome.action} ({outcome.reason})")
        else:
            result.changed.append(label)
    return result


async def queue(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    filters = _filters(request.query_params, web.config.tickets.priorities, web.desk.fields)
    number = await web.call(listing.label_number, filters.q, web.desk.labels) if filters.q else None
    if number is not None:
        ticket = await web.call(find_ticket, number)
        if ticket is not None and await web.call(web.sees, agent, ticket):
            return redirect(f"/tickets/{web.label(ticket)}")
    try:
        view = await web.call(listing.queue_view, web, filters, agent)
    except listing.BadFilter as exc:
        raise HTTPException(400, str(exc)) from exc
    flash = request.session.pop("flash", "")
    return web.page(
        request,
        "queue.html",
        active="mine" if filters.assignee == "mine" else "queue",
        filters=filters,
        view=view,
        page_size=web.config.web.page_size,
        flash=flash if isinstance(flash, str) else "",
        custom_fields=web.desk.fields.all,
        live_stream="/events/stream" if web.live else "",
    )


def _filters(
    params: Mapping[str, str], priorities: tuple[str, ...], fields: Fields
) -> listing.Filters:
    try:
        return listing.parse_filters(params, priorities, fields)
    except listing.BadFilter as exc:
        raise HTTPException(400, str(exc)) from exc


async def bulk(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    priorities = web.config.tickets.priorities
    form = await checked_form(request)
    back = back_to(form, priorities)
    ids = bulk_ids(form.getlist("ticket"))
    commands = bulk_commands(form, priorities)
    email = _field(form, "assignee").lower()
    if email not in ("", "me", "none") and not await web.call(is_active_agent, email):
        raise HTTPException(400, f"no active agent {email}")
    if not ids or not commands:
        request.session["flash"] = (
            "Select at least one ticket." if not ids else "Choose what to change."
        )
        return redirect(back)
    try:
        result = await web.call(apply_bulk, web, agent, ids, commands)
    finally:
        web.on_mail()  # whatever was changed before a failure may have queued mail
    request.session["flash"] = result.message()
    return redirect(back)


routes = [
    Route("/", queue, methods=["GET"]),
    Route("/bulk", bulk, methods=["POST"]),
]
