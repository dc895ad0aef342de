"""The customer's answers to their request: GET and POST /t/SUP-00042/<token>/close,
/confirm (its resolution) and /reopen ("not solved").

The status page's buttons post here; the resolved notice links here, and a GET
only shows the question with a button to post it, so a mail scanner that opens
links never acts. Closing (or confirming) is `tickets.customer_close.decide`;
"not solved" with a message is mailed as the customer's reply whose first line says
so, and the pipeline reopens the ticket with their message (`actions.customer_reply`);
without one it is `decide` too. A second post does nothing and says where the request
stands. CSRF: the token bound to the link, as on the status page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from maildesk.core.customer_words import Wish
from maildesk.core.vocabulary import RESOLVED
from maildesk.tickets import customer_close
from maildesk.web import actions
from maildesk.web.actions import Refused
from maildesk.web.context import Web, checked_form, redirect, text_field, web_of
from maildesk.web.links import Link, link_of, linked_ticket, viewer
from maildesk.web.uploads import FORM_OVERHEAD, bounded

ACTIONS = ("close", "confirm", "reopen")
TEXT_CHARS = 20000


@dataclass(frozen=True)
class DecideView:
    label: str
    desk: str  # the ticket's desk (slug): its name heads the page
    subject: str
    action: str  # one of ACTIONS
    possible: bool  # the question still applies to the request as it stands


def decide_view(web: Web, link: Link, action: str) -> DecideView:
    ticket = linked_ticket(link)
    viewer(link)  # 404 unless the link's holder is still on the ticket
    if action == "reopen":
        possible = customer_close.may_reopen(ticket)
    elif action == "confirm":
        possible = customer_close.may_close(ticket) and ticket.status == RESOLVED
    else:
        possible = customer_close.may_close(ticket)
    return DecideView(web.label(ticket), ticket.desk, ticket.subject, action, possible)


def show_decide(
    request: Request, link: Link, view: DecideView, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    web = web_of(request)
    return web.page(
        request,
        "customer_decide.html",
        status_code,
        desk=web.desks.get(view.desk),
        csrf=web.customer_csrf(link.token),
        link=link,
        view=view,
        **({"error": "", "text": ""} | extra),
    )


async def decide_page(request: Request) -> Response:
    web = web_of(request)
    link = await link_of(web, request.path_params)
    view = await web.call(decide_view, web, link, action_of(request))
    return show_decide(request, link, view)


async def decide(request: Request) -> Response:
    web = web_of(request)
    link = await link_of(web, request.path_params)
    action = action_of(request)
    async with bounded(request, TEXT_CHARS * 4 + FORM_OVERHEAD, "The form is too large.") as body:
        form = await checked_form(body, expected=web.customer_csrf(link.token))
    text = text_field(form, "text").strip()
    view = await web.call(decide_view, web, link, action)
    if not view.possible:
        return redirect(f"{link.path}?done=unchanged")
    if len(text) > TEXT_CHARS:
        error = f"Please keep your message to {TEXT_CHARS} characters."
        return show_decide(request, link, view, 400, error=error, text=text)
    wish = Wish.REOPEN if action == "reopen" else Wish.CLOSE
    if wish is Wish.REOPEN and text:
        return await _reopen_with(request, web, link, view, text)
    ticket = await web.call(linked_ticket, link)
    person = await web.call(viewer, link)
    done = await web.call(customer_close.decide, web.desk, ticket.id, person, wish, web.clock())
    if not done:
        return redirect(f"{link.path}?done=unchanged")
    return redirect(f"{link.path}?done={'reopened' if wish is Wish.REOPEN else 'closed'}")


async def _reopen_with(
    request: Request, web: Web, link: Link, view: DecideView, text: str
) -> Response:
    """ "Not solved" with their message: mailed as their reply saying so, which the
    pipeline reads as it reads mail (`core.customer_words`)."""
    ticket = await web.call(linked_ticket, link)
    person = await web.call(viewer, link)
    said = f"not solved\n\n{text}"
    try:
        await web.call(actions.customer_reply, web, ticket, person, said)
    except Refused as exc:
        return show_decide(request, link, view, 422, error=str(exc), text=text)
    web.on_mail()
    return redirect(f"{link.path}?done=reopened")


def action_of(request: Request) -> str:
    """The answer a path asks for: its last part, one of ACTIONS (as routed)."""
    return request.url.path.rstrip("/").rsplit("/", 1)[-1]


routes = [
    route
    for action in ACTIONS
    for route in (
        Route(f"/t/{{label}}/{{token}}/{action}", decide_page, methods=["GET"]),
        Route(f"/t/{{label}}/{{token}}/{action}", decide, methods=["POST"]),
    )
]
