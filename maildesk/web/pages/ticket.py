"""The ticket page (agents): header, SLA targets, thread, event log, reply box and controls.

Routes (agents, a session):
  GET  /tickets/SUP-00042                       the page (a merged ticket: 303 to its survivor)
  GET  /tickets/SUP-00042/messages/<id>/html    one message's HTML, sanitised (`sanitize`),
                                                for a sandboxed frame, under its own CSP
  GET  /attachments/<id>/<filename>             the stored bytes, as a download
                                                (`?inline=1`: PNG/JPEG/GIF/WebP shown)
  POST /tickets/SUP-00042/reply                 a reply or note, as mail (`actions.agent_mail`)
  POST /tickets/SUP-00042/update                the controls, as `#command` lines (same path)

What the page shows is read by `detail`; every change goes through the mail
pipeline like an agent's mail, so it is checked, logged and notified alike.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.core.links import article_page
from maildesk.core.vocabulary import STATUSES
from maildesk.knowledge import catalog
from maildesk.pipeline.flow import Outcome
from maildesk.store.models import Agent, Ticket
from maildesk.tickets import meanwhile
from maildesk.tickets import time_spent as spent
from maildesk.tickets.followers import shown as shown_followers
from maildesk.web import detail
from maildesk.web.actions import Refused, Upload, agent_mail
from maildesk.web.context import Web, checked_form, redirect, require, signed_in, web_of
from maildesk.web.field_forms import changed_fields
from maildesk.web.pages import live
from maildesk.web.uploads import FORM_OVERHEAD, read_uploads, too_large, total_size

MAX_ID = 2**63 - 1  # larger ids are no row's (and would overflow PostgreSQL's bigint)
IMAGE_TOKEN_SECONDS = 3600  # how long the inline images of a served frame stay viewable
FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"  # links open; nothing runs
ATTACHMENT_CSP = "default-src 'none'; sandbox"
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9 !#$%&'()+,.=@\[\]^_`{}~-]")


def image_token(secret: bytes, attachment_id: int, expires: int) -> str:
    """What lets the message frame show one inline image until `expires` (a Unix time).

    The frame is sandboxed without allow-same-origin: its document has an opaque
    origin, so browsers send no SameSite session cookie with its image requests.
    Its images therefore carry this signature, made for a signed-in agent when the
    frame was served; it shows that one image, nothing else."""
    message = f"inline-image:{attachment_id}:{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def frame_csp(remote: bool) -> str:
    """The message frame's own policy: images from here (and, asked for, from anywhere),
    inline styles of the mail; no scripts, forms or plugins; a sandbox even if opened
    directly; only our own pages may frame it."""
    images = "'self' data: https: http:" if remote else "'self' data:"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; base-uri 'none'; "
        f"form-action 'none'; frame-ancestors 'self'; sandbox {FRAME_SANDBOX}"
    )


def content_disposition(kind: str, filename: str) -> str:
    """`attachment; filename="plain ascii"; filename*=UTF-8''...` with no path or
    control characters in either form."""
    name = _UNSAFE_NAME.sub("_", filename).strip().lstrip(".") or "attachment"
    fallback = _ASCII_UNSAFE.sub("_", name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


# -- forms: the controls as #command lines -----------------------------------------------


def _text(form: Mapping[str, object], name: str) -> str:
    """One form field as one line (a newline could smuggle in another #command)."""
    value = form.get(name)
    return " ".join(value.split()) if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [" ".join(v.split()) for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def _changed(form: FormData, name: str, now: str, same: Callable[[str], str] = str) -> str | None:
    """The new value of a control the agent changed, else None. A control counts as
    changed when it differs from what the page showed (`was_<name>`) and from the
    ticket now, so a page loaded earlier never undoes someone else's change.
    `same`: the spelling values are compared in."""
    if name not in form:
        return None
    value = _text(form, name)
    shown = _text(form, f"was_{name}") if f"was_{name}" in form else now
    return None if same(value) in (same(shown), now) else value


def control_commands(form: FormData, now: detail.Controls, me: str) -> list[str]:
    """The `#command` lines for what the controls changed (see core.commands); `me`:
    the signed-in agent's address."""
    lines = []
    for name in ("status", "priority"):
        value = _changed(form, name, getattr(now, name))
        if value is not None:
            lines.append(f"#{name} {value}")
    category = _changed(form, "category", now.category)
    if category is not None:
        lines.append(f"#category {category or 'none'}")
    assignee = _changed(form, "assignee", now.assignee, lambda v: me if v == "me" else v)
    if assignee is not None:
        lines.append(f"#assign {assignee or 'none'}")
    tags = _text(form, "tags")
    if tags:
        lines.append(f"#tag {tags}")
    for email in _text(form, "cc_add").replace(",", " ").split():
        lines.append(f"#cc add {email}")
    lines += [f"#cc remove {email}" for email in _texts(form, "cc_remove")]
    merge = _text(form, "merge")
    if merge:
        lines.append(f"#merge {merge}")
    lines += _link_commands(form)
    return lines + _snooze_commands(form) + _field_commands(form, now)


def _snooze_commands(form: FormData) -> list[str]:
    """`#snooze` and `#remind` lines from the snooze card: a date and time of the
    browser's picker (`2026-12-24T09:00`) wins over a quick choice (`3d`, `none`)."""
    lines = []
    snooze = _text(form, "snooze_until").replace("T", " ") or _text(form, "snooze")
    if snooze:
        lines.append(f"#snooze {snooze}")
    remind_at = _text(form, "remind_at").replace("T", " ")
    remind_text = _text(form, "remind_text")
    if remind_at or remind_text:
        lines.append(f"#remind {remind_at} {remind_text}")
    return lines


def _link_commands(form: FormData) -> list[str]:
    """`#link`, `#incident` and `#unlink` lines from the linked-tickets controls."""
    lines = []
    link, relation = _text(form, "link"), _text(form, "link_as")
    if link:
        lines.append(f"#{'incident' if relation == 'incident' else 'link'} {link}")
    lines += [f"#unlink {label}" for label in _texts(form, "unlink")]
    return lines


def _field_commands(form: FormData, now: detail.Controls) -> list[str]:
    """`#set` lines for the custom fields the agent changed (`field_forms`); an empty
    value clears a field."""
    changed = changed_fields(form, now.fields)
    return [f"#set {name} {value or 'none'}" for name, value in changed.items()]


@dataclass(frozen=True)
class ReplyForm:
    """The reply box, as posted."""

    text: str
    template: str
    kind: str  # reply | note
    uploads: list[Upload]
    seen: int | None  # the newest message the page showed (None: a form without it)
    reply_linked: bool  # "also send to the linked tickets" (`#reply-linked`)
    anyway: bool  # "send anyway", after being told of what arrived meanwhile
    time_spent: str = ""  # as typed (`#time`'s value): recorded with the reply or note


async def reply_form(request: Request) -> ReplyForm:
    """The reply box's text, canned response, kind, files and what the page had shown
    (after the CSRF check)."""
    try:
        form = await checked_form(request)
        kind = _text(form, "kind") or "reply"
        if kind not in ("reply", "note"):
            raise HTTPException(400, "kind must be reply or note")
        text = form.get("text")
        text = text if isinstance(text, str) else ""
        seen = _text(form, "seen")
        return ReplyForm(
            text,
            _text(form, "template"),
            kind,
            await read_uploads(form),
            int(seen) if seen.isdecimal() and len(seen) <= 18 else None,
            _text(form, "reply_linked") == "1",
            _text(form, "anyway") == "1",
            _text(form, "time_spent"),
        )
    finally:
        await request.close()  # the uploads' temporary files


# -- the command side (in the database threads) ----------------------------------------


def send(
    web: Web,
    agent: Agent,
    ticket_id: int,
    text: str,
    *,
    template: str = "",
    note: bool = False,
    uploads: list[Upload] | None = None,
    commands: list[str] | None = None,
) -> Outcome:
    """The agent's reply, note or changes to the ticket, as their mail would be."""
    ticket = Ticket.get_by_id(ticket_id)
    lines = list(commands or [])
    if template:
        if template not in web.desk.mailer.renderer(ticket.desk).canned_names():
            raise Refused(f"no canned response {template!r}")
        lines.append(f"#template {template}")
    outcome = agent_mail(web, agent, ticket, text, commands=lines, note=note, uploads=uploads or [])
    if outcome.action == "quarantined":
        raise Refused(f"could not be processed ({outcome.reason}); kept for an admin to retry")
    if outcome.action == "pending":  # the database failed after storing it
        raise Refused(f"saved, and processed as soon as the database recovers ({outcome.reason})")
    return outcome


# -- routes -----------------------------------------------------------------------------


def _id(request: Request) -> int:
    value = int(request.path_params["id"])
    if value > MAX_ID:
        raise HTTPException(404, "not found")
    return value


async def located(web: Web, request: Request) -> tuple[Ticket, Ticket]:
    """(the ticket named in the path, the one it lives on in); 404 if none."""
    agent = require(request)
    number = await web.ticket_number(request.path_params["label"])
    ticket, live = await web.call(detail.live_ticket, number)
    if ticket is None or live is None or not await web.call(web.sees, agent, live):
        raise HTTPException(404, "no such ticket")  # not the agent's: not there, not forbidden
    return ticket, live


async def live_or_redirect(web: Web, request: Request, rest: str = "") -> Ticket:
    """The ticket in the path; a merged one answers 303 to its survivor."""
    ticket, live = await located(web, request)
    if live.id != ticket.id:
        query = f"?{request.url.query}" if request.url.query else ""
        raise HTTPException(303, headers={"Location": f"/tickets/{web.label(live)}{rest}{query}"})
    return ticket


async def render(
    request: Request,
    ticket_id: int,
    status_code: int = 200,
    *,
    error: str = "",
    text: str = "",
    template: str = "",
    kb_query: str = "",
    arrived: tuple[meanwhile.Arrival, ...] = (),
    files_dropped: bool = False,
    time_spent: str = "",
) -> Response:
    """The page; after a refused post, with the error and what the agent typed; with
    `kb_query`, the articles of the ticket's desk that match it (the reply box's
    article search); with `arrived`, the messages that came while the agent wrote the
    reply that was therefore not sent (a collision: they may send it anyway)."""
    web = web_of(request)
    agent = signed_in(request)
    page = await web.call(detail.ticket_page, web, ticket_id)
    followers = await web.call(shown_followers, ticket_id)
    links = await web.call(detail.links_shown, web, ticket_id)
    found = await web.call(_articles, web, ticket_id, kb_query) if kb_query else []
    entries = await web.call(spent.entries, ticket_id)
    seen = request.query_params.get("seen", "")
    if not arrived and agent is not None and seen.isdecimal() and len(seen) <= 18:
        # The live page asks what came since the page it is writing on (maildesk.js).
        arrived = await web.call(meanwhile.arrived_since, ticket_id, int(seen), agent.email)
    return web.page(
        request,
        "ticket.html",
        status_code=status_code,
        active="queue",
        page=page,
        links=links,
        t=page.ticket,
        statuses=STATUSES,
        priorities=web.config.tickets.priorities,
        when=functools.partial(detail.local_time, zone=web.config.sla.timezone),
        sandbox=FRAME_SANDBOX,
        error=error,
        text=text,
        template=template,
        kb_query=kb_query,
        kb_found=found,
        seen=detail.newest_message(page),
        arrived=arrived,
        collision=status_code == 409 and bool(arrived),
        files_dropped=files_dropped,
        time_spent=entries,
        time_spent_typed=time_spent,
        spoken=spent.spoken,
        present=live.others(web, ticket_id, agent),
        followers=followers,
        live_stream="/events/stream?" + urlencode({"ticket": page.label}) if web.live else "",
    )


KB_RESULTS = 8


def _articles(web: Web, ticket_id: int, words: str) -> list[dict[str, str]]:
    """Published articles of the ticket's desk holding the words, for `#kb SLUG`."""
    desk = Ticket.get_by_id(ticket_id).desk
    default = web.desks.default.slug
    return [
        {"slug": a.slug, "title": a.title, "url": article_page("", a.desk, default, a.slug)}
        for a in catalog.searched(web.db, desk, words, KB_RESULTS)
    ]


async def merged_away(request: Request, ticket: Ticket, live: Ticket, text: str) -> Response:
    label = web_of(request).label
    error = (
        f"{label(ticket)} was merged into {label(live)}: "
        "nothing was sent or changed. Check here and try again."
    )
    return await render(request, live.id, 409, error=error, text=text)


async def show(request: Request) -> Response:
    require(request)
    ticket = await live_or_redirect(web_of(request), request)
    kb_query = request.query_params.get("kb", "").strip()[:200]
    return await render(request, ticket.id, kb_query=kb_query)


async def message_html(request: Request) -> Response:
    require(request)
    web = web_of(request)
    message_id = _id(request)
    ticket = await live_or_redirect(web, request, f"/messages/{message_id}/html")
    remote = request.query_params.get("remote") == "1"
    expires = int(web.clock().timestamp()) + IMAGE_TOKEN_SECONDS

    def image_url(attachment_id: int, filename: str) -> str:
        token = image_token(web.secret, attachment_id, expires)
        query = urlencode({"inline": 1, "expires": expires, "token": token})
        return f"{detail.attachment_url(attachment_id, filename)}?{query}"

    cleaned = await web.call(detail.message_frame, ticket.id, message_id, remote, image_url)
    if cleaned is None:
        raise HTTPException(404, "no such message in this ticket")
    response = web.page(
        request,
        "ticket_frame.html",
        content=Markup(cleaned.html),  # nh3's output: only what `sanitize` allows
        blocked=cleaned.remote_blocked,
    )
    response.headers["content-security-policy"] = frame_csp(remote)
    response.headers["x-frame-options"] = "SAMEORIGIN"
    return response


async def message_original(request: Request) -> Response:
    """The raw mail of one message, as a download (`message/rfc822`): headers, every
    part, the whole text."""
    require(request)
    web = web_of(request)
    message_id = _id(request)
    ticket = await live_or_redirect(web, request, f"/messages/{message_id}/original")
    raw = await web.call(detail.message_original, ticket.id, message_id)
    if raw is None:
        raise HTTPException(404, "no such message in this ticket")
    filename = f"{web.label(ticket)}-message-{message_id}.eml"
    headers = {
        "content-disposition": content_disposition("attachment", filename),
        "x-content-type-options": "nosniff",
        "content-security-policy": ATTACHMENT_CSP,
    }
    return Response(raw, media_type="message/rfc822", headers=headers)


def valid_image_token(web: Web, request: Request, attachment_id: int) -> bool:
    """Whether the query carries an unexpired `image_token` for this attachment."""
    params = request.query_params
    expires, token = params.get("expires", ""), params.get("token", "")
    if params.get("inline") != "1" or not expires.isdigit() or len(expires) > 12:
        return False
    if int(expires) < web.clock().timestamp():
        return False
    expected = image_token(web.secret, attachment_id, int(expires))
    return hmac.compare_digest(token.encode(), expected.encode())


async def attachment(request: Request) -> Response:
    web = web_of(request)
    attachment_id = _id(request)
    by_token = signed_in(request) is None and valid_image_token(web, request, attachment_id)
    scope = None if by_token else await web.call(web.scope_of, require(request))
    found = await web.call(detail.attachment_file, attachment_id, scope)
    if found is None:
        raise HTTPException(404, "no such attachment")
    shown = request.query_params.get("inline") == "1"
    shown = shown and found.content_type.lower() in detail.INLINE_TYPES
    if by_token and not shown:  # a token shows an image, it downloads nothing
        raise HTTPException(404, "no such image")
    headers = {
        "content-disposition": content_disposition(
            "inline" if shown else "attachment", found.filename
        ),
        "x-content-type-options": "nosniff",
        "content-security-policy": ATTACHMENT_CSP,
    }
    media_type = found.content_type.lower() if shown else "application/octet-stream"
    return Response(found.data, media_type=media_type, headers=headers)


async def reply(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    ticket, live = await located(web, request)
    limit = web.config.web.max_upload_size
    too_big = too_large(limit)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        return await render(request, live.id, 413, error=too_big)
    form = await reply_form(request)
    text, template, spent_typed = form.text, form.template, form.time_spent
    if live.id != ticket.id:
        return await merged_away(request, ticket, live, text)
    if total_size(form.uploads) > limit:
        return await render(request, ticket.id, 413, error=too_big, text=text)
    if form.kind == "reply" and form.seen is not None and not form.anyway:
        arrived = await web.call(meanwhile.arrived_since, ticket.id, form.seen, agent.email)
        if arrived:  # someone wrote since the agent's page was loaded: they read it first
            return await render(
                request, ticket.id, 409, text=text, template=template,
                arrived=arrived, files_dropped=bool(form.uploads), time_spent=spent_typed,
            )  # fmt: skip
    time_line = [f"#time {spent_typed}"] if spent_typed else []
    try:
        await web.call(
            send, web, agent, ticket.id, text,
            template=template, note=form.kind == "note", uploads=form.uploads,
            commands=[
                *time_line,
                *(["#reply-linked"] if form.reply_linked and form.kind == "reply" else []),
            ],
        )  # fmt: skip
    except Refused as exc:
        return await render(
            request, ticket.id, 422, error=str(exc), text=text, template=template,
            time_spent=spent_typed,
        )  # fmt: skip
    web.on_mail()
    return redirect(f"/tickets/{web.label(ticket)}")


async def update(request: Request) -> Response:
    agent = require(request)
    web = web_of(request)
    ticket, live = await located(web, request)
    try:
        form = await checked_form(request)
    finally:
        await request.close()  # files nobody asked for
    if live.id != ticket.id:
        return await merged_away(request, ticket, live, "")
    now = await web.call(detail.controls, ticket.id, web.desk.fields)
    commands = control_commands(form, now, agent.email)
    if commands:
        try:
            await web.call(send, web, agent, ticket.id, "", commands=commands)
        except Refused as exc:
            return await render(request, ticket.id, 422, error=str(exc))
        web.on_mail()
    return redirect(f"/tickets/{web.label(ticket)}")


routes = [
    Route("/tickets/{label}", show, methods=["GET"]),
    Route("/tickets/{label}/messages/{id:int}/html", message_html, methods=["GET"]),
    Route("/tickets/{label}/messages/{id:int}/original", message_original, methods=["GET"]),
    Route("/attachments/{id:int}/{filename}", attachment, methods=["GET"]),
    Route("/tickets/{label}/reply", reply, methods=["POST"]),
    Route("/tickets/{label}/update", update, methods=["POST"]),
]
