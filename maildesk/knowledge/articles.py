"""Articles as files: Markdown with a front-matter header, read for `maildesk kb
import` and written by `maildesk kb export`.

    ---
    title: Resetting your password
    slug: reset-password
    category: Accounts
    tags: [login, password]
    published: true
    ---
    Open **Settings**, then ...

`title` is required; `slug` defaults to the file's name (`reset-password.md`);
`published` to false (a draft is not shown to customers). The header is YAML, read
with the safe loader. Pure: text in, values out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import frontmatter
import yaml

from maildesk.core.commands import ARTICLE_SLUG

TAG = re.compile(r"[\w][\w.-]{0,49}")
MAX_TITLE = 200
MAX_BODY = 200_000
KEYS = ("title", "slug", "category", "tags", "published", "desk")


class ArticleError(ValueError):
    """An article file or value that cannot be taken; the message says what is wrong."""


@dataclass(frozen=True)
class Draft:
    """An article's values, checked."""

    slug: str
    title: str
    body: str
    category: str = ""
    tags: tuple[str, ...] = ()
    published: bool = False
    desk: str | None = None  # the desk's slug a file names (None: the importer's choice)


def read(text: str, name: str) -> Draft:
    """The article in `text` (a Markdown file's contents); `name`: the file's name
    without `.md`, the slug when the header gives none."""
    try:
        post = frontmatter.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise ArticleError(f"front matter is not valid YAML: {exc}") from None
    meta: dict[str, Any] = dict(post.metadata)
    unknown = sorted(set(meta) - set(KEYS))
    if unknown:
        raise ArticleError(f"unknown front-matter key {unknown[0]!r} (keys: {', '.join(KEYS)})")
    return draft(
        slug=_text(meta.get("slug", name), "slug"),
        title=_text(meta.get("title"), "title"),
        body=post.content,
        category=_text(meta.get("category", ""), "category"),
        tags=_tags(meta.get("tags", ())),
        published=_flag(meta.get("published", False)),
        desk=None if meta.get("desk") is None else _text(meta["desk"], "desk"),
    )


def draft(
    *,
    slug: str,
    title: str,
    body: str,
    category: str = "",
    tags: tuple[str, ...] = (),
    published: bool = False,
    desk: str | None = None,
) -> Draft:
    """A checked `Draft` (for files, the web form and the API alike)."""
    slug = slug.strip().lower()
    if not ARTICLE_SLUG.fullmatch(slug):
        raise ArticleError(
            f"slug: 1-100 lower-case letters, digits or '-', starting with a letter or digit, "
            f"got {slug[:40]!r}"
        )
    title = " ".join(title.split())
    if not title:
        raise ArticleError("title: required")
    if len(title) > MAX_TITLE:
        raise ArticleError(f"title: at most {MAX_TITLE} characters")
    if len(body) > MAX_BODY:
        raise ArticleError(f"body: at most {MAX_BODY} characters")
    for tag in tags:
        if not TAG.fullmatch(tag):
            raise ArticleError(f"tags: {tag[:40]!r} is not one word")
    category = " ".join(category.split())
    if len(category) > 100:
        raise ArticleError("category: at most 100 characters")
    return Draft(
        slug, title, body.strip() + "\n", category, tuple(dict.fromkeys(tags)), published, desk
    )


def slug_of(title: str) -> str:
    """A slug made from a title (`Printer shows error E42` -> `printer-shows-error-e42`),
    for a form that leaves the slug empty; "" when the title has no letter or digit."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:100].rstrip("-")


def tag_words(text: str) -> tuple[str, ...]:
    """The tags typed in one line, separated by spaces or commas."""
    return tuple(text.replace(",", " ").split())


def write(article: Draft) -> str:
    """The article as a Markdown file with its header (what `read` reads back)."""
    meta: dict[str, Any] = {"title": article.title, "slug": article.slug}
    if article.category:
        meta["category"] = article.category
    if article.tags:
        meta["tags"] = list(article.tags)
    meta["published"] = article.published
    if article.desk:
        meta["desk"] = article.desk
    post = frontmatter.Post(article.body.rstrip("\n"), **meta)
    return frontmatter.dumps(post, sort_keys=False) + "\n"


def _text(value: Any, key: str) -> str:
    if value is None:
        raise ArticleError(f"{key}: required")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ArticleError(f"{key}: expected text")
    return str(value)


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tag_words(value)
    if value is None:
        return ()
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ArticleError("tags: a list of words")


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ArticleError("published: true or false")
    return value
