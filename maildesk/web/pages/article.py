"""A help-center article: GET /kb/SLUG (the default desk's; /kb/d/DESK/SLUG another
desk's), and the answer to "Did this answer your question?" posted to the same path.

No sign-in and no session. The page shows a published article (a draft or an unknown
slug is 404) as safe HTML (`knowledge.render`), and counts one view per open.

The acknowledgement links a suggested article as `/kb/SLUG?ticket=SUP-00042&t=<token>`,
signed for one participant of that ticket and that article (`core.links.article_token`).
Such a link shows the article of the ticket's desk and asks whether it answered the
question: "Yes, close my request" resolves the request as self-served, "No" keeps it
open (`knowledge.feedback`). A link that is not one of ours (tampered, signed for
another ticket or article, a ticket that does not exist, a participant no longer on
it) shows the article without the question, and a post with it is 404. A plain
article page asks visitors too: their answer is kept per visitor, a hash of a
random cookie the page sets (HttpOnly, SameSite=Lax).

CSRF: the form token is an HMAC of the signed link (as on the status page), or of
the visitor's cookie. Answers are limited per client (`[kb] votes_per_hour`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.core import links
from maildesk.core.vocabulary import DONE_STATUSES
from maildesk.knowledge import catalog, feedback
from maildesk.knowledge.render import to_html
from maildesk.settings.desks import DeskProfile
from maildesk.store.models import Article, ArticleVote, Contact
from maildesk.web.context import Web, checked_form, find_ticket, redirect, web_of
from maildesk.web.links import NOT_FOUND, Link, viewer
from maildesk.web.pages.help_center import desk_of_path, kb_path
from maildesk.web.uploads import FORM_OVERHEAD, bounded

NO_ARTICLE = "There is no such article."
VISITOR_COOKIE = "maildesk_kb_visitor"
VISITOR_DAYS = 365
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{32,64}")
ANSWERS = {"yes": True, "no": False}
BAD_ANSWER = "Please answer yes or no."
# What the page says after an answer (`?answered=...`).
ANSWERED = {
    "closed": "Thank you. Your request {label} is now closed, and we have mailed you a "
    "confirmation. If you need more help, just reply to any of our mails.",
    "yes": "Thank you for telling us.",
    "no": "Thank you for telling us. Your request {label} stays open: we will answer you by mail.",
    "visitor": "Thank you for your feedback.",
}


@dataclass(frozen=True)
class TicketLink:
    """A checked suggestion link: the ticket it was made for, and whom for."""

    ticket_id: int
    desk: str  # the ticket's desk (slug)
    label: str
    token: str
    subject: str
    status: str
    person: Contact


@dataclass(frozen=True)
class Question:
    """The question "Did this answer your question?", as this reader is asked it."""

    link: TicketLink | None  # None: a visitor of the help center
    answer: bool | None  # what they answered before, if anything
    closable: bool  # "yes" resolves their request


@dataclass(frozen=True)
class ArticlePage:
    desk: DeskProfile
    article_id: int
    slug: str
    title: str
    category: str
    updated: dt.datetime
    html: Markup
    home: str  # the desk's help center
    question: Question | None  # None: not asked (a suggestion link that is not ours)


def link_params(request: Request) -> tuple[str, str] | None:
    """(label, token) of a suggestion link's `?ticket=...&t=...`; None without them."""
    query = request.query_params
    if "ticket" not in query and "t" not in query:
        return None
    return query.get("ticket", "")[:40], query.get("t", "")[:80]


def ticket_link(web: Web, slug: str, label: str, token: str) -> TicketLink | None:
    """The suggestion link of article `slug` for ticket `label`, if `token` is one we
    signed for them and the person it names is still on the ticket; else None."""
    number = web.desk.labels.find(label)
    shown = web.desks.read_label(label)
    if number is None or shown is None:
        return None
    holder = links.article_holder(web.secret, number, slug, token)
    ticket = find_ticket(number)
    if holder is None or ticket is None:
        return None
    try:
        person = viewer(Link(number, token.strip().lower(), shown, holder.contact_id))
    except HTTPException:
        return None
    return TicketLink(
        ticket.id, ticket.desk, shown, token.strip().lower(), ticket.subject, ticket.status, person
    )


