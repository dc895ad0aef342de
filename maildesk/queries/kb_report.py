"""How the knowledge base did over a period, and what it lacks: `maildesk report kb`
and the Knowledge base section of /reports.

Where it sits: read-only queries over the articles and what happened to them. Per
article, in the period:

- views: `article_view`, per UTC day (a day counts when it starts in the period);
- suggested: `kb_suggested` events (`{"articles": [slugs]}`, one per new ticket whose
  acknowledgement suggested articles);
- helpful / not helpful: `article_vote` answers given in the period;
- self-served: `kb_self_served` events (`{"article": slug}`: the customer closed the
  ticket from the article);
- linked: `kb_linked` events (`{"article": slug}`: an agent's `#kb SLUG` in a reply).

Events name an article by slug; the ticket's desk says whose. A slug no article of
that desk has any more (deleted, renamed) is still listed, without a title.

The gaps: the words and two-word phrases (common words aside, `knowledge.suggest`)
of the subjects and first messages of the period's new tickets that got no
suggestion, counted once per ticket: what to write next. Only the latest
`GAP_TICKETS` of them are read, and of each first message its first `GAP_CHARS`
characters, so the cost is bounded whatever the period holds (bench/kb times the
report at 100,000 tickets).

Counting stays in SQL: the events are read by the partial index `event_kb`
(migration 0018) on the knowledge-base event types, the JSON of each unpacked by the
database (SQLite `json_each` / `json_extract`, PostgreSQL `jsonb`), the views and votes
summed by GROUP BY.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import peewee

from maildesk.knowledge.suggest import topics
from maildesk.queries.serialize import iso
from maildesk.queries.ticket_list import in_scope
from maildesk.settings.desks import Scope
from maildesk.store.db import is_postgres
from maildesk.store.models import Article, ArticleView, ArticleVote, Event, Message, Ticket
from maildesk.store.rows import tuples
from maildesk.store.scope import current

SUGGESTED, SELF_SERVED, LINKED = "kb_suggested", "kb_self_served", "kb_linked"
# As the partial index `event_kb` (migrations/0018_kb_admin.py) is made: written out,
# not bound, so that the planners see the same condition as the index's.
KB_EVENTS = peewee.SQL(f"('{SUGGESTED}', '{SELF_SERVED}', '{LINKED}')")
GAP_TICKETS = 1000  # the latest tickets without a suggestion whose text is read
GAP_CHARS = 1000  # of each first message
TOP = 20  # words and phrases listed
MIN_TICKETS = 2  # a word or phrase of one ticket is no gap


@dataclass
class ArticleFigures:
    """One article's figures in the period (`title` None: no such article now)."""

    desk: str
    slug: str
    title: str | None
    published: bool = False
    views: int = 0
    suggested: int = 0
    helpful: int = 0
    not_helpful: int = 0
    self_served: int = 0
    linked: int = 0

    @property
    def helpfulness(self) -> float | None:
        """The share of "yes" among the answers (None: no answer)."""
        answers = self.helpful + self.not_helpful
        return self.helpful / answers if answers else None

    @property
    def activity(self) -> int:
        return (
            self.views
            + self.suggested
            + self.helpful
            + self.not_helpful
            + self.self_served
            + self.linked
        )


@dataclass(frozen=True)
class Topic:
    text: str
    tickets: int


@dataclass
class Gaps:
    """What the period's new tickets without a suggestion are about."""

    created: int  # tickets created in the period
    unsuggested: int  # of them, without a suggestion
    examined: int  # the latest of those, whose text was read
    words: list[Topic] = field(default_factory=list)
    phrases: list[Topic] = field(default_factory=list)


@dataclass
class KbReport:
    since: dt.datetime
    until: dt.datetime
    articles: list[ArticleFigures]  # with something in the period, busiest first
    totals: ArticleFigures
    gaps: Gaps


