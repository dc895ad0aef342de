"""The articles in the database: imported and exported as files, written on the web
(/admin/kb), listed, found by slug, searched for on the help center, and suggested
for a mail.

This is the one place that writes articles: `save` (an import), `create`, `update`
and `delete` (the editor). Articles belong to a desk (`article.desk`, its slug); a
slug names one article of a desk. Importing is idempotent: an article of the same
desk and slug is updated (its `updated_at` moves only when something changed), a new
one created; nothing is ever deleted by an import.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from maildesk.knowledge.articles import ArticleError, Draft
from maildesk.knowledge.index import STAMP, ArticleIndex, Entry
from maildesk.knowledge.suggest import query_words
from maildesk.queries.serialize import iso
from maildesk.settings.desks import Desks, Scope
from maildesk.store import search
from maildesk.store.db import write_transaction
from maildesk.store.models import Article, KeyValue

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
            try:
                desk = _desk_of(draft, desks)
            except ArticleError as exc:
                raise ArticleError(f"{draft.slug}: {exc}") from None
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
        if done.created or done.updated:
            _stamp()
    return done


class NoArticle(LookupError):
    """No article has that id (deleted meanwhile, or never there)."""


def create(db: peewee.Database, draft: Draft, desks: Desks, now: dt.datetime) -> Article:
    """A new article (the editor's); its slug must be free in its desk."""
    with write_transaction(db):
        desk = _desk_of(draft, desks)
        _slug_free(desk, draft.slug, None)
        made: Article = _stored(
            lambda: Article.create(
                desk=desk, slug=draft.slug, created_at=now, updated_at=now, **_values(draft)
            ),
            desk,
            draft.slug,
        )
        _stamp()
        return made


def update(
    db: peewee.Database, article_id: int, draft: Draft, desks: Desks, now: dt.datetime
) -> Article:
    """The article with its values (slug and desk included) replaced by `draft`'s;
    `updated_at` moves only when something changed. NoArticle when it is gone."""
    with write_transaction(db):
        article = Article.get_or_none(Article.id == article_id)
        if article is None:
            raise NoArticle(article_id)
        desk = _desk_of(draft, desks)
        _slug_free(desk, draft.slug, article.id)
        values = {"desk": desk, "slug": draft.slug, **_values(draft)}
        if any(getattr(article, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(article, name, value)
            article.updated_at = now
            _stored(article.save, desk, draft.slug)
            _stamp()
        return article


def delete(db: peewee.Database, article_id: int) -> Article:
    """Delete the article (its votes and views go with it); NoArticle when it is gone.
    The events that named it (suggestions, links) keep its slug."""
    with write_transaction(db):
        article = Article.get_or_none(Article.id == article_id)
        if article is None:
            raise NoArticle(article_id)
        article.delete_instance()
        _stamp()
        return article


def _stamp() -> None:
    """The articles changed: `knowledge.index` reads them again (in the writer's
    transaction, so the stamp moves exactly when the articles do)."""
    token = secrets.token_hex(8)
    KeyValue.insert(name=STAMP, value=token).on_conflict(
        conflict_target=[KeyValue.name], update={KeyValue.value: token}
    ).execute()


def _desk_of(draft: Draft, desks: Desks) -> str:
    desk = draft.desk or desks.default.slug
    if not desks.known(desk):
        raise ArticleError(f"desk: no desk {desk!r} (desks: {', '.join(desks.slugs)})")
    return desk


def _slug_free(desk: str, slug: str, article_id: int | None) -> None:
    other = find(desk, slug, published_only=False)
    if other is not None and other.id != article_id:
        raise ArticleError(f"slug: {slug!r} is another article's in desk {desk!r}")


def _stored(write: Callable[[], Any], desk: str, slug: str) -> Any:
    """`write()`; the unique (desk, slug) index refusing it (another writer took the
    slug meanwhile) is the same ArticleError as when the check saw it."""
    try:
        return write()
    except peewee.IntegrityError:
        raise ArticleError(f"slug: {slug!r} is another article's in desk {desk!r}") from None


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


def listed(
    desks: Sequence[str] | None = None,
    *,
    published_only: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[Article]:
    """Articles by desk, category and title (`desks`: of these only; `limit` and
    `offset`: one page of them)."""
    query = _of(desks, published_only).order_by(
        Article.desk, Article.category, Article.title, Article.id
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(query)


def counted(desks: Sequence[str] | None = None, *, published_only: bool = False) -> int:
    """How many articles `listed` lists."""
    return int(_of(desks, published_only).count())


def _of(desks: Sequence[str] | None, published_only: bool) -> peewee.ModelSelect[Article]:
    query = Article.select()
    if desks is not None:
        query = query.where(Article.desk.in_(list(desks)))
    if published_only:
        query = query.where(Article.published == True)  # noqa: E712
    return query


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
        pairs = list(itertools.combinations(words, 2))
        ids = search.articles(db, pairs, (desk,), limit)
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
    index: ArticleIndex,
    desk: str,
    default: str,
    subject: str,
    text: str,
    count: int,
    min_words: int,
) -> list[Entry]:
    """Up to `count` published articles of the desk that match the mail well enough
    (`knowledge.suggest`), best first."""
    if count <= 0:
        return []
    stored = Scope((desk,), default).stored or (desk,)
    return index.suggested(db, query_words(subject, text), stored, min_words, count)
