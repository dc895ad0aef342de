"""Customer pages: a ticket's status page, its satisfaction form, and the public /submit form.

No sign-in and no session. The status link in customer mail
(`/t/SUP-00042/<contact id>-<token>`, `core.links`) is one participant's key to one
ticket: the page knows who is viewing, and a reply posted there is that person's
(From them), never the requester's unless the link is theirs. Links without a
contact id, from before, are the requester's. Anything wrong with a link (label,
token, ticket, a CC no longer on the ticket) gets the same 404. The page shows
only the public thread (customer mail and agents' replies, never notes, flagged
mail or the event log) and names agents the way their relayed mail does. A reply
from the page, and a request from /submit, become mail through `actions` and the
pipeline, exactly as if mailed. /submit may be framed by the sites in
`[web] frame_ancestors`; its CSRF token is a signed timestamp, since there is no
session to keep one in.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from maildesk.core import links
from maildesk.core.addresses import deliverable_address
from maildesk.core.match import parse_number
from maildesk.core.message import parse_typed_address
from maildesk.core.quoting import split_reply
from maildesk.core.vocabulary import DONE_STATUSES, OnReply, on_customer_reply
from maildesk.outbound.render import filesize_filter
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import (
    Agent,
    Attachment,
    Contact,
    Event,
    Message,
    Participant,
    Satisfaction,
    Ticket,
)
from maildesk.tickets.changes import TicketChanges
from maildesk.web import actions
from maildesk.web.actions import Refused, Upload
from maildesk.web.context import Web, checked_form, find_ticket, redirect
from maildesk.web.middleware import CSP
from maildesk.web.uploads import FORM_OVERHEAD, bounded, read_uploads, too_large, total_size

NOT_FOUND = "There is no such page. Please check that the link is complete."
TOKEN = re.compile(r"(?:[1-9][0-9]{0,17}-)?[0-9a-fA-F]{32}")
RATEABLE = DONE_STATUSES  # a request may be rated once it is done
RATING_DAYS = 7
COMMENT_CHARS = 4000
BAD_RATING = (
    f"Please choose a score from 1 to 5 (and keep a comment to {COMMENT_CHARS} characters)."
)
SCORES = {1: "Very poor", 2: "Poor", 3: "OK", 4: "Good", 5: "Excellent"}
STATUS_WORDS = {
    "new": "Received",
    "open": "We're on it",
    "in_progress": "We're on it",
    "waiting_on_customer": "Waiting for your reply",
    "resolved": "Resolved",
    "closed": "Closed",
}
SENT = {
    "1": "Thanks, we got your message.",
    "new": "Thanks, we got your message. It starts a new request: we will mail you its reference.",
}
FORM_SALT = "maildesk.submit-form"
FORM_MAX_AGE = 24 * 3600
HONEYPOT = "website"  # hidden from people (class hp); bots fill it in


# -- links ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A checked status link: the ticket number it was made for, its token, and the
    participant it was signed for (None: the requester, on a link from before)."""

    number: int
    token: str
    label: str
    contact_id: int | None

    @property
    def path(self) -> str:
        return f"/t/{self.label}/{self.token}"


def parse_link(web: Web, label: str, token: str) -> Link:
    """The link's number and holder, if its token is one we made for it; else 404."""
    number = parse_number(web.prefix, label)
    if number is None or not TOKEN.fullmatch(token):
        raise HTTPException(404, NOT_FOUND)
    holder = links.link_holder(web.secret, number, token)
    if holder is None:
        raise HTTPException(404, NOT_FOUND)
    return Link(number, token.lower(), web.label(number), holder.contact_id)


def linked_ticket(link: Link) -> Ticket:
    """The ticket the link shows: its own, or the one it was merged into (404 if gone)."""
    ticket = find_ticket(link.number)
    if ticket is None:
        raise HTTPException(404, NOT_FOUND)
    return repo.survivor(ticket)


def viewer(link: Link) -> Contact:
    """Who holds the link: the participant it was signed for, while they are one (the
    requester or a CC of the linked ticket, or of the ticket it joined); else 404."""
    ticket = find_ticket(link.number)
    if ticket is None:
        raise HTTPException(404, NOT_FOUND)
    if link.contact_id is None or link.contact_id == ticket.requester_id:
        return Contact.get_by_id(ticket.requester_id)
    survivor = repo.survivor(ticket)
    on_ticket = Participant.select().where(
        (Participant.contact == link.contact_id)
        & Participant.ticket.in_(sorted({ticket.id, survivor.id}))
    )
    if link.contact_id != survivor.requester_id and not on_ticket.exists():
        raise HTTPException(404, NOT_FOUND)
    return Contact.get_by_id(link.contact_id)


