"""The public help center: GET /kb/ (the default desk's) and /kb/d/DESK/ (another
desk's), the published articles by category with a search box.

No sign-in and no session, like the other customer pages. A search (`q`) goes to the
full-text index (`knowledge.catalog.searched`): the best matches first; a search
with no telling words lists every article. With several desks each has its own help
center, headed with its name, and each lists the others. Paths:

    /kb/                  the default desk's help center   /kb/SLUG          its article
    /kb/d/DESK/           another desk's help center       /kb/d/DESK/SLUG   its article
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from maildesk.knowledge import catalog
from maildesk.knowledge.suggest import query_words
from maildesk.settings.desks import DeskProfile, Desks
from maildesk.store.models import Article
from maildesk.web.context import Web, web_of

NO_HELP_CENTER = "There is no such help center."
QUERY_CHARS = 200


def kb_path(desks: Desks, desk: str, slug: str = "") -> str:
    """The path of a desk's help center, or of one of its articles."""
    if desk == desks.default.slug:
        return f"/kb/{slug}"
    return f"/kb/d/{desk}/{slug}"


def desk_of_path(web: Web, request: Request) -> DeskProfile:
    """The desk a /kb/d/{desk}/ path names (/kb/: the default desk); else 404."""
    slug = request.path_params.get("desk")
    if slug is None:
        return web.desks.default
    if not web.desks.known(slug):
        raise HTTPException(404, NO_HELP_CENTER)
    return web.desks.get(slug)


@dataclass(frozen=True)
class Listed:
    """An article in a list."""

    title: str
    path: str
    category: str
    updated: dt.datetime


@dataclass(frozen=True)
class Section:
    category: str  # "" for the articles without one
    articles: tuple[Listed, ...]


@dataclass(frozen=True)
class Center:
    """What the help center page shows."""

    desk: DeskProfile
    query: str
    searched: bool  # the query had words to search for
    sections: tuple[Section, ...]  # by category (no search), or one ranked section
    others: tuple[tuple[str, str], ...]  # the other desks' help centers: (name, path)


def listed(desks: Desks, article: Article) -> Listed:
    return Listed(
        article.title,
        kb_path(desks, article.desk, article.slug),
        article.category,
        article.updated_at,
    )


def by_category(items: Sequence[Listed]) -> tuple[Section, ...]:
    """Articles grouped by category, the named ones first (in order), then the rest."""
    found: dict[str, list[Listed]] = {}
    for item in items:
        found.setdefault(item.category, []).append(item)
    names = sorted((name for name in found if name), key=str.casefold)
    if "" in found:
        names.append("")
    return tuple(Section(name, tuple(found[name])) for name in names)


def center(web: Web, desk: DeskProfile, query: str) -> Center:
    """The help center of `desk`, searched for `query` (in the web's database threads)."""
    articles = catalog.searched(web.db, desk.slug, query)
    items = [listed(web.desks, a) for a in articles]
    searched = bool(query_words("", query))
    return Center(
        desk=desk,
        query=query,
        searched=searched,
        sections=(Section("", tuple(items)),) if searched else by_category(items),
        others=tuple(
            (other.name, kb_path(web.desks, other.slug))
            for other in web.desks.all
            if other.slug != desk.slug
        ),
    )


async def help_center(request: Request) -> Response:
    web = web_of(request)
    desk = desk_of_path(web, request)
    query = " ".join(request.query_params.get("q", "").split())[:QUERY_CHARS]
    view = await web.call(center, web, desk, query)
    return web.page(
        request,
        "kb_index.html",
        desk=desk,
        view=view,
        action=kb_path(web.desks, desk.slug),
    )


async def to_help_center(request: Request) -> Response:
    """/kb and /kb/d/DESK (without the slash): the help center's own path."""
    web = web_of(request)
    desk = desk_of_path(web, request)
    return RedirectResponse(kb_path(web.desks, desk.slug), status_code=308)


routes = [
    Route("/kb", to_help_center, methods=["GET"]),
    Route("/kb/", help_center, methods=["GET"]),
    Route("/kb/d/{desk}", to_help_center, methods=["GET"]),
    Route("/kb/d/{desk}/", help_center, methods=["GET"]),
]
