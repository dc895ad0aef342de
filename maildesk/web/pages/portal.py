"""The customer portal, "My requests": /portal, signed in by a link sent by mail.

No passwords. A customer gives their address on /portal and gets a sign-in link by
mail (`portal_auth`, `outbound.portal_mail`): the page answers the same, in the same
time, whether the address is known or not, because the lookup and the mail happen
after the answer is sent (a background task); unknown addresses get no mail. Links
asked for are limited per address and per client (429).

The link (/portal/in/<link>) shows a confirm button first: mail scanners that fetch
links do not spend it. Confirming starts a portal session in its own cookie (path
/portal, HttpOnly, SameSite=Lax, Secure on https), apart from agents' sign-ins.

Signed in, the customer sees their tickets (`queries.portal`) with status filters
and a search, each ticket's public thread (as the status page shows it) with a reply
box (their reply becomes mail through `actions`, as if mailed; on a colleague's
ticket, shared by the organization, they read only), "New request" (/submit filled
in), sign out and sign out everywhere. Every POST carries a CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from maildesk.core.addresses import deliverable_address
from maildesk.core.message import parse_typed_address
from maildesk.queries import portal as queries
from maildesk.store.models import Contact, Ticket
from maildesk.web import actions, portal_auth
from maildesk.web.actions import Refused
from maildesk.web.context import Web, checked_form, redirect, text_field, web_of
from maildesk.web.pages.status import (
    SENT,
    STATUS_WORDS,
    Entry,
    agent_names,
    entry,
    files_of,
    public_messages,
    reply_hint,
    when,
)

COOKIE = "maildesk_portal"
PATH = "/portal"
FORM_SALT = "maildesk-portal-link"
FORM_MAX_AGE = 3600
NOT_FOUND = "There is no such request among yours."


# -- who is signed in -------------------------------------------------------------------


def session_id(request: Request) -> str | None:
    sid = request.cookies.get(COOKIE)
    return sid if isinstance(sid, str) and 20 <= len(sid) <= 100 else None


async def customer(request: Request) -> Contact | None:
    sid = session_id(request)
    if sid is None:
        return None
    web = web_of(request)
    return await web.call(portal_auth.contact_of, web.db, sid, web.clock())


async def require_customer(request: Request) -> tuple[Contact, str]:
    """The signed-in customer and their session id; else back to /portal (303)."""
    person = await customer(request)
    sid = session_id(request)
    if person is None or sid is None:
        raise HTTPException(303, headers={"Location": PATH})
    return person, sid


def session_csrf(web: Web, sid: str) -> str:
    return hmac.new(web.secret, f"portal:{sid}".encode(), hashlib.sha256).hexdigest()[:32]


def link_csrf(web: Web, link: str) -> str:
    return hmac.new(web.secret, f"portal-in:{link}".encode(), hashlib.sha256).hexdigest()[:32]


def form_signer(web: Web) -> TimestampSigner:
    return TimestampSigner(web.secret, salt=FORM_SALT)


def form_token_ok(web: Web, token: object) -> bool:
    if not isinstance(token, str) or not token.isascii():
        return False
    try:
        return form_signer(web).unsign(token, max_age=FORM_MAX_AGE) == b"portal"
    except (BadSignature, SignatureExpired):
        return False


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    web = web_of(request)
    context.setdefault("csrf", "")
    context.setdefault("person", None)
    return web.page(request, name, status_code, **context)


# -- asking for a link --------------------------------------------------------------------


def sign_in_form(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    web = web_of(request)
    context = {"error": "", "email": "", "refusal": ""} | context
    token = form_signer(web).sign(b"portal").decode()
    return page(request, "portal_signin.html", status_code, csrf=token, **context)


async def home(request: Request) -> Response:
    person = await customer(request)
    if person is None:
        return sign_in_form(request)
    return await ticket_list(request, person)


async def ask_link(request: Request) -> Response:
    web = web_of(request)
    form = await request.form()
    email = text_field(form, "email").strip()
    if not form_token_ok(web, form.get("csrf")):
        return sign_in_form(
            request, 403, error="This form was open too long. Please send it again.", email=email
        )
    typed = parse_typed_address(email)
    address = None if typed is None else deliverable_address(typed.email)
    if address is None:
        return sign_in_form(
            request, 422, error="Please give the e-mail address you write to us from.", email=email
        )
    client = web.client(request)
    # Counted for every address, known or not: the limit says nothing about which exist.
    if not web.portal_client_limit.take(f"client:{client}"):
        return too_many(request, web.portal_client_limit.retry_after(f"client:{client}"))
    if not web.portal_address_limit.take(f"email:{address}"):
        web.portal_client_limit.give_back(f"client:{client}")
        return too_many(request, web.portal_address_limit.retry_after(f"email:{address}"))
    task = BackgroundTask(send_link, web, address, client)
    response = page(request, "portal_sent.html", email=address)
    response.background = task
    return response


async def send_link(web: Web, address: str, client: str) -> None:
    """After the answer: the lookup, and the mail if the address is a contact's."""
    minutes = web.config.web.portal_link_minutes
    url_of = portal_auth.UrlOf(web.config.desk.base_url)
    queued = await web.call(
        portal_auth.request_link,
        web.db,
        web.desk.mailer,
        address,
        client,
        web.clock(),
        minutes,
        url_of,
    )
    if queued:
        web.on_mail()