# -- the status page ------------------------------------------------------------------


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


def agent_names(web: Web, messages: Sequence[Message]) -> dict[str, str]:
    """How agents' replies are signed, by the agent's address: as their relayed mail
    names them (`outbound.compose.Mailer.relay`), never by the address itself."""
    addresses = {m.from_email for m in messages if m.kind == "agent"}
    if not addresses or not web.config.outbound.show_agent_name:
        return {}
    desk = web.config.desk.name
    query = Agent.select(Agent.email, Agent.name).where(Agent.email.in_(sorted(addresses)))
    return {a.email: f"{a.name} via {desk}" for a in query if a.name}


def entry(web: Web, message: Message, files: list[File], names: dict[str, str]) -> Entry:
    if message.kind == "agent":
        author, text = names.get(message.from_email, web.config.desk.name), message.body_text
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


def status_view(web: Web, link: Link, now: dt.datetime) -> StatusView:
    """Everything the status page shows (runs in the web's database threads)."""
    ticket = linked_ticket(link)
    person = viewer(link)
    messages = public_messages(ticket)
    files = files_of(messages)
    names = agent_names(web, messages)
    return StatusView(
        label=web.label(ticket.number),
        subject=ticket.subject,
        status=ticket.status,
        status_text=STATUS_WORDS.get(ticket.status, ticket.status),
        priority=ticket.priority.replace("_", " ").capitalize(),
        created=when(ticket.created_at),
        entries=tuple(entry(web, m, files.get(m.id, []), names) for m in messages),
        rateable=ticket.status in RATEABLE,
        reply_hint=reply_hint(web, ticket, now),
        viewer=person.name or person.email,
    )


# -- satisfaction ---------------------------------------------------------------------


@dataclass(frozen=True)
class RatingView:
    label: str
    subject: str
    rateable: bool  # the ticket is resolved or closed
    score: int | None  # the rating given, if any
    comment: str
    given: str  # when it was first given
    editable: bool  # it may be given, or changed, now
    until: str  # until when it may be changed


class RatingClosed(Exception):
    """The rating cannot be given or changed now (the message says why)."""


def changeable(row: Satisfaction, now: dt.datetime) -> bool:
    """A rating may be changed for `RATING_DAYS` after it was first given."""
    return now - row.created_at <= dt.timedelta(days=RATING_DAYS)


def rating_view(web: Web, link: Link, now: dt.datetime) -> RatingView:
    ticket = linked_ticket(link)
    viewer(link)  # 404 unless the link's holder is still on the ticket
    row = Satisfaction.get_or_none(Satisfaction.ticket == ticket)
    rateable = ticket.status in RATEABLE
    return RatingView(
        label=web.label(ticket.number),
        subject=ticket.subject,
        rateable=rateable,
        score=None if row is None else row.score,
        comment="" if row is None else row.comment,
        given="" if row is None else when(row.created_at),
        editable=rateable and (row is None or changeable(row, now)),
        until="" if row is None else when(row.created_at + dt.timedelta(days=RATING_DAYS)),
    )


def save_rating(web: Web, link: Link, score: int, comment: str, now: dt.datetime) -> None:
    """Give or change the ticket's rating, with an event; RatingClosed when it may not.
    A second writer racing the first one's insert tries once more, as a change."""
    try:
        _save_rating(web, link, score, comment, now)
    except peewee.IntegrityError:
        _save_rating(web, link, score, comment, now)


def _save_rating(web: Web, link: Link, score: int, comment: str, now: dt.datetime) -> None:
    with write_transaction(web.db):
        ticket = linked_ticket(link)
        if ticket.status not in RATEABLE:
            raise RatingClosed("This request can be rated once it is resolved.")
        row = Satisfaction.get_or_none(Satisfaction.ticket == ticket)
        data: dict[str, Any] = {"score": score}
        if row is None:
            Satisfaction.create(
                ticket=ticket, score=score, comment=comment, created_at=now, updated_at=now
            )
        elif not changeable(row, now):
            raise RatingClosed(f"A rating can be changed for {RATING_DAYS} days after it is given.")
        else:
            data["before"] = row.score
            row.score, row.comment, row.updated_at = score, comment, now
            row.save()
        actor = viewer(link).email  # whoever the link was signed for
        Event.create(ticket=ticket, at=now, actor=actor, type="satisfaction_rated", data=data)


def parse_score(value: object) -> int | None:
    text = value.strip() if isinstance(value, str) else ""
    return int(text) if text.isascii() and text.isdigit() and int(text) in SCORES else None


# -- form fields ----------------------------------------------------------------------


