"""The public /submit form: a new request from someone without a ticket yet.

No sign-in and no session. The request becomes mail through `actions.new_ticket`
and the pipeline, exactly as if mailed; a chosen category is then set as the
requester's change, through `TicketChanges` in one write transaction with its
events (`repo.record_events`), like any change to a ticket. /submit may be framed
by the sites in `[web] frame_ancestors`; its CSRF token is a signed timestamp,
since there is no session to keep one in. Posts are limited per client
(`[web] submit_per_hour`), and a honeypot field turns bots away silently.

Answers before an agent is needed: when the desk's published articles match the
subject and description well (`knowledge.catalog.suggested`, as the acknowledgement
would suggest them), Send first shows them ("Check these first") with the request
kept in hidden fields, and "Send my request anyway" sends it. Nothing matching, a
request with files (a browser cannot carry them over) or `[kb] suggestions = 0`:
sent at once. That step opens no ticket, so it does not count against the limit.

Spam: besides the honeypot and the limit, the form carries a signed proof-of-work
challenge (`core.proof_of_work`, `[web] submit_pow_bits`) that static/submit.js
solves; a ticket is opened only for a challenge that is signed, fresh, worked and
not used before (`repo.use_once`). `?embed=1` (the widget's iframe, static/widget.js)
shows the form without the site's header, pre-filled from `name`, `email`,
`subject` and `category` in the query, as any GET of the form may be (`theme=dark`:
dark colours, as the widget's button).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from maildesk.core.addresses import deliverable_address
from maildesk.core.links import article_page
from maildesk.core.message import parse_typed_address
from maildesk.core.proof_of_work import MAX_AGE_SECONDS, REUSED, WorkRefused, issue, verify
from maildesk.knowledge import catalog
from maildesk.settings.desks import DeskProfile
from maildesk.settings.fields import FieldDef, FieldError
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Ticket
from maildesk.tickets.escalation import event_collector
from maildesk.web import actions
from maildesk.web.actions import Refused, Upload
from maildesk.web.context import Web, text_field, web_of
from maildesk.web.middleware import CSP
from maildesk.web.uploads import FORM_OVERHEAD, bounded, read_uploads, too_large, total_size

FORM_SALT = "maildesk.submit-form"
FORM_MAX_AGE = 24 * 3600
HONEYPOT = "website"  # hidden from people (class hp); bots fill it in
STALE_FORM = "This form was open too long. Please check it and send it again."
POW_CHALLENGE, POW_COUNTER = "pow_challenge", "pow_counter"
PREFILLED = ("name", "email", "subject", "category")  # what a GET's query may fill in
STEP = "step"  # "send": the customer saw the articles and sends anyway; "edit": back to the form


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
    custom: dict[str, str] = field(default_factory=dict)  # custom fields, as typed


NO_FIELDS = SubmitFields(name="", email="", subject="", category="", description="")


@dataclass(frozen=True)
class Suggestion:
    """An article shown before sending: its title and its public page."""

    title: str
    path: str


@dataclass(frozen=True)
class Submitted:
    """What the page after /submit says: the new ticket's reference, if there is one."""

    label: str | None
    email: str


def read_request(form: FormData, asked: Sequence[FieldDef] = ()) -> SubmitFields:
    custom = {}
    for definition in asked:
        key = f"field_{definition.name}"
        values = [v.strip() for v in form.getlist(key) if isinstance(v, str) and v.strip()]
        custom[definition.name] = ",".join(values)
    return SubmitFields(
        name=text_field(form, "name").strip(),
        email=text_field(form, "email").strip(),
        subject=text_field(form, "subject").strip(),
        category=text_field(form, "category").strip(),
        description=text_field(form, "description"),
        custom=custom,
    )


def desk_of_path(web: Web, request: Request) -> DeskProfile:
    """The desk a /submit/{desk} path names (/submit: the default desk); else 404."""
    slug = request.path_params.get("desk")
    if slug is None:
        return web.desks.default
    if not web.desks.known(slug):
        raise HTTPException(404, "no such form")
    return web.desks.get(slug)


def categories(web: Web, desk: DeskProfile) -> list[str]:
    """The desk's category names, for the form's select (empty: no select)."""
    found = web.desk.policies.categories
    return list(dict.fromkeys(c.name for (slug, _), c in found.items() if slug in ("", desk.slug)))


def asked_fields(web: Web, desk: DeskProfile) -> tuple[FieldDef, ...]:
    """The custom fields the desk's form asks for."""
    return tuple(
        f for f in web.desk.fields.all if f.submit and (not f.desks or desk.slug in f.desks)
    )


