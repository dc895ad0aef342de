"""The knowledge base editor, /admin/kb: the articles of the desks one works (drafts
marked), a new article, an article's form with a preview, and deleting one.

Admins (every desk) and managers (their desks; another desk's article is not there
for them: 404). The form is checked by `knowledge.articles.draft`, as an imported
file is, and saved through `knowledge.catalog`, the one place that writes articles;
a problem is shown on the form (422) with what was typed. Preview renders the body
on the server with `knowledge.render.to_html` (the help center's renderer), so it
needs no script. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maildesk.core.vocabulary import KB_ROLES
from maildesk.knowledge import articles, catalog, render
from maildesk.knowledge.articles import ArticleError, Draft
from maildesk.settings.desks import DeskProfile
from maildesk.store.models import Agent, Article
from maildesk.web.context import Web, checked_form, redirect, require, text_field, web_of

PAGE = "/admin/kb"
PER_PAGE = 200
MAX_ID = 2**31 - 1  # article ids are 32-bit on PostgreSQL: anything larger is no article
FIELDS = ("title", "slug", "category", "tags", "desk", "published", "body")


@dataclass(frozen=True)
class Typed:
    """The form as typed (shown again with a problem or a preview)."""

    title: str = ""
    slug: str = ""
    category: str = ""
    tags: str = ""
    desk: str = ""
    published: bool = False
    body: str = ""

    @classmethod
    def of(cls, article: Article) -> Typed:
        return cls(
            article.title,
            article.slug,
            article.category,
            article.tags,
            article.desk,
            article.published,
            article.body,
        )

    @classmethod
    def read(cls, form: FormData) -> Typed:
        return cls(
            title=text_field(form, "title"),
            slug=text_field(form, "slug").strip(),
            category=text_field(form, "category"),
            tags=text_field(form, "tags"),
            desk=text_field(form, "desk"),
            published=text_field(form, "published") == "yes",
            body=text_field(form, "body").replace("\r\n", "\n"),
        )

    def draft(self) -> Draft:
        """The checked article (an empty slug is made from the title); ArticleError
        says what is wrong."""
        slug = self.slug or articles.slug_of(self.title)
        if not slug:
            if not self.title.strip():
                raise ArticleError("title: required")
            raise ArticleError("slug: the title has no letter or digit to make one of")
        return articles.draft(
            slug=slug,
            title=self.title,
            body=self.body,
            category=self.category,
            tags=articles.tag_words(self.tags),
            published=self.published,
            desk=self.desk or None,
        )


# -- who edits which desks ---------------------------------------------------------------


async def _editor(request: Request) -> tuple[Agent, Web, list[DeskProfile]]:
    """The signed-in admin or manager, the `Web`, and the desks whose articles they
    edit (a manager: the desks they work; an admin: every desk)."""
    agent = require(request, KB_ROLES)
    web = web_of(request)
    visible = await web.call(web.scope_of, agent)
    desks = [d for d in web.desks.all if visible is None or visible.has_desk(d.slug)]
    return agent, web, desks


def _slugs(desks: list[DeskProfile]) -> list[str]:
    return [d.slug for d in desks]


async def _article(web: Web, desks: list[DeskProfile], article_id: int) -> Article:
    """The article, if it is of one of `desks`; else 404."""
    if article_id > MAX_ID:
        raise HTTPException(404, "no such article")
    found = await web.call(Article.get_or_none, Article.id == article_id)
    if not isinstance(found, Article) or found.desk not in _slugs(desks):
        raise HTTPException(404, "no such article")
    return found


def _checked(typed: Typed, desks: list[DeskProfile]) -> Draft:
    draft = typed.draft()
    desk = draft.desk or desks[0].slug
    if desk not in _slugs(desks):
        raise ArticleError(f"desk: not one of your desks ({', '.join(_slugs(desks))})")
    return replace(draft, desk=desk)


# -- pages ---------------------------------------------------------------------------------


async def listing(request: Request) -> Response:
    _, web, desks = await _editor(request)
    chosen = request.query_params.get("desk", "")
    if chosen and chosen not in _slugs(desks):
        raise HTTPException(404, "no such desk")
    shown = [chosen] if chosen else _slugs(desks)
    total = await web.call(catalog.counted, shown)
    pages = max(1, math.ceil(total / PER_PAGE))
    page = _page_number(request.query_params.get("page", "1"), pages)
    found = await web.call(catalog.listed, shown, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return web.page(
        request,
        "admin_kb.html",
        active="kb",
        articles=found,
        total=total,
        page=page,
        pages=pages,
        desk_names={d.slug: d.name for d in desks},
        desk_choices=[(d.slug, d.name) for d in desks] if len(desks) > 1 else [],
        desk_chosen=chosen,
        notice=_flash(request),
    )


def _page_number(text: str, pages: int) -> int:
    return min(int(text), pages) if text.isdigit() and int(text) > 0 else 1


def _flash(request: Request) -> str:
    notice = request.session.pop("flash", "")
    return notice if isinstance(notice, str) else ""


def _form(
    request: Request,
    web: Web,
    desks: list[DeskProfile],
    typed: Typed,
    article: Article | None,
    *,
    error: str = "",
    preview: bool = False,
    status: int = 200,
) -> Response:
    """The article's form: blank (new), the stored article, or what was typed."""
    problem_field = error.split(":", 1)[0] if error else ""
    shown = Markup(render.to_html(typed.body)) if preview else None  # noqa: S704 (nh3-cleaned)
    return web.page(
        request,
        "admin_kb_article.html",
        status_code=status,
        active="kb",
        article=article,
        typed=typed,
        action=f"{PAGE}/{article.id}" if article else f"{PAGE}/new",
        desk_choices=[(d.slug, d.name) for d in desks],
        error=error,
        problem_field=problem_field if problem_field in FIELDS else "",
        preview=shown,
        notice=_flash(request),
    )