def text_field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# -- the /submit form ---------------------------------------------------------------


def form_signer(web: Web) -> TimestampSigner:
    return TimestampSigner(web.secret, salt=FORM_SALT)


def form_token(web: Web) -> str:
    return form_signer(web).sign(b"submit").decode()


def form_token_ok(web: Web, token: object) -> bool:
    """Is `token` one of ours, from the last `FORM_MAX_AGE` seconds?"""
    if not isinstance(token, str) or not token.isascii():
        return False
    try:
        return form_signer(web).unsign(token, max_age=FORM_MAX_AGE) == b"submit"
    except (BadSignature, SignatureExpired):
        return False


def frame_headers(web: Web) -> dict[str, str]:
    """/submit may be framed by `[web] frame_ancestors` (none: by nobody)."""
    sources = " ".join(web.config.web.frame_ancestors) or "'none'"
    kept = [d.strip() for d in CSP.split(";") if not d.strip().startswith("frame-ancestors")]
    headers = {"content-security-policy": "; ".join([*kept, f"frame-ancestors {sources}"])}
    if not web.config.web.frame_ancestors:
        headers["x-frame-options"] = "DENY"
    return headers


@dataclass(frozen=True)
class SubmitFields:
    """What the /submit form asks for."""

    name: str
    email: str
    subject: str
    category: str
    description: str


NO_FIELDS = SubmitFields(name="", email="", subject="", category="", description="")


@dataclass(frozen=True)
class Submitted:
    """What the page after /submit says: the new ticket's reference, if there is one."""

    label: str | None
    email: str


def read_request(form: FormData) -> SubmitFields:
    return SubmitFields(
        name=text_field(form, "name").strip(),
        email=text_field(form, "email").strip(),
        subject=text_field(form, "subject").strip(),
        category=text_field(form, "category").strip(),
        description=text_field(form, "description"),
    )


def categories(web: Web) -> list[str]:
    """The configured category names, for the form's select (empty: no select)."""
    return [c.name for c in web.pipeline.policies.categories.values()]


def request_problem(web: Web, fields: SubmitFields) -> str:
    """What is wrong with a filled-in form ("" if nothing)."""
    address = parse_typed_address(fields.email)
    if address is None or deliverable_address(address.email) is None:
        return "Please give an e-mail address we can answer to."
    if not fields.subject:
        return "Please give your request a subject."
    if not fields.description.strip():
        return "Please describe the problem."
    if fields.category and fields.category not in categories(web):
        return "Please choose one of the listed categories."
    return ""


def open_request(web: Web, fields: SubmitFields, uploads: Sequence[Upload]) -> actions.Outcome:
    """A new ticket from the form (runs in the web's database threads), then its
    chosen category, as a change of the requester's."""
    outcome = actions.new_ticket(
        web,
        name=fields.name,
        email=fields.email,
        subject=fields.subject,
        text=fields.description,
        uploads=uploads,
        source="web:submit",
    )
    if fields.category and outcome.action == "created" and outcome.ticket:
        set_category(web, outcome.ticket, fields.category, fields.email.lower())
    return outcome


def set_category(web: Web, label: str, category: str, actor: str) -> None:
    """The category, with its SLA targets, and auto-assignment by it when nobody is
    assigned yet: what a routing rule setting it would have done."""
    now = web.clock()

    def log(ticket: Ticket, who: str, type_: str, data: dict[str, Any]) -> None:
        Event.create(ticket=ticket, at=now, actor=who, type=type_, data=data)

    with write_transaction(web.db):
        ticket = repo.lock_ticket(web.db, parse_number(web.prefix, label) or 0)
        if ticket is None:
            raise Ticket.DoesNotExist(label)
        changes = TicketChanges(web.db, web.prefix, now, log, web.pipeline.sla)
        changes.set_field(ticket, "category", category, actor)
        if ticket.assignee_id is None:
            web.pipeline.automation.auto_assign(ticket, repo.active_agents(), now, log)
        ticket.updated_at = now
        ticket.save()


# -- routes -------------------------------------------------------------------------


