"""Which articles match a customer's mail well enough to be suggested, best first.

The mail's words are the subject's first, then the text's, without common words
(`COMMON`) and numbers, at most `MAX_WORDS` of them. Of those, the telling ones
count: words some article holds, and not too many (more than `TOO_COMMON` of the
articles and more than `COMMON_FLOOR` of them: a word in every twentieth article says
nothing about which one the mail is about). A suggestion must hold at least
`min_words` different telling words of the mail (`[kb] min_words`), so one shared
word in a long mail never suggests anything. The ones that do are ranked by what
they share: each word weighs its rarity (the idf of BM25, `idf`), twice when it is
in the article's title or tags; a tie goes to the older article.

Why not the full-text index's own ranking, asked for every pair of the words, as
before: with 5,000 articles nearly every article shares two words with any mail, so
the index ranked thousands of them per mail, 14 ms on SQLite and 0.75 s on
PostgreSQL, which parses each one's text again to rank it (bench/kb). FTS5's bm25 of
that OR of pairs also counts a word once per pair it completes, which favours
articles holding many common words: the article a mail was about came first for 44%
of the mails, against 80% this way (PostgreSQL's ts_rank_cd, which rewards words
standing close together, did better than both, at that price). `knowledge.index`
reads the articles holding each word once and keeps them; this module is the pure
part: words in, ranked article ids out.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

MAX_WORDS = 12
TOO_COMMON = 0.05  # of the articles: a word in more of them is not telling
COMMON_FLOOR = 10  # ... unless it is in at most this many (a small knowledge base)
TITLE_WEIGHT = 2.0  # a word in the title or tags weighs this much more
_WORD = re.compile(r"[^\W_]{3,40}")
_SENTENCE = re.compile(r"[.!?;:\n]+(?:\s|$)|\n")
# Words that say nothing about what a mail is about (English and German, the languages
# of the sample mail; the stemmer and the index do the rest).
COMMON = frozenset(
    """
    able about above after again against all also and any are aren because been before
    being below between both but can cannot could did didn does doesn doing don down
    during each few for from further had hadn has hasn have haven having her here hers
    herself him himself his how into isn its itself just let more most mustn myself nor
    not now off once only other our ours ourselves out over own same she should shouldn
    some such than that the their theirs them themselves then there these they this
    those through too under until very was wasn were weren what when where which while
    who whom why will with won would wouldn you your yours yourself yourselves hello
    dear thanks thank regards please hi best kind sent get got use using need want know
    like one two also still und oder aber nicht ein eine einer eines dem den der die das
    des ist sind war waren mit von für auf aus bei nach über unter ich sie wir ihr mein
    meine dein bitte danke hallo gruss grüße viele freundlichen noch auch schon wie was
    wer wenn dann dass
    """.split()  # noqa: SIM905 (a word list reads best as words)
)


def query_words(subject: str, text: str) -> list[str]:
    """The mail's telling words, lower-cased, subject first, without repeats."""
    found: dict[str, None] = {}
    for word in telling_words(f"{subject}\n{text}"):
        found.setdefault(word, None)
        if len(found) == MAX_WORDS:
            break
    return list(found)


def telling_words(text: str) -> list[str]:
    """The words of `text` in order, lower-cased, without common words and numbers."""
    lowered = (word.lower() for word in _WORD.findall(text))
    return [word for word in lowered if word not in COMMON and not word.isdigit()]


def topics(subject: str, text: str) -> tuple[set[str], set[str]]:
    """What a mail is about, for the knowledge base's gaps (`queries.kb_report`): its
    telling words, and its two-word phrases (telling words next to each other within
    a sentence or line once common words are left out: "reset the password" is
    `reset password`)."""
    words: set[str] = set()
    phrases: set[str] = set()
    for part in _SENTENCE.split(f"{subject}\n{text}"):
        found = telling_words(part)
        words.update(found)
        phrases.update(f"{a} {b}" for a, b in itertools.pairwise(found) if a != b)
    return words, phrases


@dataclass(frozen=True)
class Postings:
    """The articles holding one word, as the full-text index finds them (stemmed):
    how many (drafts and every desk's included; for a word that is not telling, at
    least that many), and, when the word is telling, which, and of those which hold
    it in their title or tags."""

    holding: int
    articles: frozenset[int] = frozenset()
    titled: frozenset[int] = frozenset()


def most_holding(total: int) -> int:
    """The most articles (of `total`) a telling word may be in."""
    return max(COMMON_FLOOR, int(TOO_COMMON * total))


def idf(holding: int, total: int) -> float:
    """How rare the word is: BM25's inverse document frequency, kept positive."""
    return math.log(1.0 + (total - holding + 0.5) / (holding + 0.5))


def ranked(
    words: Sequence[str],
    postings: Mapping[str, Postings],
    total: int,
    allowed: Set[int],
    min_words: int,
    count: int,
) -> list[int]:
    """Up to `count` of the `allowed` articles (published, of the mail's desk) holding
    at least `min_words` of the telling `words`, best first."""
    used: list[tuple[float, Postings]] = []
    # held[n]: the articles holding at least n + 1 of the words so far. Set operations
    # run in C, and a mail's words may be held by thousands of articles together.
    held: list[set[int]] = [set() for _ in range(max(1, min_words))]
    for word in dict.fromkeys(words):
        found = postings[word]
        if not found.articles:
            continue
        used.append((idf(found.holding, total), found))
        for n in range(len(held) - 1, 0, -1):
            held[n] |= held[n - 1] & found.articles
        held[0] |= found.articles
    chosen = held[-1] & allowed
    scores = dict.fromkeys(chosen, 0.0)
    for weight, found in used:
        for article in found.articles & chosen:
            scores[article] += weight * (TITLE_WEIGHT if article in found.titled else 1.0)
    return heapq.nsmallest(count, chosen, key=lambda a: (-scores[a], a))