def visitor_id(web: Web, cookie: str) -> str:
    """What is stored for a visitor: a hash of their cookie, never the cookie."""
    return hmac.new(web.secret, f"kb-visitor:{cookie}".encode(), hashlib.sha256).hexdigest()


def visitor_csrf(web: Web, cookie: str) -> str:
    return hmac.new(web.secret, f"kb-csrf:{cookie}".encode(), hashlib.sha256).hexdigest()[:32]


def visitor_cookie(request: Request) -> str | None:
    value = request.cookies.get(VISITOR_COOKIE, "")
    return value if _COOKIE_VALUE.fullmatch(value) else None


def article_of(
    web: Web, desk: DeskProfile, in_path: bool, slug: str, link: TicketLink | None
) -> tuple[Article, TicketLink | None]:
    """The published article a page shows, with the suggestion link that still holds:
    a link shows the article of its ticket's desk (in a /kb/d/DESK/ path, only when
    that is the desk); else the path's desk's. 404 for a draft or an unknown slug."""
    if link is not None and in_path and web.desks.get(link.desk).slug != desk.slug:
        link = None
    if link is not None:
        desk = web.desks.get(link.desk)
    article = catalog.find(desk.slug, slug)
    if article is None:
        raise HTTPException(404, NO_ARTICLE)
    return article, link


def open_article(
    web: Web,
    desk: DeskProfile,
    in_path: bool,
    slug: str,
    given: tuple[str, str] | None,
    visitor: str | None,
    now: dt.datetime | None,
) -> ArticlePage:
    """The article page (in the web's database threads); `now`: count the view then
    (None: not a new open, the page after an answer)."""
    link = None if given is None else ticket_link(web, slug, *given)
    article, link = article_of(web, desk, in_path, slug, link)
    if now is not None:
        feedback.count_view(web.db, article.id, now.astimezone(dt.UTC).date())
    question = None
    if link is not None:
        vote = ArticleVote.get_or_none(
            (ArticleVote.article == article.id) & (ArticleVote.ticket == link.ticket_id)
        )
        closable = link.status not in DONE_STATUSES
        question = Question(link, None if vote is None else vote.helpful, closable)
    elif given is None:
        vote = None
        if visitor is not None:
            vote = ArticleVote.get_or_none(
                (ArticleVote.article == article.id) & (ArticleVote.visitor == visitor)
            )
        question = Question(None, None if vote is None else vote.helpful, False)
    shown = web.desks.get(article.desk)
    return ArticlePage(
        desk=shown,
        article_id=article.id,
        slug=article.slug,
        title=article.title,
        category=article.category,
        updated=article.updated_at,
        html=Markup(to_html(article.body)),  # nh3's output: only what `render` allows
        home=kb_path(web.desks, shown.slug),
        question=question,
    )


def record_answer(
    web: Web,
    desk: DeskProfile,
    in_path: bool,
    slug: str,
    link: TicketLink | None,
    visitor: str | None,
    helpful: bool,
    now: dt.datetime,
) -> bool:
    """Keep the answer (in the web's database threads); True when it closed a request.
    A suggestion link that does not hold here is 404, as a link that is not ours."""
    article, held = article_of(web, desk, in_path, slug, link)
    if held is not None:
        return feedback.answer_for_ticket(
            web.desk, held.ticket_id, held.person, article, helpful, now
        )
    if link is not None or visitor is None:
        raise HTTPException(404, NOT_FOUND)
    feedback.answer_for_visitor(web.db, article.id, visitor, helpful, now)
    return False