def routes(web: Web) -> list[Route]:
    def link_of(request: Request) -> Link:
        return parse_link(web, request.path_params["label"], request.path_params["token"])

    def show_status(
        request: Request, link: Link, view: StatusView, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        context = {"notice": "", "error": "", "text": ""} | context
        csrf = web.customer_csrf(link.token)
        return web.page(
            request, "status.html", status_code, csrf=csrf, link=link, view=view, **context
        )

    async def status_page(request: Request) -> Response:
        link = link_of(request)
        view = await web.call(status_view, web, link, web.clock())
        notice = SENT.get(request.query_params.get("sent", ""), "")
        return show_status(request, link, view, notice=notice)

    async def reply(request: Request) -> Response:
        link = link_of(request)
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
        same = outcome.ticket in (None, web.label(ticket.number))
        return redirect(f"{link.path}?sent={'1' if same else 'new'}")

    def show_rating(
        request: Request, link: Link, view: RatingView, status_code: int = 200, **extra: Any
    ) -> HTMLResponse:
        context = {"notice": "", "error": "", "picked": view.score, "comment": view.comment}
        return web.page(
            request,
            "rate.html",
            status_code,
            csrf=web.customer_csrf(link.token),
            link=link,
            view=view,
            scores=SCORES,
            comment_chars=COMMENT_CHARS,
            rating_days=RATING_DAYS,
            **(context | extra),
        )

    async def rate_page(request: Request) -> Response:
        link = link_of(request)
        view = await web.call(rating_view, web, link, web.clock())
        notice = "Thank you for your rating." if request.query_params.get("saved") else ""
        picked = parse_score(request.query_params.get("score")) or view.score
        return show_rating(request, link, view, notice=notice, picked=picked)

    async def rate(request: Request) -> Response:
        link = link_of(request)
        async with bounded(request, FORM_OVERHEAD, "The form is too large.") as body:
            form = await checked_form(body, expected=web.customer_csrf(link.token))
        score = parse_score(form.get("score"))
        comment = text_field(form, "comment").strip()
        if score is None or len(comment) > COMMENT_CHARS:
            view = await web.call(rating_view, web, link, web.clock())
            return show_rating(request, link, view, 400, error=BAD_RATING, comment=comment)
        try:
            await web.call(save_rating, web, link, score, comment, web.clock())
        except RatingClosed as exc:
            view = await web.call(rating_view, web, link, web.clock())
            return show_rating(request, link, view, 409, error=str(exc))
        return redirect(f"{link.path}/rate?saved=1")

    def show_submit(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
        context = {"error": "", "fields": NO_FIELDS, "submitted": None} | context
        response = web.page(
            request,
            "submit.html",
            status_code,
            csrf=form_token(web),
            categories=categories(web),
            honeypot=HONEYPOT,
            **context,
        )
        response.headers.update(frame_headers(web))
        return response

    async def submit_page(request: Request) -> Response:
        return show_submit(request)

    async def submit(request: Request) -> Response:
        try:
            return await take_submission(request)
        except HTTPException as exc:
            if exc.status_code != 413:
                raise
            return show_submit(request, 413, error=exc.detail)

    async def take_submission(request: Request) -> Response:
        limit = web.config.web.max_upload_size
        async with bounded(request, limit + FORM_OVERHEAD, too_large(limit)) as body:
            form = await body.form()
            fields = read_request(form)
            if not form_token_ok(web, form.get("csrf")):
                error = "This form was open too long. Please check it and send it again."
                return show_submit(request, 403, error=error, fields=fields)
            client = f"submit:{web.client(request)}"
            if web.submit_limit.blocked(client):
                return too_many(request, web.submit_limit.retry_after(client), fields)
            web.submit_limit.hit(client)
            if text_field(form, HONEYPOT):  # a bot: it learns nothing
                return show_submit(request, submitted=Submitted(None, fields.email))
            problem = request_problem(web, fields)
            if problem:
                return show_submit(request, 422, error=problem, fields=fields)
            uploads = await read_uploads(form)
            if total_size(uploads) > limit:
                raise HTTPException(413, too_large(limit))
        try:
            outcome = await web.call(open_request, web, fields, uploads)
        except Refused as exc:
            return show_submit(request, 422, error=str(exc), fields=fields)
        web.on_mail()
        label = outcome.ticket if outcome.action == "created" else None
        return show_submit(request, submitted=Submitted(label, fields.email))

    def too_many(request: Request, wait: int, fields: SubmitFields) -> Response:
        error = f"Too many requests from here. Please try again in {wait // 60 + 1} minutes."
        response = show_submit(request, 429, error=error, fields=fields)
        response.headers["retry-after"] = str(wait)
        return response

    async def no_such_link(request: Request) -> Response:
        raise HTTPException(404, NOT_FOUND)

    return [
        Route("/t/{label}/{token}", status_page, methods=["GET"]),
        Route("/t/{label}/{token}/reply", reply, methods=["POST"]),
        Route("/t/{label}/{token}/rate", rate_page, methods=["GET"]),
        Route("/t/{label}/{token}/rate", rate, methods=["POST"]),
        Route("/t/{rest:path}", no_such_link),
        Route("/submit", submit_page, methods=["GET"]),
        Route("/submit", submit, methods=["POST"]),
    ]