def field_problem(web: Web, desk: DeskProfile, fields: SubmitFields) -> str:
    """What is wrong with the custom fields of a filled-in form ("" if nothing). A field
    limited to categories counts only with one of them chosen."""
    for definition in asked_fields(web, desk):
        if not definition.applies(desk.slug, fields.category or None):
            continue
        raw = fields.custom.get(definition.name, "")
        if not raw and definition.required:
            return f"Please fill in {definition.label}."
        try:
            definition.parse(raw)
        except FieldError:
            return f"Please check {definition.label}: {_expected(definition)}."
    return ""


def _expected(definition: FieldDef) -> str:
    return {
        "number": "a number",
        "date": "a date (YYYY-MM-DD)",
        "select": "one of the choices",
        "multiselect": "the listed choices",
        "checkbox": "yes or no",
        "link": "one word, without spaces",
    }.get(definition.type, "one line of text")


def request_problem(web: Web, fields: SubmitFields, desk: DeskProfile | None = None) -> str:
    """What is wrong with a filled-in form ("" if nothing)."""
    address = parse_typed_address(fields.email)
    if address is None or deliverable_address(address.email) is None:
        return "Please give an e-mail address we can answer to."
    if not fields.subject:
        return "Please give your request a subject."
    if not fields.description.strip():
        return "Please describe the problem."
    desk = desk or web.desks.default
    if fields.category and fields.category not in categories(web, desk):
        return "Please choose one of the listed categories."
    return field_problem(web, desk, fields)


def open_request(
    web: Web,
    fields: SubmitFields,
    uploads: Sequence[Upload],
    desk: DeskProfile | None = None,
    source: str = "web:submit",
) -> actions.Outcome:
    """A new ticket of the form's desk (runs in the web's database threads), then its
    chosen category and fields, as changes of the requester's. `source` (in the created
    event): web:submit, or web:widget for the form in the widget's iframe."""
    outcome = actions.new_ticket(
        web,
        name=fields.name,
        email=fields.email,
        subject=fields.subject,
        text=fields.description,
        uploads=uploads,
        source=source,
        desk=desk,
    )
    given = {name: value for name, value in fields.custom.items() if value}
    if (fields.category or given) and outcome.action == "created" and outcome.ticket:
        set_requested(web, outcome.ticket, fields.category, given, fields.email.lower())
    return outcome


def set_requested(web: Web, label: str, category: str, custom: dict[str, str], actor: str) -> None:
    """The custom fields the form gave that the ticket has (with what the routing
    rules on them set), the category, with its SLA targets, and auto-assignment by it
    when nobody is assigned yet (what a routing rule setting it would have done)."""
    now = web.clock()
    events: list[dict[str, Any]] = []
    log = event_collector(events, now)
    with write_transaction(web.db):
        ticket = repo.lock_ticket(web.db, web.desk.labels.find(label) or 0)
        if ticket is None:
            raise Ticket.DoesNotExist(label)
        changes = web.desk.changes(now, log)
        # The fields first (the routing rules on them may set the category), then
        # the category the form asked for, which wins.
        for name, raw in custom.items():
            definition = web.desk.fields.get(name)
            if definition is not None and definition.applies(
                ticket.desk, category or ticket.category
            ):
                changes.set_custom(ticket, name, definition.parse(raw), actor)
        if category:
            changes.set_field(ticket, "category", category, actor)
        if ticket.category and ticket.assignee_id is None:
            web.desk.automation.auto_assign(ticket, repo.active_agents(), now, log)
        ticket.updated_at = now
        ticket.save()
        repo.record_events(events)


def suggestions(web: Web, desk: DeskProfile, fields: SubmitFields) -> list[Suggestion]:
    """The published articles of the desk that match the request as the
    acknowledgement's suggestions would (in the web's database threads)."""
    kb = web.config.kb
    found = catalog.suggested(
        web.db,
        web.desk.articles,
        desk.slug,
        web.desks.default.slug,
        fields.subject,
        fields.description,
        kb.suggestions,
        kb.min_words,
    )
    default = web.desks.default.slug
    return [Suggestion(a.title, article_page("", a.desk, default, a.slug)) for a in found]


# -- the handlers ---------------------------------------------------------------------


def embedded(request: Request) -> bool:
    """Is the form shown in the widget's iframe (`?embed=1`)?"""
    return request.query_params.get("embed") == "1"


def prefilled(request: Request) -> SubmitFields:
    """The form's fields as a GET's query fills them in (the widget's data- attributes)."""
    given = {k: request.query_params.get(k, "").strip()[:300] for k in PREFILLED}
    return SubmitFields(
        name=given["name"],
        email=given["email"],
        subject=given["subject"],
        category=given["category"],
        description="",
    )