def kb_report(
    since: dt.datetime,
    until: dt.datetime,
    default_desk: str,
    scope: Scope | None = None,
    *,
    gap_tickets: int = GAP_TICKETS,
) -> KbReport:
    """The knowledge base's figures for [since, until), of the desks (and, for the
    gaps, the categories) of `scope`; `default_desk`: whose a ticket without a desk
    is."""
    rows: dict[tuple[str, str], ArticleFigures] = {}

    def row(desk: str, slug: str) -> ArticleFigures:
        key = (desk or default_desk, slug)
        if key not in rows:
            rows[key] = ArticleFigures(key[0], slug, None)
        return rows[key]

    by_id = _articles_of(scope)
    for article_id, views in _views(since, until):
        if article_id in by_id:
            row(by_id[article_id].desk, by_id[article_id].slug).views = views
    for article_id, helpful, count in _votes(since, until):
        if article_id not in by_id:
            continue
        figures = row(by_id[article_id].desk, by_id[article_id].slug)
        if helpful:
            figures.helpful = count
        else:
            figures.not_helpful = count
    for desk, kind, slug, count in _events(since, until, scope):
        figures = row(desk, slug)
        if kind == SUGGESTED:
            figures.suggested = count
        elif kind == SELF_SERVED:
            figures.self_served = count
        else:
            figures.linked = count
    _titled(rows.values(), by_id)
    listed = sorted(rows.values(), key=lambda r: (-r.activity, r.desk, r.slug))
    return KbReport(since, until, listed, _totals(listed), gaps(since, until, scope, gap_tickets))


@dataclass(frozen=True)
class _Article:
    desk: str
    slug: str
    title: str
    published: bool


def _articles_of(scope: Scope | None) -> dict[int, _Article]:
    """The articles of the scope's desks, by id (as tuples: thousands of model objects
    would cost more than the rest of the report)."""
    query = Article.select(
        Article.id, Article.desk, Article.slug, Article.title, Article.published
    ).where(_of_desks(scope))
    rows = current().execute_sql(*query.sql())  # plain values: no field conversions needed
    return {int(i): _Article(d, s, t, bool(p)) for i, d, s, t, p in rows}


def _titled(rows: Iterable[ArticleFigures], by_id: dict[int, _Article]) -> None:
    by_key = {(a.desk, a.slug): a for a in by_id.values()}
    for figures in rows:
        article = by_key.get((figures.desk, figures.slug))
        if article is not None:
            figures.title, figures.published = article.title, article.published


def _totals(rows: list[ArticleFigures]) -> ArticleFigures:
    total = ArticleFigures("", "", None)
    for name in COUNTS:
        setattr(total, name, sum(getattr(r, name) for r in rows))
    return total


# --------------------------------------------------------------------------
# Views and votes: GROUP BY per article
# --------------------------------------------------------------------------


def _first_day(moment: dt.datetime) -> dt.date:
    """The first UTC day that starts at or after `moment`."""
    moment = moment.astimezone(dt.UTC)
    day = moment.date()
    return day if moment == dt.datetime.combine(day, dt.time(), dt.UTC) else day + dt.timedelta(1)


def _of_desks(scope: Scope | None) -> peewee.ColumnBase:
    """Articles of the scope's desks (every article without one)."""
    if scope is None or scope.slugs is None:
        return peewee.Value(True)
    return Article.desk.in_(list(scope.slugs))


def _views(since: dt.datetime, until: dt.datetime) -> list[tuple[int, int]]:
    """(article id, views) of the days that start in the period, every desk's (the
    caller keeps its own: a join per row would cost more than the sums)."""
    query = (
        ArticleView.select(ArticleView.article, peewee.fn.SUM(ArticleView.views))
        .where((ArticleView.day >= _first_day(since)) & (ArticleView.day < _first_day(until)))
        .group_by(ArticleView.article)
    )
    return [(int(a), int(n)) for a, n in tuples(query) if n]


