"""Full-text search over messages: which tickets mention some words; and over the
knowledge base's articles: which hold a word.

SQLite: the FTS5 table `message_fts` (migration 0005); PostgreSQL: the GIN index on
the same text as a tsvector. Both match whole words, all of them, in the subject,
the sender's name and address, or the body. The newest `limit` matching messages
decide, so a search costs what it finds, not what the database holds. Articles:
`article_fts` (FTS5, Porter stemmer) and the GIN index `article_search` (English)
(migration 0016), one word at a time, for `knowledge.index`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import peewee

from maildesk.store.db import is_postgres

WORDS = re.compile(r"\w[\w@.+'-]*\w|\w", re.UNICODE)
PG_DOCUMENT = (
    "to_tsvector('simple', \"subject\" || ' ' || \"from_name\" || ' ' || \"from_email\""
    " || ' ' || \"body_text\")"
)


# What the GIN index `article_search` is on (migrations/0016_knowledge_base.py); the
# suggestions read, per word, the articles holding it (`knowledge.index`).
ARTICLE_DOCUMENT = "to_tsvector('english', \"title\" || ' ' || \"tags\" || ' ' || \"body\")"
# What the GIN index `article_title_search` is on (migrations/0018_kb_admin.py).
ARTICLE_TITLE = "to_tsvector('english', \"title\" || ' ' || \"tags\")"


def words(text: str) -> list[str]:
    """The words of a search, as the user typed them (operators and quotes dropped)."""
    return WORDS.findall(text)


def ticket_ids(db: peewee.Database, text: str, limit: int = 2000) -> list[int]:
    """Ids of the tickets whose messages hold every word of `text`, the ticket with the
    newest match first; [] when `text` has no words."""
    found = words(text)
    if not found:
        return []
    if is_postgres(db):
        sql = (
            f'SELECT "ticket_id" FROM "message" WHERE {PG_DOCUMENT} '
            "@@ plainto_tsquery('simple', %s) ORDER BY \"id\" DESC LIMIT %s"
        )
        params: tuple[object, ...] = (" ".join(found), limit)
    else:
        query = " ".join('"' + w.replace('"', "") + '"' for w in found)
        sql = (
            'SELECT "m"."ticket_id" FROM "message_fts" JOIN "message" AS "m" '
            'ON "m"."id" = "message_fts"."rowid" WHERE "message_fts" MATCH ? '
            'ORDER BY "message_fts"."rowid" DESC LIMIT ?'
        )
        params = (query, limit)
    seen: dict[int, None] = {}
    for (ticket_id,) in _run(db, sql, params):
        seen.setdefault(ticket_id, None)
    return list(seen)


def _run(db: peewee.Database, sql: str, params: tuple[object, ...]) -> list[tuple[int]]:
    if not is_postgres(db):
        return list(db.execute_sql(sql, params))
    # PostgreSQL's estimate for a rare word is far too high on a big message table, and
    # it starts parallel workers that cost more than the search (ms vs 0.1 ms).
    with db.atomic():
        db.execute_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        return list(db.execute_sql(sql, params))


def article_postings(
    db: peewee.Database, words: Sequence[str], limit: int
) -> dict[str, tuple[list[int], list[int]]]:
    """For each of `words` (letters and digits, `knowledge.suggest`): the ids of up to
    `limit` articles holding it as the full-text index reads it (English stemming;
    drafts and every desk's included), and of those the ones holding it in their
    title or tags. One statement for all of them."""
    if not words:
        return {}
    if is_postgres(db):
        anywhere = f'SELECT "id" FROM "article" WHERE {ARTICLE_DOCUMENT} @@ {_PG_WORD} LIMIT %s'
        titled = f'SELECT "id" FROM "article" WHERE {ARTICLE_TITLE} @@ {_PG_WORD} LIMIT %s'
        part = (
            f'SELECT %s, "id", NULL::int FROM ({anywhere}) AS "a" '
            f'UNION ALL SELECT %s, "id", 1 FROM ({titled}) AS "t"'
        )
        params: list[object] = []
        for n, word in enumerate(words):
            params += [n, word, limit, n, word, limit]
    else:
        match = 'SELECT "rowid" AS "id" FROM "article_fts" WHERE "article_fts" MATCH ? LIMIT ?'
        part = f'SELECT ?, "id", NULL FROM ({match}) UNION ALL SELECT ?, "id", 1 FROM ({match})'
        params = []
        for n, word in enumerate(words):
            phrase = '"' + word.replace('"', "") + '"'
            params += [n, phrase, limit, n, "{title tags} : " + phrase, limit]
    found: dict[str, tuple[list[int], list[int]]] = {word: ([], []) for word in words}
    for n, article_id, in_title in db.execute_sql(" UNION ALL ".join([part] * len(words)), params):
        anywhere_ids, titled_ids = found[words[n]]
        (anywhere_ids if in_title is None else titled_ids).append(int(article_id))
    return found


def article_entries(db: peewee.Database) -> list[tuple[int, str, str, str, bool]]:
    """(id, desk, slug, title, published) of every article."""
    rows = db.execute_sql('SELECT "id", "desk", "slug", "title", "published" FROM "article"')
    return [(int(i), desk, slug, title, bool(flag)) for i, desk, slug, title, flag in rows]


_PG_WORD = "plainto_tsquery('english', %s)"


def articles(
    db: peewee.Database,
    groups: Sequence[tuple[str, ...]],
    desks: Sequence[str],
    limit: int,
    title_first: bool = True,
) -> list[int]:
    """The help center's search: ids of the published articles of `desks` holding every
    word of at least one of `groups` (words: letters and digits only), best first:
    bm25 on SQLite (a title match weighs most, then tags), ts_rank_cd on PostgreSQL."""
    if not groups or not desks or limit <= 0:
        return []
    marks = ", ".join([db.param] * len(desks))
    if is_postgres(db):
        query = " | ".join("(" + " & ".join(group) + ")" for group in groups)
        sql = (
            f'SELECT "id" FROM "article" WHERE {ARTICLE_DOCUMENT} @@ to_tsquery(\'english\', %s) '
            f'AND "published" AND "desk" IN ({marks}) '
            f"ORDER BY ts_rank_cd({ARTICLE_DOCUMENT}, to_tsquery('english', %s)) DESC, \"id\" "
            "LIMIT %s"
        )
        params: tuple[object, ...] = (query, *desks, query, limit)
    else:
        query = " OR ".join(
            "(" + " AND ".join(f'"{word}"' for word in group) + ")" for group in groups
        )
        weights = "10.0, 5.0, 1.0" if title_first else "1.0, 1.0, 1.0"
        sql = (
            'SELECT "a"."id" FROM "article_fts" JOIN "article" AS "a" '
            'ON "a"."id" = "article_fts"."rowid" WHERE "article_fts" MATCH ? '
            f'AND "a"."published" AND "a"."desk" IN ({marks}) '
            f'ORDER BY bm25("article_fts", {weights}), "a"."id" LIMIT ?'
        )
        params = (query, *desks, limit)
    return [article_id for (article_id,) in db.execute_sql(sql, params)]
