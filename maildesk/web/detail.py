"""The query side of the ticket page: what `pages/ticket.py` shows, read in one go.

Plain functions, run in the web's database threads (`Web.call`). They return plain
frozen values (never models whose foreign keys a template could follow back into
the database from the event loop): the ticket with its people, SLA targets,
thread, attachments and event log; one message's HTML with the URLs of its inline
images; one attachment's bytes. The small formatting helpers (sizes, event
summaries, target states) are pure and sit at the end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maildesk.core.sanitize import Cleaned, clean_html, content_id_key
from maildesk.core.vocabulary import ASSIGNABLE_ROLES, OPEN_STATUSES
from maildesk.outbound.render import filesize_filter
from maildesk.queries.ticket_list import in_scope
from maildesk.settings.desks import Scope
from maildesk.settings.fields import Fields
from maildesk.store import repo
from maildesk.store.db import read_snapshot
from maildesk.store.models import (
    Agent,
    Attachment,
    Contact,
    Event,
    Intake,
    Message,
    Participant,
    Reminder,
    Ticket,
)
from maildesk.tickets import undeliverable
from maildesk.tickets.links import linked
from maildesk.web.badges import Badge, countdown, sla_badge
from maildesk.web.context import Web
from maildesk.web.field_forms import FieldView

SUMMARY_LIMIT = 200  # characters of one value in an event summary


@dataclass(frozen=True)
class Person:
    email: str
    name: str


@dataclass(frozen=True)
class Target:
    """One SLA target (first response, resolution) as the page shows it."""

    name: str
    due: dt.datetime | None
    state: str  # none | ok | risk | breached | paused | met | missed (badge classes)
    text: str


@dataclass(frozen=True)
class AttachmentView:
    filename: str
    content_type: str
    size: str  # human: `12.3 KB`
    url: str  # download
    view_url: str | None  # shown in the browser: images of a safe type only
    inline: bool


@dataclass(frozen=True)
class MessageView:
    id: int
    kind: str  # customer | agent | note | system
    from_email: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    body_text: str
    html_url: str | None  # the sanitised HTML, for the sandboxed frame
    original_url: str | None  # the raw mail it came as (None: written without one)
    remote_images: int  # remote images the frame hides unless asked
    created_at: dt.datetime
    flag_reason: str | None  # set when flagged
    attachments: tuple[AttachmentView, ...]


@dataclass(frozen=True)
class EventView:
    at: dt.datetime
    actor: str
    type: str
    summary: str


@dataclass(frozen=True)
class TicketPage:
    ticket: Ticket  # its own columns only; people and lists are below
    label: str
    prefix: str  # its desk's ticket prefix
    desk_name: str
    fields: tuple[FieldView, ...]
    requester: Person
    assignee: Person | None
    cc: tuple[str, ...]
    tags: tuple[str, ...]
    badge: Badge
    targets: tuple[Target, ...]
    messages: tuple[MessageView, ...]
    events: tuple[EventView, ...]
    agents: tuple[Person, ...]  # who may be assigned (active, of an assignable role)
    canned: tuple[str, ...]
    reminders: tuple[ReminderView, ...] = ()  # `#remind`, the next due first
    # Its requester and CCs marked undeliverable by a bounce (tickets.undeliverable).
    undeliverable: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ReminderView:
    agent: str
    due_at: dt.datetime
    text: str
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class Controls:
    """The fields the page's controls change, as they name them."""

    status: str
    priority: str
    category: str  # "" for none
    assignee: str  # an agent's address, or `none`
    fields: dict[str, str] = dataclasses.field(default_factory=dict)  # canonical, joined by ,


@dataclass(frozen=True)
class File:
    filename: str
    content_type: str
    data: bytes


# Image types a browser shows without running anything (never SVG, never HTML).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


# -- reads (in the database threads) ---------------------------------------------------


def live_ticket(number: int) -> tuple[Ticket | None, Ticket | None]:
    """(the ticket numbered `number`, the ticket it lives on in: itself unless merged)."""
    ticket = Ticket.get_or_none(Ticket.number == number)
    return ticket, None if ticket is None else repo.survivor(ticket)


def ticket_page(web: Web, ticket_id: int) -> TicketPage:
    """Everything the ticket page shows, from one snapshot of the database."""
    with read_snapshot(web.desk.db):
        return _ticket_page(web, ticket_id)


