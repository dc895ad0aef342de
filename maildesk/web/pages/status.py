"""The customer's status page: GET /t/SUP-00042/<token>, and a reply posted from it.

No sign-in and no session: the link is the key (`links`), and the page knows who is
viewing. It shows only the public thread (customer mail and agents' replies, never
notes, flagged mail or the event log) and names agents the way their relayed mail
does. Where the viewer's organization shares tickets, the other members' tickets of
the same desk are listed too (reference, subject, status, who: never their messages),
and so are the articles the acknowledgement suggested, each linked for the viewer.
While a target runs it says when to expect an answer, with a countdown of the
business time left (`static/expectation.js` counts it down inside the open
intervals the page gives it; without script the text stands).
A reply from the page is that person's (From them), never the requester's
unless the link is theirs; it becomes mail through `actions` and the pipeline,
exactly as if mailed. Any other path under /t/ is the links' 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from maildesk.core.quoting import split_reply
from maildesk.core.vocabulary import DONE_STATUSES, OnReply, on_customer_reply
from maildesk.outbound.render import filesize_filter
from maildesk.queries.contacts import SharedTicket, shared_tickets
from maildesk.settings.desks import DeskProfile
from maildesk.store.models import Agent, Article, Attachment, Event, Message, Ticket
from maildesk.tickets import expectations
from maildesk.web import actions
from maildesk.web.actions import Refused
from maildesk.web.context import Web, checked_form, redirect, text_field, web_of
from maildesk.web.detail import field_views
from maildesk.web.field_forms import FieldView
from maildesk.web.links import NOT_FOUND, Link, link_of, linked_ticket, viewer
from maildesk.web.uploads import FORM_OVERHEAD, bounded, read_uploads, too_large, total_size

RATEABLE = DONE_STATUSES  # a request may be rated once it is done
STATUS_WORDS = {
    "new": "Received",
    "open": "We're on it",
    "in_progress": "We're on it",
    "waiting_on_customer": "Waiting for your reply",
    "resolved": "Resolved",
    "closed": "Closed",
}
# After an answer to the request (`web.pages.customer_close`, `?done=...`).
DONE = {
    "closed": "Your request is closed. If you need more help, just reply to any of our mails.",
    "reopened": "Your request is open again: we will answer you by mail.",
    "unchanged": "Nothing changed: your request was already in that state.",
}
SENT = {
    "1": "Thanks, we got your message.",
    "new": "Thanks, we got your message. It starts a new request: we will mail you its reference.",
}


@dataclass(frozen=True)
class File:
    name: str
    size: str


@dataclass(frozen=True)
class Entry:
    """One public message, as the customer sees it."""

    author: str
    ours: bool  # an agent's reply, shown as the desk's mail shows it
    at: str
    at_iso: str
    text: str
    files: tuple[File, ...]


@dataclass(frozen=True)
class Suggested:
    """An article suggested for the ticket, linked for the viewer."""

    title: str
    url: str


@dataclass(frozen=True)
class StatusView:
    label: str
    subject: str
    status: str
    status_text: str
    priority: str
    created: str
    entries: tuple[Entry, ...]
    rateable: bool
    reply_hint: str
    viewer: str  # who holds the link, as the page greets them
    # Other members' tickets, when the viewer's organization shares them (else none).
    shared: tuple[SharedTicket, ...] = ()
    desk: DeskProfile | None = None  # whose page it is: its name heads it
    fields: tuple[FieldView, ...] = ()  # the custom fields marked public, that are set
    articles: tuple[Suggested, ...] = ()  # what the acknowledgement suggested
    # When to expect an answer (`tickets.expectations.context`); None: nothing promised.
    expectation: dict[str, Any] | None = None


def when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%d %b %Y, %H:%M UTC")


def public_messages(ticket: Ticket) -> list[Message]:
    """What the customer may read: people's mail and agents' replies; no notes, no
    flagged or automated mail."""
    return list(
        Message.select()
        .where(
            (Message.ticket == ticket)
            & Message.kind.in_(("customer", "agent"))
            & (Message.flagged == False)  # noqa: E712 - SQL, not Python
            & (Message.mail_kind == "human")
        )
        .order_by(Message.created_at, Message.id)
    )


def files_of(messages: Sequence[Message]) -> dict[int, list[File]]:
    """Attached files (not inline images) by message id."""
    found: dict[int, list[File]] = {}
    if not messages:
        return found
    query = (
        Attachment.select(Attachment.message, Attachment.filename, Attachment.size)
        .where(Attachment.message.in_([m.id for m in messages]) & (Attachment.inline == False))  # noqa: E712
        .order_by(Attachment.id)
    )
    for row in query:
        found.setdefault(row.message_id, []).append(File(row.filename, filesize_filter(row.size)))
    return found


def agent_names(web: Web, messages: Sequence[Message], desk: str) -> dict[str, str]:
    """How agents' replies are signed, by the agent's address: as their relayed mail
    names them (`outbound.compose.Mailer.relay`, `desk`: the ticket's desk's name),
    never by the address itself."""
    addresses = {m.from_email for m in messages if m.kind == "agent"}
    if not addresses or not web.config.outbound.show_agent_name:
        return {}
    query = Agent.select(Agent.email, Agent.name).where(Agent.email.in_(sorted(addresses)))
    return {a.email: f"{a.name} via {desk}" for a in query if a.name}


def entry(web: Web, message: Message, files: list[File], names: dict[str, str], desk: str) -> Entry:
    if message.kind == "agent":
        author, text = names.get(message.from_email, desk), message.body_text
    else:  # the customer's words, without the history their mail client quoted
        author = message.from_name or message.from_email
        text = split_reply(message.body_text).visible or message.body_text
    return Entry(
        author=author,
        ours=message.kind == "agent",
        at=when(message.created_at),
        at_iso=message.created_at.isoformat(),
        text=text,
        files=tuple(files),
    )


def reply_hint(web: Web, ticket: Ticket, now: dt.datetime) -> str:
    """What a reply from the page will do, as the pipeline will decide it."""
    days = web.config.tickets.reopen_days
    outcome = on_customer_reply(ticket.status, ticket.closed_at, now, days)
    if outcome is OnReply.REOPEN:
        return f"This request is {ticket.status}. Writing here reopens it."
    if outcome is OnReply.FOLLOW:
        return (
            "This request was closed a while ago. Writing here starts a new request "
            "that refers to this one; we will mail you its reference."
        )
    return "Your message goes to the team working on this request, as if you had mailed it."


def suggested_articles(web: Web, ticket: Ticket, contact_id: int) -> tuple[Suggested, ...]:
    """The articles the acknowledgement suggested (`kb_suggested`) that are still
    published in the ticket's desk, each with its link signed for the viewer, so that
    "Yes, close my request" works from here too."""
    slugs: dict[str, None] = {}
    query = Event.select(Event.data).where(
        (Event.ticket == ticket) & (Event.type == "kb_suggested")
    )
    for event in query.order_by(Event.id):
        for slug in (event.data or {}).get("articles", ()):
            slugs.setdefault(str(slug), None)
    if not slugs:
        return ()
    desk = web.desk.desk_of(ticket).slug
    found = {
        a.slug: a
        for a in Article.select(Article.slug, Article.title).where(
            (Article.desk == desk) & Article.slug.in_(list(slugs)) & (Article.published == True)  # noqa: E712
        )
    }
    mailer = web.desk.mailer
    return tuple(
        Suggested(found[slug].title, mailer.article_url(ticket, slug, contact_id))
        for slug in slugs
        if slug in found
    )


def status_view(web: Web, link: Link, now: dt.datetime) -> StatusView:
    """Everything the status page shows (runs in the web's database threads)."""
    ticket = linked_ticket(link)
    person = viewer(link)
    messages = public_messages(ticket)
    files = files_of(messages)
    desk = web.desk.desk_of(ticket)
    names = agent_names(web, messages, desk.name)
    return StatusView(
        label=web.label(ticket),
        subject=ticket.subject,
        status=ticket.status,
        status_text=STATUS_WORDS.get(ticket.status, ticket.status),
        priority=ticket.priority.replace("_", " ").capitalize(),
        created=when(ticket.created_at),
        entries=tuple(entry(web, m, files.get(m.id, []), names, desk.name) for m in messages),
        rateable=ticket.status in RATEABLE,
        reply_hint=reply_hint(web, ticket, now),
        viewer=person.name or person.email,
        shared=tuple(shared_tickets(person, ticket, web.desk.label)),
        desk=desk,
        fields=tuple(
            view
            for view in field_views(web.desk.fields, ticket)
            if view.values and _public(web, view.name)
        ),
        articles=suggested_articles(web, ticket, person.id),
        expectation=expectations.context(expectations.current(web.desk.policies, ticket, now), now),
    )


def _public(web: Web, name: str) -> bool:
    definition = web.desk.fields.get(name)
    return definition is not None and definition.public


# -- the handlers ---------------------------------------------------------------------


def show_status(
    request: Request, link: Link, view: StatusView, status_code: int = 200, **context: Any
) -> HTMLResponse:
    web = web_of(request)
    context = {"notice": "", "error": "", "text": ""} | context
    csrf = web.customer_csrf(link.token)
    if view.desk is not None:
        context["desk"] = view.desk  # the ticket's desk names the page, not the instance
    return web.page(request, "status.html", status_code, csrf=csrf, link=link, view=view, **context)


async def status_page(request: Request) -> Response:
    web = web_of(request)
    link = await link_of(web, request.path_params)
    view = await web.call(status_view, web, link, web.clock())
    notice = SENT.get(request.query_params.get("sent", ""), "")
    notice = notice or DONE.get(request.query_params.get("done", ""), "")
    return show_status(request, link, view, notice=notice)


async def reply(request: Request) -> Response:
    web = web_of(request)
    link = await link_of(web, request.path_params)
    ticket = await web.call(linked_ticket, link)
    person = await web.call(viewer, link)
    limit = web.config.web.max_upload_size
    async with bounded(request, limit + FORM_OVERHEAD, too_large(limit)) as body:
        form = await checked_form(body, expected=web.customer_csrf(link.token))
        text = text_field(form, "text")
        uploads = await read_uploads(form)
        if total_size(uploads) > limit:
            raise HTTPException(413, too_large(limit))
    try:
        outcome = await web.call(actions.customer_reply, web, ticket, person, text, uploads)
    except Refused as exc:
        view = await web.call(status_view, web, link, web.clock())
        return show_status(request, link, view, 422, error=str(exc), text=text)
    web.on_mail()
    same = outcome.ticket in (None, web.label(ticket))
    return redirect(f"{link.path}?sent={'1' if same else 'new'}")


async def no_such_link(request: Request) -> Response:
    raise HTTPException(404, NOT_FOUND)


routes = [
    Route("/t/{label}/{token}", status_page, methods=["GET"]),
    Route("/t/{label}/{token}/reply", reply, methods=["POST"]),
]
# Last of all customer routes (after the rating page's): any other /t/ path.
not_found_routes = [Route("/t/{rest:path}", no_such_link)]
