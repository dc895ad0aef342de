"""Which words of a customer's mail an article must share to be suggested.

A suggestion must match at least `min_words` different words of the mail (`[kb]
min_words`), so one common word in a long mail never suggests anything. The words
are the subject's first, then the text's, without common words, at most
`MAX_WORDS` of them; `store.search.articles` asks the full-text index for the
articles holding enough of them and ranks those (bm25 / ts_rank_cd). Pure.
"""

from __future__ import annotations

import itertools
import re

MAX_WORDS = 12
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


def groups(words: list[str], min_words: int) -> list[tuple[str, ...]]:
    """Every choice of `min_words` of `words`: an article must hold one whole group."""
    if len(words) < min_words:
        return []
    return list(itertools.combinations(words, min_words))