async def new_form(request: Request) -> Response:
    _, web, desks = await _editor(request)
    chosen = request.query_params.get("desk", "")
    typed = Typed(desk=chosen if chosen in _slugs(desks) else desks[0].slug)
    return _form(request, web, desks, typed, None)


async def edit_form(request: Request) -> Response:
    _, web, desks = await _editor(request)
    article = await _article(web, desks, request.path_params["article"])
    return _form(request, web, desks, Typed.of(article), article)


async def new_posted(request: Request) -> Response:
    _, web, desks = await _editor(request)
    form = await checked_form(request)
    typed = Typed.read(form)
    if "preview" in form:
        return _form(request, web, desks, typed, None, preview=True)
    try:
        draft = _checked(typed, desks)
        made = await web.call(catalog.create, web.db, draft, web.desks, web.clock())
    except ArticleError as exc:
        return _form(request, web, desks, typed, None, error=str(exc), status=422)
    web.desk.articles.forget()  # suggested from the next mail on
    request.session["flash"] = f"Created {_state(made)} {made.slug}."
    return redirect(f"{PAGE}/{made.id}")


async def edit_posted(request: Request) -> Response:
    _, web, desks = await _editor(request)
    article = await _article(web, desks, request.path_params["article"])
    form = await checked_form(request)
    typed = Typed.read(form)
    if "preview" in form:
        return _form(request, web, desks, typed, article, preview=True)
    try:
        draft = _checked(typed, desks)
        saved = await web.call(catalog.update, web.db, article.id, draft, web.desks, web.clock())
    except ArticleError as exc:
        return _form(request, web, desks, typed, article, error=str(exc), status=422)
    except catalog.NoArticle:
        raise HTTPException(404, "no such article (deleted meanwhile)") from None
    web.desk.articles.forget()
    request.session["flash"] = f"Saved {_state(saved)} {saved.slug}."
    return redirect(f"{PAGE}/{saved.id}")


def _state(article: Article) -> str:
    return "and published" if article.published else "draft"


async def delete_form(request: Request) -> Response:
    """Asks first: the article's votes and views go with it."""
    _, web, desks = await _editor(request)
    article = await _article(web, desks, request.path_params["article"])
    return web.page(request, "admin_kb_delete.html", active="kb", article=article)


async def delete_posted(request: Request) -> Response:
    _, web, desks = await _editor(request)
    article = await _article(web, desks, request.path_params["article"])
    await checked_form(request)
    try:
        gone = await web.call(catalog.delete, web.db, article.id)
    except catalog.NoArticle:
        raise HTTPException(404, "no such article (deleted meanwhile)") from None
    web.desk.articles.forget()
    request.session["flash"] = f"Deleted {gone.slug} ({gone.title})."
    return redirect(PAGE)


routes = [
    Route(PAGE, listing, methods=["GET"]),
    Route(f"{PAGE}/new", new_form, methods=["GET"]),
    Route(f"{PAGE}/new", new_posted, methods=["POST"]),
    Route(PAGE + "/{article:int}", edit_form, methods=["GET"]),
    Route(PAGE + "/{article:int}", edit_posted, methods=["POST"]),
    Route(PAGE + "/{article:int}/delete", delete_form, methods=["GET"]),
    Route(PAGE + "/{article:int}/delete", delete_posted, methods=["POST"]),
]