def _votes(since: dt.datetime, until: dt.datetime) -> list[tuple[int, bool, int]]:
    """(article id, helpful, answers) given in the period, every desk's."""
    count = peewee.fn.COUNT(peewee.SQL("*"))
    query = (
        ArticleVote.select(ArticleVote.article, ArticleVote.helpful, count)
        .where((ArticleVote.created_at >= since) & (ArticleVote.created_at < until))
        .group_by(ArticleVote.article, ArticleVote.helpful)
    )
    return [(int(a), bool(h), int(n)) for a, h, n in tuples(query)]


# --------------------------------------------------------------------------
# Events: the JSON unpacked by the database, counted per (desk, type, slug)
# --------------------------------------------------------------------------


def _kb_events(
    since: dt.datetime, until: dt.datetime, scope: Scope | None
) -> peewee.ModelSelect[Event]:
    """The knowledge-base events of the period on tickets of the scope: (desk, type, data)."""
    return (
        Event.select(Ticket.desk.alias("desk"), Event.type.alias("kind"), Event.data.alias("data"))
        .join(Ticket, on=Event.ticket == Ticket.id)
        .where(
            Event.type.in_(KB_EVENTS) & (Event.at >= since) & (Event.at < until) & in_scope(scope)
        )
    )


def _events(
    since: dt.datetime, until: dt.datetime, scope: Scope | None
) -> list[tuple[str, str, str, int]]:
    """(ticket desk, event type, slug, count) of the period's knowledge-base events."""
    db = current()
    inner, params = _kb_events(since, until, scope).sql()
    if is_postgres(db):
        suggested = (
            f'SELECT "kb"."desk", "kb"."kind", "one"."slug", COUNT(*) FROM ({inner}) AS "kb" '
            "CROSS JOIN LATERAL jsonb_array_elements_text("
            '"kb"."data"::jsonb -> \'articles\') AS "one"("slug") '
            f'WHERE "kb"."kind" = \'{SUGGESTED}\' GROUP BY 1, 2, 3'
        )
        single = '"kb"."data"::jsonb ->> \'article\''
    else:
        suggested = (
            f'SELECT "kb"."desk", "kb"."kind", "one"."value", COUNT(*) FROM ({inner}) AS "kb", '
            'json_each("kb"."data", \'$.articles\') AS "one" '
            f'WHERE "kb"."kind" = \'{SUGGESTED}\' GROUP BY 1, 2, 3'
        )
        single = 'json_extract("kb"."data", \'$.article\')'
    others = (
        f'SELECT "kb"."desk", "kb"."kind", {single}, COUNT(*) FROM ({inner}) AS "kb" '
        f'WHERE "kb"."kind" <> \'{SUGGESTED}\' AND {single} IS NOT NULL GROUP BY 1, 2, 3'
    )
    found = []
    for sql in (suggested, others):
        for desk, kind, slug, count in db.execute_sql(sql, params):
            if isinstance(slug, str):
                found.append((desk or "", kind, slug, int(count)))
    return found


# --------------------------------------------------------------------------
# Gaps
# --------------------------------------------------------------------------


def _new_tickets(since: dt.datetime, until: dt.datetime, scope: Scope | None) -> peewee.Expression:
    return (
        (Ticket.created_at >= since)
        & (Ticket.created_at < until)
        & Ticket.unmerged()
        & (Ticket.automated == False)  # noqa: E712 (never acknowledged: nothing was suggested)
        & in_scope(scope)
    )


def _unsuggested() -> peewee.Expression:
    """Tickets without a `kb_suggested` event (a probe of the event's ticket index)."""
    other = Event.alias("suggestion")
    return ~peewee.fn.EXISTS(
        other.select(peewee.SQL("1")).where((other.ticket == Ticket.id) & (other.type == SUGGESTED))
    )


