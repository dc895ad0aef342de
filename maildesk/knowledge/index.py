"""What the suggestions search: for each word of a mail, the articles holding it,
read from the full-text index once and kept until an article changes.

Where it sits: one `ArticleIndex` per process, built with the `Desk` (the services
built once) and used by `catalog.suggested` for the acknowledgement and /submit.
A word's articles come from `store.search` (SQLite FTS5, PostgreSQL GIN, each with
its stemming), at most `TOO_COMMON` of them are kept (a word in more is not
telling, `knowledge.suggest`), so the index holds little, and a mail's suggestions
cost a lookup per word and some set arithmetic once its words were seen (bench/kb).

Staying current: every write of articles (`catalog`) stamps the knowledge base anew
in the database (`key_value` `kb_stamp`, in the same transaction); the index reads
that stamp (one row) when it was last read more than `STAMP_SECONDS` ago and
forgets everything when it moved, so an article saved by `kb import` in another
process or by another instance on the same PostgreSQL is suggested within a second.
The editor's saves in this process `forget` at once. (Reading the stamp for every
mail cost a round trip, 0.17 ms, on PostgreSQL.) One lock: the pipeline's and the
web's threads share it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import peewee

from maildesk.knowledge.suggest import Postings, most_holding, ranked
from maildesk.store import search

STAMP = "kb_stamp"  # key_value: changes with every write of articles
MAX_WORDS = 20_000  # words kept; past that the index starts afresh
STAMP_SECONDS = 1.0  # how long a stamp read stays good


@dataclass(frozen=True)
class Entry:
    """An article as a suggestion shows it."""

    id: int
    desk: str
    slug: str
    title: str
    published: bool


class ArticleIndex:
    """Articles by word, and every article's entry, as of one stamp."""

    def __init__(
        self, max_words: int = MAX_WORDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._max_words = max_words
        self._clock = clock
        self._stamp: str | None = None
        self._loaded = False
        self._checked = 0.0  # when the stamp was last read (`clock`)
        self._words: dict[str, Postings] = {}
        self._entries: dict[int, Entry] = {}
        self._canon: dict[int, int] = {}
        self._allowed: dict[tuple[str, ...], frozenset[int]] = {}

    def suggested(
        self,
        db: peewee.Database,
        words: Sequence[str],
        desks: Sequence[str],
        min_words: int,
        count: int,
    ) -> list[Entry]:
        """Up to `count` of the published articles of `desks` that hold at least
        `min_words` of the telling `words`, best first (`suggest.ranked`)."""
        with self._lock:
            self._current(db)
            postings = self._postings(db, list(dict.fromkeys(words)))
            allowed = self._allowed_in(tuple(desks))
            found = ranked(words, postings, len(self._entries), allowed, min_words, count)
            return [self._entries[i] for i in found]

    def forget(self) -> None:
        """Articles were written in this process: read them again on the next use."""
        with self._lock:
            self._loaded = False

    def _current(self, db: peewee.Database) -> None:
        now = self._clock()
        usable = self._loaded and len(self._words) < self._max_words
        if usable and now - self._checked < STAMP_SECONDS:
            return
        stamp = stamp_of(db)
        self._checked = now
        if usable and stamp == self._stamp:
            return
        self._entries = {row[0]: Entry(*row) for row in search.article_entries(db)}
        self._canon = {i: i for i in self._entries}
        self._words, self._allowed = {}, {}
        self._stamp, self._loaded = stamp, True

    def _postings(self, db: peewee.Database, words: list[str]) -> dict[str, Postings]:
        """The words' postings: those not read yet in one statement, which stops
        reading a word at one article past `most_holding` (a common word's thousands
        are not needed to know it is common), then kept."""
        most = most_holding(len(self._entries))
        missing = [word for word in words if word not in self._words]
        for word, (anywhere, titled) in search.article_postings(db, missing, most + 1).items():
            holding = len(anywhere)
            if 0 < holding <= most:
                self._words[word] = Postings(holding, self._ids(anywhere), self._ids(titled))
            else:
                self._words[word] = Postings(holding)
        return {word: self._words[word] for word in words}

    def _ids(self, ids: list[int]) -> frozenset[int]:
        """The ids as one int object per article: the postings of thousands of words
        share them rather than holding ints of their own."""
        return frozenset(self._canon.get(i, i) for i in ids)

    def _allowed_in(self, desks: tuple[str, ...]) -> frozenset[int]:
        allowed = self._allowed.get(desks)
        if allowed is None:
            allowed = self._allowed[desks] = frozenset(
                i for i, entry in self._entries.items() if entry.published and entry.desk in desks
            )
        return allowed


def stamp_of(db: peewee.Database) -> str | None:
    """The knowledge base's stamp (None: never written through `catalog`)."""
    row = db.execute_sql(
        f'SELECT "value" FROM "key_value" WHERE "name" = {db.param}', (STAMP,)
    ).fetchone()
    return None if row is None else str(row[0])