def answered_notice(question: Question | None, answered: str) -> str:
    """What the page says after an answer (`?answered=...`), if that fits the page."""
    if question is None or answered not in ANSWERED:
        return ""
    link = question.link
    if (link is None) != (answered == "visitor"):
        return ""
    if answered == "closed" and question.closable:  # the request is open: not closed by this
        return ""
    return ANSWERED[answered].format(label=link.label if link else "")


# -- the handlers ---------------------------------------------------------------------


async def article_page(request: Request) -> Response:
    web = web_of(request)
    desk = desk_of_path(web, request)
    slug = request.path_params["slug"].lower()
    given = link_params(request)
    cookie = visitor_cookie(request)
    new_cookie = None
    if given is None and cookie is None:
        cookie = new_cookie = secrets.token_urlsafe(32)
    answered = request.query_params.get("answered", "")
    view = await web.call(
        open_article,
        web,
        desk,
        "desk" in request.path_params,
        slug,
        given,
        None if cookie is None else visitor_id(web, cookie),
        None if answered in ANSWERED else web.clock(),
    )
    question = view.question
    csrf = ""
    if question is not None:
        csrf = (
            web.customer_csrf(f"kb:{question.link.token}")
            if question.link is not None
            else visitor_csrf(web, cookie or "")
        )
    notice = answered_notice(question, answered)
    response = web.page(
        request,
        "kb_article.html",
        desk=view.desk,
        view=view,
        csrf=csrf,
        action=_here(request, given),
        notice=notice,
    )
    if new_cookie is not None:
        response.set_cookie(
            VISITOR_COOKIE,
            new_cookie,
            max_age=VISITOR_DAYS * 86400,
            path="/kb",
            httponly=True,
            samesite="lax",
            secure=web.secure_cookies,
        )
    return response


async def answer(request: Request) -> Response:
    web = web_of(request)
    desk = desk_of_path(web, request)
    slug = request.path_params["slug"].lower()
    given = link_params(request)
    link = None
    visitor = None
    async with bounded(request, FORM_OVERHEAD, "The form is too large.") as body:
        if given is not None:
            link = await web.call(ticket_link, web, slug, *given)
            if link is None:
                raise HTTPException(404, NOT_FOUND)
            expected = web.customer_csrf(f"kb:{link.token}")
        else:
            cookie = visitor_cookie(request)
            expected = "" if cookie is None else visitor_csrf(web, cookie)
            visitor = None if cookie is None else visitor_id(web, cookie)
        form = await checked_form(body, expected=expected)
    helpful = ANSWERS.get(str(form.get("answer", "")))
    if helpful is None:
        raise HTTPException(400, BAD_ANSWER)
    client = f"kb:{web.client(request)}"
    if not web.kb_vote_limit.take(client):
        wait = web.kb_vote_limit.retry_after(client)
        raise HTTPException(
            429, "Too many answers from here. Please try again later.", {"Retry-After": str(wait)}
        )
    in_path = "desk" in request.path_params
    closed = await web.call(
        record_answer, web, desk, in_path, slug, link, visitor, helpful, web.clock()
    )
    if closed:
        web.on_mail()
    outcome = "closed" if closed else ("yes" if helpful else "no")
    return redirect(_here(request, given, answered=outcome if link else "visitor") + "#answer")


def _here(request: Request, given: tuple[str, str] | None, **extra: str) -> str:
    """This page's path, with its suggestion link's parameters (and `extra`)."""
    params = {} if given is None else {"ticket": given[0], "t": given[1]}
    query = urlencode({**params, **extra})
    return request.url.path + (f"?{query}" if query else "")


routes = [
    Route("/kb/{slug}", article_page, methods=["GET"]),
    Route("/kb/{slug}", answer, methods=["POST"]),
    Route("/kb/d/{desk}/{slug}", article_page, methods=["GET"]),
    Route("/kb/d/{desk}/{slug}", answer, methods=["POST"]),
]
