"""The customer's satisfaction page: GET and POST /t/SUP-00042/<token>/rate.

Opened from the status link (`links`) once the ticket is resolved or closed; a
score of 1 to 5 and a comment, changeable for `RATING_DAYS` after it was first
given. Saving it is one write transaction with a `satisfaction_rated` event in the
ticket's log, written like every other event (`repo.record_events`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Satisfaction
from maildesk.tickets.escalation import event_collector
from maildesk.web.context import Web, checked_form, redirect, text_field, web_of
from maildesk.web.links import Link, link_of, linked_ticket, viewer
from maildesk.web.pages.status import RATEABLE, when
from maildesk.web.uploads import FORM_OVERHEAD, bounded

RATING_DAYS = 7
COMMENT_CHARS = 4000
BAD_RATING = (
    f"Please choose a score from 1 to 5 (and keep a comment to {COMMENT_CHARS} characters)."
)
SCORES = {1: "Very poor", 2: "Poor", 3: "OK", 4: "Good", 5: "Excellent"}


@dataclass(frozen=True)
class RatingView:
    label: str
    desk: str  # the ticket's desk (slug): its name heads the page
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
        label=web.label(ticket),
        desk=ticket.desk,
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
        events: list[dict[str, Any]] = []
        log = event_collector(events, now)
        log(ticket, viewer(link).email, "satisfaction_rated", data)  # whom the link is for
        repo.record_events(events)


def parse_score(value: object) -> int | None:
    text = value.strip() if isinstance(value, str) else ""
    return int(text) if text.isascii() and text.isdigit() and int(text) in SCORES else None


# -- the handlers ---------------------------------------------------------------------


def show_rating(
    request: Request, link: Link, view: RatingView, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    web = web_of(request)
    context = {"notice": "", "error": "", "picked": view.score, "comment": view.comment}
    return web.page(
        request,
        "rate.html",
        status_code,
        desk=web.desks.get(view.desk),
        csrf=web.customer_csrf(link.token),
        link=link,
        view=view,
        scores=SCORES,
        comment_chars=COMMENT_CHARS,
        rating_days=RATING_DAYS,
        **(context | extra),
    )


async def rate_page(request: Request) -> Response:
    web = web_of(request)
    link = await link_of(web, request.path_params)
    view = await web.call(rating_view, web, link, web.clock())
    notice = "Thank you for your rating." if request.query_params.get("saved") else ""
    picked = parse_score(request.query_params.get("score")) or view.score
    return show_rating(request, link, view, notice=notice, picked=picked)


async def rate(request: Request) -> Response:
    web = web_of(request)
    link = await link_of(web, request.path_params)
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


routes = [
    Route("/t/{label}/{token}/rate", rate_page, methods=["GET"]),
    Route("/t/{label}/{token}/rate", rate, methods=["POST"]),
]