def too_many(request: Request, wait: int) -> Response:
    minutes = max(1, (wait + 59) // 60)
    response = page(request, "portal_limit.html", 429, minutes=minutes)
    response.headers["retry-after"] = str(wait)
    return response


# -- the link -------------------------------------------------------------------------


def refused(request: Request, why: portal_auth.Refusal) -> HTMLResponse:
    status = 404 if why is portal_auth.Refusal.UNKNOWN else 410
    return sign_in_form(request, status, refusal=str(why))


async def link_page(request: Request) -> Response:
    web = web_of(request)
    link = request.path_params["link"]
    state = await web.call(portal_auth.check_link, link, web.clock())
    if state.refusal is not None:
        return refused(request, state.refusal)
    return page(request, "portal_confirm.html", csrf=link_csrf(web, link), link=link)


async def confirm(request: Request) -> Response:
    web = web_of(request)
    link = request.path_params["link"]
    await checked_form(request, expected=link_csrf(web, link))
    hours = web.config.web.portal_session_hours
    sid, why = await web.call(portal_auth.sign_in, web.db, link, web.clock(), hours)
    if sid is None:
        return refused(request, why or portal_auth.Refusal.UNKNOWN)
    response = redirect(PATH)
    response.set_cookie(
        COOKIE,
        sid,
        max_age=hours * 3600,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=web.secure_cookies,
    )
    return response


# -- the list and a ticket ---------------------------------------------------------------


async def ticket_list(request: Request, person: Contact) -> Response:
    web = web_of(request)
    sid = session_id(request) or ""
    status = request.query_params.get("status", queries.DEFAULT_FILTER)
    if status not in queries.FILTERS:
        status = queries.DEFAULT_FILTER
    search = request.query_params.get("q", "")[:200]
    tickets = await web.call(queries.portal_tickets, person, status, search, web.label)
    return page(
        request,
        "portal.html",
        csrf=session_csrf(web, sid),
        person=person,
        tickets=tickets,
        status=status,
        filters=list(queries.FILTERS),
        search=search,
        status_words=STATUS_WORDS,
        when=when,
    )


def thread(web: Web, ticket: Ticket) -> list[Entry]:
    messages = public_messages(ticket)
    files = files_of(messages)
    desk = web.desk.desk_of(ticket)
    names = agent_names(web, messages, desk.name)
    return [entry(web, m, files.get(m.id, []), names, desk.name) for m in messages]


def ticket_view(web: Web, person: Contact, label: str) -> dict[str, Any]:
    number = web.desk.labels.find(label)
    found = None if number is None else queries.portal_ticket(person, number)
    if found is None:
        raise HTTPException(404, NOT_FOUND)
    ticket, mine = found
    return {
        "ticket": ticket,
        "label": web.label(ticket),
        "mine": mine,
        "entries": thread(web, ticket),
        "status_text": STATUS_WORDS.get(ticket.status, ticket.status),
        "created": when(ticket.created_at),
        "hint": reply_hint(web, ticket, web.clock()),
    }


async def ticket_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    web = web_of(request)
    person, sid = await require_customer(request)
    view = await web.call(ticket_view, web, person, request.path_params["label"])
    if view["label"] != request.path_params["label"]:  # merged: its survivor's page
        return redirect(f"{PATH}/t/{view['label']}")
    notice = SENT.get(request.query_params.get("sent", ""), "")
    context = {"notice": notice, "error": "", "text": ""} | context
    csrf = session_csrf(web, sid)
    return page(
        request, "portal_ticket.html", status_code, csrf=csrf, person=person, **view, **context
    )


def reply_as(web: Web, person: Contact, label: str, text: str) -> actions.Outcome:
    view = ticket_view(web, person, label)
    ticket = view["ticket"]
    writer = queries.participant_row(person, ticket) if view["mine"] else None
    if writer is None:
        raise Refused("only the people on this request can write into it")
    return actions.customer_reply(web, ticket, writer, text)


async def reply(request: Request) -> Response:
    web = web_of(request)
    person, sid = await require_customer(request)
    label = request.path_params["label"]
    form = await checked_form(request, expected=session_csrf(web, sid))
    text = text_field(form, "text")
    try:
        outcome = await web.call(reply_as, web, person, label, text)
    except Refused as exc:
        return await ticket_page(request, 422, error=str(exc), text=text)
    web.on_mail()
    same = outcome.ticket in (None, label)
    return redirect(f"{PATH}/t/{label}?sent={'1' if same else 'new'}")


# -- signing out ----------------------------------------------------------------------


def signed_out() -> Response:
    response = redirect(PATH)
    response.delete_cookie(COOKIE, path=PATH)
    return response


async def logout(request: Request) -> Response:
    web = web_of(request)
    sid = session_id(request)
    if sid is not None:
        await checked_form(request, expected=session_csrf(web, sid))
        await web.call(portal_auth.end, web.db, sid, web.clock())
    return signed_out()


async def logout_everywhere(request: Request) -> Response:
    web = web_of(request)
    person, sid = await require_customer(request)
    await checked_form(request, expected=session_csrf(web, sid))
    await web.call(portal_auth.end_all, web.db, person.id, web.clock())
    return signed_out()


routes = [
    Route(PATH, home, methods=["GET"]),
    Route(f"{PATH}/link", ask_link, methods=["POST"]),
    Route(f"{PATH}/in/{{link}}", link_page, methods=["GET"]),
    Route(f"{PATH}/in/{{link}}", confirm, methods=["POST"]),
    Route(f"{PATH}/t/{{label}}", ticket_page, methods=["GET"]),
    Route(f"{PATH}/t/{{label}}/reply", reply, methods=["POST"]),
    Route(f"{PATH}/logout", logout, methods=["POST"]),
    Route(f"{PATH}/logout/everywhere", logout_everywhere, methods=["POST"]),
]