def show_submit(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    web = web_of(request)
    desk = desk_of_path(web, request)
    context = {"error": "", "fields": NO_FIELDS, "submitted": None, "check": []} | context
    bits = web.config.web.submit_pow_bits
    embed = embedded(request)
    response = web.page(
        request,
        "submit.html",
        status_code,
        csrf=form_token(web),
        categories=categories(web, desk),
        asked=asked_fields(web, desk),
        honeypot=HONEYPOT,
        desk=desk,
        action=request.url.path + ("?embed=1" if embed else ""),
        embed=embed,
        dark=request.query_params.get("theme") == "dark",
        pow_bits=bits,
        pow_challenge=issue(web.secret, int(web.clock().timestamp()), bits) if bits else "",
        pow_names=(POW_CHALLENGE, POW_COUNTER),
        **context,
    )
    response.headers.update(frame_headers(web))
    return response


async def submit_page(request: Request) -> Response:
    return show_submit(request, fields=prefilled(request))


async def submit(request: Request) -> Response:
    try:
        return await take_submission(request)
    except HTTPException as exc:
        if exc.status_code != 413:
            raise
        return show_submit(request, 413, error=exc.detail)


async def take_submission(request: Request) -> Response:
    web = web_of(request)
    limit = web.config.web.max_upload_size
    desk = desk_of_path(web, request)
    async with bounded(request, limit + FORM_OVERHEAD, too_large(limit)) as body:
        form = await body.form()
        fields = read_request(form, asked_fields(web, desk))
        refused = turned_away(request, form, fields)
        if refused is not None:
            return refused
        uploads = await read_uploads(form)
        if total_size(uploads) > limit:
            raise HTTPException(413, too_large(limit))
    step = text_field(form, STEP)
    if step == "edit":  # back from the articles to the form, as filled in
        web.submit_limit.give_back(f"submit:{web.client(request)}")
        return show_submit(request, fields=fields)
    if step != "send" and not uploads:
        found = await web.call(suggestions, web, desk, fields)
        if found:  # "Check these first": nothing opened, nothing counted
            web.submit_limit.give_back(f"submit:{web.client(request)}")
            return show_submit(
                request,
                fields=fields,
                check=found,
                request_challenge=text_field(form, POW_CHALLENGE),
                request_counter=text_field(form, POW_COUNTER),
            )
    if not await web.call(challenge_taken, web, form):
        return show_submit(request, 422, error=REUSED, fields=fields)
    try:
        source = "web:widget" if embedded(request) else "web:submit"
        outcome = await web.call(open_request, web, fields, uploads, desk, source)
    except Refused as exc:
        return show_submit(request, 422, error=str(exc), fields=fields)
    web.on_mail()
    label = outcome.ticket if outcome.action == "created" else None
    return show_submit(request, submitted=Submitted(label, fields.email))


def turned_away(request: Request, form: FormData, fields: SubmitFields) -> Response | None:
    """The answer to a post that is not taken in (stale form, too many, a bot, a
    problem with the fields); None for one that is."""
    web = web_of(request)
    if not form_token_ok(web, form.get("csrf")):
        return show_submit(request, 403, error=STALE_FORM, fields=fields)
    client = f"submit:{web.client(request)}"
    if web.submit_limit.blocked(client):
        return too_many(request, web.submit_limit.retry_after(client), fields)
    web.submit_limit.hit(client)
    if text_field(form, HONEYPOT):  # a bot: it learns nothing
        return show_submit(request, submitted=Submitted(None, fields.email))
    problem = request_problem(web, fields, desk_of_path(web, request)) or work_problem(web, form)
    if problem:
        return show_submit(request, 422, error=problem, fields=fields)
    return None


def work_problem(web: Web, form: FormData) -> str:
    """What is wrong with the post's proof of work ("" if nothing, or if none is asked)."""
    bits = web.config.web.submit_pow_bits
    if not bits:
        return ""
    now = int(web.clock().timestamp())
    try:
        verify(
            web.secret, text_field(form, POW_CHALLENGE), text_field(form, POW_COUNTER), now, bits
        )
    except WorkRefused as exc:
        return str(exc)
    return ""


def challenge_taken(web: Web, form: FormData) -> bool:
    """Take the post's (verified) challenge for good: False when it was used before. Runs
    in the web's database threads."""
    if not web.config.web.submit_pow_bits:
        return True
    nonce = text_field(form, POW_CHALLENGE).split(".")[0]
    now = web.clock()
    with write_transaction(web.db):
        return repo.use_once(web.db, nonce, now + dt.timedelta(seconds=MAX_AGE_SECONDS), now)


def too_many(request: Request, wait: int, fields: SubmitFields) -> Response:
    error = f"Too many requests from here. Please try again in {wait // 60 + 1} minutes."
    response = show_submit(request, 429, error=error, fields=fields)
    response.headers["retry-after"] = str(wait)
    return response


routes = [
    Route("/submit", submit_page, methods=["GET"]),
    Route("/submit", submit, methods=["POST"]),
    Route("/submit/{desk}", submit_page, methods=["GET"]),
    Route("/submit/{desk}", submit, methods=["POST"]),
]
