"""The articles in the database: imported and exported as files, listed, found by
slug, searched for on the help center, and suggested for a mail.

Articles belong to a desk (`article.desk`, its slug); a slug names one article of a
desk. Importing is idempotent: an article of the same desk and slug is updated (its
`updated_at` moves only when something changed), a new one created; nothing is ever
deleted by an import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from maildesk.knowledge.articles import ArticleError, Draft
from maildesk.knowledge.suggest import groups, query_words
from maildesk.queries.serialize import iso
from maildesk.settings.desks import Desks, Scope
from maildesk.store import search
from maildesk.store.db import write_transaction
from maildesk.store.models import Article

_FIELDS = ("title", "body", "category", "tags", "published")
SEARCH_LIMIT = 50  # the most articles one help-center search shows


@dataclass
class Imported:
    """What an import did, by slug."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def save(db: peewee.Database, drafts: Iterable[Draft], desks: Desks, now: dt.datetime) -> Imported:
    """Create or update each article (by desk and slug), all in one transaction; an
    unknown desk is an ArticleError and nothing is saved."""
    done = Imported()
    with write_transaction(db):
        for draft in drafts:
            desk = draft.desk or desks.default.slug
            if not desks.known(desk):
                known = ", ".join(desks.slugs)
                raise ArticleError(f"{draft.slug}: no desk {desk!r} (desks: {known})")
            values = _values(draft)
            article = find(desk, draft.slug, published_only=False)
            if article is None:
                Article.create(desk=desk, slug=draft.slug, created_at=now, updated_at=now, **values)
                done.created.append(draft.slug)
            elif any(getattr(article, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(article, name, value)
                article.updated_at = now
                article.save()
                done.updated.append(draft.slug)
            else:
                done.unchanged.append(draft.slug)
    return done


def _values(draft: Draft) -> dict[str, Any]:
    return {
        "title": draft.title,
        "body": draft.body,
        "category": draft.category,
        "tags": " ".join(draft.tags),
        "published": draft.published,
    }


def find(desk: str, slug: str, *, published_only: bool = True) -> Article | None:
    query = Article.select().where((Article.desk == desk) & (Article.slug == slug.lower()))
    if published_only:
        query = query.where(Article.published == True)  # noqa: E712
    return query.first()


def listed(desks: Sequence[str] | None = None, *, published_only: bool = False) -> list[Article]:
    """Articles by desk, category and title (`desks`: of these only)."""
    query = Article.select()
    if desks is not None:
        query = query.where(Article.desk.in_(list(desks)))
    if published_only:
        query = query.where(Article.published == True)  # noqa: E712
    return list(query.order_by(Article.desk, Article.category, Article.title, Article.id))


def searched(db: peewee.Database, desk: str, text: str, limit: int = SEARCH_LIMIT) -> list[Article]:
    """The help center's search: the published articles of the desk that hold every
    telling word of `text` (`knowledge.suggest.query_words`), best ranked first; when
    none holds them all, those holding any two of them. Every published article of
    the desk (by category and title) when `text` has no telling words."""
    words = query_words("", text)
    if not words:
        return listed([desk], published_only=True)
    ids = search.articles(db, [tuple(words)], (desk,), limit)
    if not ids and len(words) > 2:
        ids = search.articles(db, groups(words, 2), (desk,), limit)
    return _in_order(ids)


def _in_order(ids: list[int]) -> list[Article]:
    if not ids:
        return []
    found = {a.id: a for a in Article.select().where(Article.id.in_(ids))}
    return [found[i] for i in ids if i in found]


def as_draft(article: Article) -> Draft:
    return Draft(
        slug=article.slug,
        title=article.title,
        body=article.body,
        category=article.category,
        tags=tuple(article.tags.split()),
        published=article.published,
        desk=article.desk,
    )


def summary(article: Article) -> dict[str, Any]:
    """An article in `kb list --json`."""
    return {
        "slug": article.slug,
        "title": article.title,
        "desk": article.desk,
        "category": article.category,
        "tags": article.tags.split(),
        "published": article.published,
        "created_at": iso(article.created_at),
        "updated_at": iso(article.updated_at),
    }


def suggested(
    db: peewee.Database,
    desk: str,
    default: str,
    subject: str,
    text: str,
    count: int,
    min_words: int,
) -> list[Article]:
    """Up to `count` published articles of the desk that match the mail well enough
    (`knowledge.suggest`), best first."""
    if count <= 0:
        return []
    chosen = groups(query_words(subject, text), min_words)
    stored = Scope((desk,), default).stored or (desk,)
    return _in_order(search.articles(db, chosen, stored, count))