def _ticket_page(web: Web, ticket_id: int) -> TicketPage:
    ticket = Ticket.get_by_id(ticket_id)
    label = web.label(ticket)
    requester = Contact.get_by_id(ticket.requester_id)
    assignee = Agent.get_or_none(Agent.id == ticket.assignee_id) if ticket.assignee_id else None
    now = web.clock()
    desk = web.desk.desk_of(ticket)
    assignable = (
        Agent.select()
        .where(Agent.active & Agent.role.in_(ASSIGNABLE_ROLES))
        .order_by(Agent.name, Agent.email)
    )
    return TicketPage(
        ticket=ticket,
        label=label,
        prefix=desk.prefix,
        desk_name=desk.name,
        fields=field_views(web.desk.fields, ticket),
        requester=Person(requester.email, requester.name),
        assignee=None if assignee is None else Person(assignee.email, assignee.name),
        cc=_ccs(ticket),
        tags=tuple(repo.ticket_tags(ticket)),
        badge=sla_badge(ticket, now),
        targets=sla_targets(ticket, now),
        messages=_messages(ticket, label),
        events=tuple(
            EventView(e.at, e.actor, e.type, summarise(e.data))
            for e in Event.select().where(Event.ticket == ticket).order_by(Event.at, Event.id)
        ),
        agents=tuple(Person(a.email, a.name) for a in web.desk.mailer.of_desk(ticket, assignable)),
        canned=tuple(web.desk.mailer.renderer(ticket.desk).canned_names()),
        reminders=_reminders(ticket),
        undeliverable=tuple(undeliverable.marked_on_ticket(ticket)),
    )


def _reminders(ticket: Ticket) -> tuple[ReminderView, ...]:
    query = (
        Reminder.select(Reminder, Agent)
        .join(Agent, on=(Reminder.agent == Agent.id))
        .where(Reminder.ticket == ticket)
        .order_by(Reminder.due_at, Reminder.id)
    )
    return tuple(ReminderView(r.agent.email, r.due_at, r.text, r.sent_at) for r in query)


def _ccs(ticket: Ticket) -> tuple[str, ...]:
    query = (
        Contact.select(Contact.email)
        .join(Participant)
        .where((Participant.ticket == ticket) & (Participant.role == "cc"))
        .order_by(Contact.email)
    )
    return tuple(c.email for c in query)


def newest_message(page: TicketPage) -> int:
    """The id of the newest message the page shows (0: none): what the reply form says
    the agent saw."""
    return max((m.id for m in page.messages), default=0)


def _messages(ticket: Ticket, label: str) -> tuple[MessageView, ...]:
    messages = list(
        Message.select().where(Message.ticket == ticket).order_by(Message.created_at, Message.id)
    )
    files: dict[int, list[AttachmentView]] = {m.id: [] for m in messages}
    query = Attachment.select().where(Attachment.message.in_(list(files))).order_by(Attachment.id)
    for attachment in query:
        files[attachment.message_id].append(attachment_view(attachment))
    return tuple(_message_view(m, label, tuple(files[m.id])) for m in messages)


def _message_view(
    message: Message, label: str, attachments: tuple[AttachmentView, ...]
) -> MessageView:
    html = message.body_html or ""
    has_html = bool(html.strip())
    return MessageView(
        id=message.id,
        kind=message.kind,
        from_email=message.from_email,
        from_name=message.from_name,
        to=tuple(message.to or ()),
        cc=tuple(message.cc or ()),
        body_text=message.body_text,
        html_url=f"/tickets/{label}/messages/{message.id}/html" if has_html else None,
        original_url=(
            f"/tickets/{label}/messages/{message.id}/original" if message.intake_id else None
        ),
        remote_images=clean_html(html, {}).remote_blocked if has_html else 0,
        created_at=message.created_at,
        flag_reason=(message.flag_reason or "flagged") if message.flagged else None,
        attachments=attachments,
    )


def attachment_view(attachment: Attachment) -> AttachmentView:
    url = attachment_url(attachment.id, attachment.filename)
    shown = attachment.content_type.lower() in INLINE_TYPES
    return AttachmentView(
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=filesize_filter(attachment.size),
        url=url,
        view_url=f"{url}?inline=1" if shown else None,
        inline=attachment.inline,
    )


def attachment_url(attachment_id: int, filename: str) -> str:
    return f"/attachments/{attachment_id}/{quote(filename, safe='')}"


def message_frame(
    ticket_id: int, message_id: int, remote: bool, image_url: Callable[[int, str], str]
) -> Cleaned | None:
    """The HTML of message `message_id` made safe (`sanitize`), if it belongs to ticket
    `ticket_id` and has any. Its inline images (`cid:`) point at its own attachments:
    `image_url(attachment id, filename)`."""
    message = Message.get_or_none((Message.id == message_id) & (Message.ticket == ticket_id))
    html = "" if message is None else message.body_html or ""
    if not html.strip():
        return None
    images = {
        content_id_key(a.content_id): image_url(a.id, a.filename)
        for a in Attachment.select().where(Attachment.message == message)
        if a.content_id and a.content_type.lower() in INLINE_TYPES
    }
    return clean_html(html, images, remote)


def message_original(ticket_id: int, message_id: int) -> bytes | None:
    """The raw mail message `message_id` came as, if it belongs to ticket `ticket_id`
    and came as mail: every byte, whatever the ticket shows of it (headers, parts
    not shown, a text clipped beyond `MAX_BODY_CHARS`)."""
    row = (
        Intake.select(Intake.raw)
        .join(Message, on=Message.intake == Intake.id)
        .where((Message.id == message_id) & (Message.ticket == ticket_id))
        .tuples()
        .first()
    )
    return None if row is None else repo.blob_bytes(row[0])