def gaps(
    since: dt.datetime, until: dt.datetime, scope: Scope | None, limit: int = GAP_TICKETS
) -> Gaps:
    """The most frequent words and phrases of the latest `limit` new tickets of the
    period that got no suggestion (subject and the first `GAP_CHARS` characters of the
    first message), each counted once per ticket."""
    new = _new_tickets(since, until, scope)
    counted = Ticket.select(
        peewee.fn.COUNT(peewee.SQL("*")),
        peewee.fn.SUM(peewee.Case(None, [(_unsuggested(), 1)], 0)),
    ).where(new)
    created, unsuggested = next(tuples(counted))
    created, unsuggested = int(created or 0), int(unsuggested or 0)
    latest = list(
        tuples(
            Ticket.select(Ticket.id, Ticket.subject)
            .where(new & _unsuggested())
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )
    texts = _first_texts([ticket_id for ticket_id, _ in latest])
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    for ticket_id, subject in latest:
        found_words, found_phrases = topics(subject, texts.get(ticket_id, ""))
        words.update(found_words)
        phrases.update(found_phrases)
    return Gaps(created, unsuggested, len(latest), _top(words), _top(phrases))


def _first_texts(ticket_ids: list[int]) -> dict[int, str]:
    """The start of each ticket's first message, by ticket id."""
    if not ticket_ids:
        return {}
    texts: dict[int, str] = {}
    for start in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[start : start + 500]
        first = (
            Message.select(peewee.fn.MIN(Message.id))
            .where(Message.ticket.in_(chunk))
            .group_by(Message.ticket)
        )
        query = Message.select(
            Message.ticket, peewee.fn.SUBSTR(Message.body_text, 1, GAP_CHARS)
        ).where(Message.id.in_(first))
        texts.update((int(t), text or "") for t, text in tuples(query))
    return texts


def _top(counted: Counter[str]) -> list[Topic]:
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    return [Topic(text, n) for text, n in ranked[:TOP] if n >= MIN_TICKETS]


# --------------------------------------------------------------------------
# As JSON and as text
# --------------------------------------------------------------------------


def as_dict(report: KbReport) -> dict[str, Any]:
    """`maildesk report kb --json`."""

    def figures(row: ArticleFigures) -> dict[str, Any]:
        values = asdict(row)
        values["helpfulness"] = None if row.helpfulness is None else round(row.helpfulness, 4)
        return values

    totals = figures(report.totals)
    for key in ("desk", "slug", "title", "published"):
        totals.pop(key)
    return {
        "since": iso(report.since),
        "until": iso(report.until),
        "articles": [figures(row) for row in report.articles],
        "totals": totals,
        "gaps": {
            "created": report.gaps.created,
            "unsuggested": report.gaps.unsuggested,
            "examined": report.gaps.examined,
            "words": [asdict(t) for t in report.gaps.words],
            "phrases": [asdict(t) for t in report.gaps.phrases],
        },
    }


COUNTS = ("views", "suggested", "helpful", "not_helpful", "self_served", "linked")


def report_text(report: KbReport, several_desks: bool = False) -> str:
    """The report for a terminal."""
    lines = [f"Knowledge base from {iso(report.since)} to {iso(report.until)}", ""]
    header = ["article", "views", "suggested", "yes", "no", "self-served", "linked"]
    table = [header]
    for row in [*report.articles, report.totals]:
        name = row.slug or "total"
        if row.slug and several_desks:
            name = f"{row.desk}/{row.slug}"
        if row.slug and row.title is None:
            name += " (no such article now)"
        table.append([name, *(str(getattr(row, n)) for n in COUNTS)])
    if not report.articles:
        lines.append("No views, suggestions, votes or links in this period.")
    else:
        width = max(len(cells[0]) for cells in table)
        for cells in table:
            numbers = zip(cells[1:], header[1:], strict=True)
            lines.append(cells[0].ljust(width) + "".join(c.rjust(len(h) + 2) for c, h in numbers))
    found = report.gaps
    lines += [
        "",
        f"Gaps: {found.unsuggested} of {found.created} new tickets got no suggestion; "
        f"the latest {found.examined} say (tickets):",
        "  words:   " + (", ".join(f"{t.text} ({t.tickets})" for t in found.words) or "-"),
        "  phrases: " + (", ".join(f"{t.text} ({t.tickets})" for t in found.phrases) or "-"),
    ]
    return "\n".join(lines)