def field_views(fields: Fields, ticket: Ticket) -> tuple[FieldView, ...]:
    """The ticket's custom fields: those its desk and category have, and any other
    that holds a value."""
    stored = repo.ticket_fields(ticket.id)
    return tuple(
        FieldView.of(definition, stored.get(definition.name, ()))
        for definition in fields.all
        if definition.name in stored or definition.applies(ticket.desk, ticket.category)
    )


def controls(ticket_id: int, fields: Fields | None = None) -> Controls:
    ticket = Ticket.get_by_id(ticket_id)
    assignee = Agent.get_or_none(Agent.id == ticket.assignee_id) if ticket.assignee_id else None
    return Controls(
        ticket.status,
        ticket.priority,
        ticket.category or "",
        "none" if assignee is None else assignee.email,
        {view.name: view.control for view in field_views(fields or Fields(()), ticket)},
    )


def attachment_file(attachment_id: int, scope: Scope | None = None) -> File | None:
    """The attachment's file; None when there is none, or when its ticket is not one
    `scope` covers (None: any ticket)."""
    query = (
        Attachment.select(Attachment.filename, Attachment.content_type, Attachment.blob)
        .join(Message)
        .join(Ticket)
        .where((Attachment.id == attachment_id) & in_scope(scope))
    )
    row = query.tuples().first()
    if row is None:
        return None
    filename, content_type, sha256 = row
    return File(filename, content_type, repo.blob_bytes(sha256))


# -- pure helpers ----------------------------------------------------------------------


def sla_targets(ticket: Ticket, now: dt.datetime) -> tuple[Target, ...]:
    """The targets: first response (done when first answered), resolution (its clock
    paused while waiting on the customer), as `badges.sla_badge` judges them, and the
    next response once a customer message after an answer started one."""
    running = ticket.status in OPEN_STATUSES
    first = _target(
        "First response",
        ticket.first_response_due,
        ticket.first_response_at,
        ticket.first_response_breached_at,
        ticket.first_response_warn_at,
        now,
        running,
    )
    resolution = _target(
        "Resolution",
        ticket.resolution_due,
        ticket.resolved_at,
        ticket.resolution_breached_at,
        ticket.resolution_warn_at,
        now,
        running,
        paused=ticket.sla_paused_at is not None,
    )
    if ticket.next_response_started_at is None:
        return first, resolution
    following = _target(  # the customer message waiting for an answer, or the last one
        "Next response",
        ticket.next_response_due,
        ticket.next_response_at,
        ticket.next_response_breached_at,
        ticket.next_response_warn_at,
        now,
        running,
        paused=ticket.next_response_paused_at is not None,
    )
    return first, resolution, following


def _target(
    name: str,
    due: dt.datetime | None,
    done: dt.datetime | None,
    breached: dt.datetime | None,
    warn: dt.datetime | None,
    now: dt.datetime,
    running: bool,
    paused: bool = False,
) -> Target:
    if due is None:
        return Target(name, None, "none", "no target")
    if done is not None:
        outcome = "missed" if breached is not None or done > due else "met"
        return Target(name, due, outcome, outcome)
    if not running:
        return Target(name, due, "missed" if breached else "none", "not running")
    if paused and breached is None:
        return Target(name, due, "paused", "paused: waiting on the customer")
    left = (due - now).total_seconds()
    if breached is not None or left <= 0:
        return Target(name, due, "breached", f"{countdown(left)} overdue")
    state = "risk" if warn is not None and now >= warn else "ok"
    return Target(name, due, state, f"due in {countdown(left)}")


def summarise(data: Any) -> str:
    """An event's data in one line: `before -> after` for a change, else `key: value`."""
    if not isinstance(data, dict):
        return _short(data)
    if set(data) == {"before", "after"}:
        return f"{_short(data['before'])} → {_short(data['after'])}"
    shown = {key: value for key, value in data.items() if value not in (None, "", [], {})}
    return ", ".join(f"{key}: {_short(value)}" for key, value in shown.items())


def _short(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        text = " ".join(_short(v) for v in value) or "—"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def local_time(value: dt.datetime | None, zone: str) -> str:
    """`2026-05-01 14:03 CEST` in the desk's time zone ([sla] timezone); "" for None."""
    if value is None:
        return ""
    try:
        tz: dt.tzinfo = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def links_shown(web: Web, ticket_id: int) -> list[dict[str, Any]]:
    """The tickets linked to this one (`tickets.links`), as the page lists them."""
    return [
        {
            "label": web.label(found.ticket),
            "subject": found.ticket.subject,
            "status": found.ticket.status,
            "relation": found.relation,
        }
        for found in linked(Ticket.get_by_id(ticket_id))
    ]
