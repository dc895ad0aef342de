#!/usr/bin/env python3
"""Knowledge-base suggestions benchmark for maildesk: what suggesting articles adds to
taking in a new ticket, with 5,000 articles and 100,000 tickets.

Run it with the project's virtualenv (``.venv/bin/python bench/kb.py`` or
``bench/kb``); see bench/README.md. In one run it

1. fills a fresh database (SQLite, and with --postgres a schema of its own on that
   server) through maildesk's migrations, then by direct SQL: 5,000 articles (90%
   published) about made-up products and problems, 100,000 tickets over two years
   with their intake row, first message and sent acknowledgement, their events (a
   third of them with a `kb_suggested` event, some self-served and linked), daily
   views and votes;
2. ingests a few hundred new-ticket mails (60% about one article's topic, the rest
   about nothing in particular) with `[kb]` on (the default: up to 3 suggestions
   of 2 shared words) and the same mails with `[kb] suggestions = 0`, in groups of
   50 (`Runtime.ingest_batch`, as `maildesk ingest` does), alternating which goes
   first, for several rounds of new mails each, after a round's worth not timed;
3. prints the per-mail wall and CPU time of both, their ratio (target: suggestions
   add less than 20%), the time of the suggestions alone (every word new, every
   word known), and their quality: how many topical mails got their article (and
   first), how many others got any suggestion; with --before, the same for the
   query suggestions ran before, on some of the mails;
4. times `maildesk report kb` (the last 30 days) on the same database.

Machines are noisy: only the ratios printed within one run are meaningful.
Exit status: 0 the target was met, 1 it was missed, 2 something broke (a fill or an
ingest failed, suggestions came with [kb] off or never with it on).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.message
import email.policy
import hashlib
import importlib.metadata
import itertools
import logging
import platform
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    DESK_ADDRESS,
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_TARGET_MISSED,
    BenchError,
    add_seed_and_workdir,
    bulk_insert,
    plan_lines,
    postgres_admin,
    say,
    verdict,
)

TARGET_RATIO = 1.20  # per-mail time with suggestions / without
ARTICLES = 5_000
TICKETS = 100_000
MAILS = 300  # per side and round
ROUNDS = 4
BATCH = 50  # mails per ingest_batch, as `maildesk ingest` groups them (up to 200)
MIN_MAILS = 20
PUBLISHED_SHARE = 0.9
TOPICAL_SHARE = 0.6  # of the mails: about one published article's topic
HISTORY = dt.timedelta(days=730)
CHUNK = 5_000

REAL_WORDS = tuple(
    """
    account invoice order payment login password error export report screen browser
    update issue problem since yesterday today week month again still cannot refund
    charge card bank transfer delivery parcel tracking address phone email message reply
    ticket support team customer service app mobile desktop version download upload file
    attachment screenshot link page button form field value number date time price total
    amount discount coupon plan subscription trial upgrade cancel renew contract notice
    warehouse stock item product size colour return label exchange damaged missing wrong
    late early quickly soon urgent printer scanner router cable battery charger display
    keyboard sync backup restore settings profile notification calendar folder
    permission share install license server network wifi bluetooth camera sound volume
    firmware driver reset connect disconnect crash freeze slow fast blank black white
    red green offline online timeout certificate
    """.split()  # noqa: SIM905 (a word list reads best as words)
)
FILLER = tuple(
    """
    the a an and or but if when then with without from to for of on in at by about after
    before this that these those my your our it is was were be been have has had do does
    did not no yes any some all more most less please thanks hello help i we you they
    there here just also very really again still only
    """.split()  # noqa: SIM905 (a word list reads best as words)
)
SYLLABLES = tuple(
    """
    ka ri to mo na le si pe lu da ve ko ra ni te so ma ki po du fe lo ta vi ne ba zu re
    mi gor tan vel dor mir sal ben kor lin tas vor nel pim rud sen hal
    """.split()  # noqa: SIM905 (a word list reads best as words)
)


# -- text ----------------------------------------------------------------------------------


class Text:
    """Words with Zipf weights (a few common, most rare), real and made up, the filler
    words of any sentence among them; and the words topics are made of (made-up
    product names, real problem words)."""

    def __init__(self, rng: random.Random) -> None:
        made: set[str] = set()
        while len(made) < 3000:
            made.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
        vocabulary = [*REAL_WORDS, *sorted(made)]
        rng.shuffle(vocabulary)
        self.vocabulary = vocabulary
        # Zipf-Mandelbrot: the commonest word is about 0.5% of the words an article's
        # text draws from here (plain Zipf would make it 12%: a stop word, which
        # `knowledge.suggest.COMMON` would leave out); the filler words are the rest.
        self.weights = list(
            itertools.accumulate(1.0 / (rank + 50) for rank in range(1, len(vocabulary) + 1))
        )
        self.products = sorted(made)[:1500]
        self.problems = list(REAL_WORDS)

    def words(self, rng: random.Random, count: int) -> list[str]:
        drawn = rng.choices(self.vocabulary, cum_weights=self.weights, k=count)
        # About every third word is a filler word ("the", "please", ...).
        return [rng.choice(FILLER) if rng.random() < 0.33 else word for word in drawn]

    def sentence(self, rng: random.Random, extra: Sequence[str] = ()) -> str:
        words = self.words(rng, rng.randint(6, 14))
        for word in extra:
            words.insert(rng.randrange(len(words) + 1), word)
        return " ".join(words).capitalize() + "."

    def paragraph(self, rng: random.Random, sentences: int, extra: Sequence[str] = ()) -> str:
        chosen = [self.sentence(rng) for _ in range(sentences)]
        if extra:
            chosen[rng.randrange(len(chosen))] = self.sentence(rng, extra)
        return " ".join(chosen)


@dataclass(frozen=True)
class Topic:
    """An article's subject: a product and two problem words."""

    product: str
    problem: str
    detail: str

    @property
    def words(self) -> tuple[str, str, str]:
        return (self.product, self.problem, self.detail)


@dataclass
class Plan:
    text: Text
    topics: list[Topic]  # one per article, article k has topics[k]
    published: list[bool]

    @property
    def published_ids(self) -> list[int]:
        return [k + 1 for k, flag in enumerate(self.published) if flag]


def plan(seed: int, articles: int) -> Plan:
    rng = random.Random(f"{seed}/plan")
    text = Text(rng)
    topics: list[Topic] = []
    seen: set[Topic] = set()
    while len(topics) < articles:
        problem, detail = rng.sample(text.problems, 2)
        topic = Topic(rng.choice(text.products), problem, detail)
        if topic not in seen:
            seen.add(topic)
            topics.append(topic)
    published = [rng.random() < PUBLISHED_SHARE for _ in range(articles)]
    return Plan(text, topics, published)


def article_row(plan: Plan, k: int, rng: random.Random, now: dt.datetime) -> tuple[Any, ...]:
    topic = plan.topics[k]
    title = f"{topic.product.capitalize()}: {topic.problem} {topic.detail}"
    paragraphs = [
        plan.text.paragraph(rng, rng.randint(2, 5), topic.words if n == 0 else ())
        for n in range(rng.randint(2, 5))
    ]
    body = "\n\n".join(paragraphs) + "\n"
    tags = f"{topic.product} {topic.problem}"
    created = now - dt.timedelta(days=rng.randint(1, 700))
    return (k + 1, "default", f"article-{k + 1}", title, body, "", tags, plan.published[k],
            created, created)  # fmt: skip


# -- the mails ingested -------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    subject: str
    body: str
    article: int | None  # the article it is about (None: about nothing in particular)


def mails(plan: Plan, seed: int, count: int) -> list[Mail]:
    rng = random.Random(f"{seed}/mails")
    published = plan.published_ids
    found = []
    for _ in range(count):
        if rng.random() < TOPICAL_SHARE:
            article = rng.choice(published)
            topic = plan.topics[article - 1]
            subject = f"{topic.product.capitalize()} {topic.problem} {rng.choice(FILLER)}"
            body = "\n\n".join(
                [
                    "Hello,",
                    plan.text.paragraph(rng, rng.randint(1, 3), (topic.detail, topic.product)),
                    "Thanks",
                ]
            )
            found.append(Mail(subject, body, article))
        else:
            subject = " ".join(plan.text.words(rng, rng.randint(3, 6))).capitalize()
            body = "\n\n".join(["Hello,", plan.text.paragraph(rng, rng.randint(2, 5)), "Thanks"])
            found.append(Mail(subject, body, None))
    return found


def raw_mail(mail: Mail, tag: str, n: int) -> bytes:
    message = email.message.EmailMessage(policy=email.policy.SMTP)
    # A domain of its own: no cap on automatic mail or new tickets per domain applies.
    message["From"] = f"Customer {n} <customer@c{n}-{tag}.bench-kb.example>"
    message["To"] = DESK_ADDRESS
    message["Subject"] = mail.subject
    message["Message-ID"] = f"<{tag}.{n}@bench-kb.example>"
    message["Date"] = "Wed, 04 Mar 2026 09:30:00 +0000"
    message.set_content(mail.body)
    return message.as_bytes()


# -- the database -------------------------------------------------------------------------


class Database:
    """Where the bench's database lives: a SQLite file, or a PostgreSQL schema."""

    label = ""
    url = ""

    def create(self) -> None:
        pass

    def cleanup(self) -> None:
        pass


class SqliteDatabase(Database):
    def __init__(self, directory: Path) -> None:
        self.label = "SQLite"
        self.url = f"sqlite:///{directory / 'maildesk.db'}"


class PostgresDatabase(Database):
    def __init__(self, server: str) -> None:
        self.label = "PostgreSQL"
        self.server = server
        self.schema = f"bench_kb_{secrets.token_hex(6)}"
        parts = urllib.parse.urlsplit(server)
        query = urllib.parse.urlencode({"options": f"-csearch_path={self.schema}"})
        self.url = urllib.parse.urlunsplit(parts._replace(query=query))

    def create(self) -> None:
        admin = postgres_admin(self.server)
        try:
            admin.execute_sql(f'CREATE SCHEMA "{self.schema}"')
        finally:
            admin.close()

    def cleanup(self) -> None:
        admin = postgres_admin(self.server)
        try:
            admin.execute_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            admin.close()


def fill(url: str, plan: Plan, tickets: int, seed: int, now: dt.datetime) -> dict[str, int]:
    """The articles, tickets, messages, events, views and votes, by direct SQL."""
    import peewee

    from maildesk.store.db import is_postgres, open_database, optimize, upgrade, write_transaction
    from maildesk.store.fields import JSONTextField, UTCDateTimeField
    from maildesk.store.models import (
        Article,
        ArticleView,
        ArticleVote,
        Blob,
        Contact,
        Counter,
        Event,
        Intake,
        Message,
        Outbox,
        Participant,
        Ticket,
    )

    converted = (UTCDateTimeField, JSONTextField, peewee.BooleanField, peewee.DateField)
    rng = random.Random(f"{seed}/fill")
    db = open_database(url)
    upgrade(db)
    postgres = is_postgres(db)
    if not postgres:
        db.execute_sql("PRAGMA cache_size = -262144")  # 256 MiB, this connection only

    def insert(model: Any, fields: Sequence[Any], rows: Any) -> int:
        return bulk_insert(db, model, fields, rows, converted, CHUNK)

    def pk(model: Any) -> Any:
        return model._meta.primary_key

    contacts = max(1, tickets // 4)
    start = now - HISTORY
    step = HISTORY / max(1, tickets)
    requester = [rng.randrange(contacts) + 1 for _ in range(tickets)]
    slugs = [f"article-{k}" for k in plan.published_ids]
    counts: dict[str, int] = {}
    with write_transaction(db):
        counts["article"] = insert(
            Article,
            (pk(Article), Article.desk, Article.slug, Article.title, Article.body,
             Article.category, Article.tags, Article.published, Article.created_at,
             Article.updated_at),
            (article_row(plan, k, rng, now) for k in range(len(plan.topics))),
        )  # fmt: skip
        counts["contact"] = insert(
            Contact,
            (pk(Contact), Contact.email, Contact.name, Contact.created_at),
            ((c, f"c{c}@bench-kb.example", f"Customer {c}", start) for c in range(1, contacts + 1)),
        )
        when = [start + step * n for n in range(tickets)]
        subjects = [" ".join(plan.text.words(rng, 5)).capitalize() for _ in range(tickets)]
        counts["ticket"] = insert(
            Ticket,
            (pk(Ticket), Ticket.number, Ticket.seq, Ticket.desk, Ticket.subject, Ticket.status,
             Ticket.priority, Ticket.requester, Ticket.created_at, Ticket.updated_at),
            ((n + 1, n + 1, n + 1, "default", subjects[n], "closed", "medium", requester[n],
              when[n], when[n]) for n in range(tickets)),
        )  # fmt: skip
        counts["participant"] = insert(
            Participant,
            (pk(Participant), Participant.ticket, Participant.contact, Participant.role),
            ((n + 1, n + 1, requester[n], "requester") for n in range(tickets)),
        )
        # Each ticket came in as mail: its intake row (all sharing one small raw blob).
        raw = b"From: c@bench-kb.example\nSubject: prefilled\n\nprefilled\n"
        sha = hashlib.sha256(raw).hexdigest()
        Blob.insert(sha256=sha, size=len(raw), data=raw, created_at=start).execute()
        counts["intake"] = insert(
            Intake,
            (pk(Intake), Intake.raw, Intake.dedupe_key, Intake.message_id, Intake.source,
             Intake.received_at, Intake.state, Intake.action, Intake.ticket, Intake.processed_at),
            ((n + 1, sha, dedupe_key(n + 1), f"<fill.{n + 1}@bench-kb.example>", "bench-fill",
              when[n], "processed", "created", n + 1, when[n]) for n in range(tickets)),
        )  # fmt: skip
        counts["message"] = insert(
            Message,
            (pk(Message), Message.ticket, Message.intake, Message.message_id, Message.direction,
             Message.kind, Message.from_email, Message.subject, Message.body_text,
             Message.created_at),
            ((n + 1, n + 1, n + 1, f"<fill.{n + 1}@bench-kb.example>", "inbound", "customer",
              f"c{requester[n]}@bench-kb.example", subjects[n], plan.text.paragraph(rng, 3),
              when[n]) for n in range(tickets)),
        )  # fmt: skip
        # Each ticket's acknowledgement, sent: the hourly caps count the outbox for
        # every new ticket, and a database that never had one plans those counts as
        # for an empty table (on PostgreSQL a connection keeps a prepared plan).
        counts["outbox"] = insert(
            Outbox,
            (Outbox.message_id, Outbox.purpose, Outbox.audience, Outbox.ticket,
             Outbox.automatic, Outbox.envelope_from, Outbox.recipients, Outbox.rate_key,
             Outbox.rate_domain, Outbox.subject, Outbox.status, Outbox.next_attempt_at,
             Outbox.give_up_at, Outbox.created_at, Outbox.sent_at),
            ((f"<ack.{n + 1}@bench-kb.example>", "ack", "customer", n + 1, True, DESK_ADDRESS,
              [f"c{requester[n]}@bench-kb.example"], f"c{requester[n]}@bench-kb.example",
              "bench-kb.example", subjects[n], "sent", when[n], when[n], when[n], when[n])
             for n in range(tickets)),
        )  # fmt: skip
        counts["event"] = insert(
            Event,
            (Event.ticket, Event.at, Event.actor, Event.type, Event.data),
            (row for n in range(tickets) for row in events(rng, n + 1, when[n], slugs)),
        )
        counts["article_view"] = insert(
            ArticleView,
            (ArticleView.article, ArticleView.day, ArticleView.views),
            (
                (article, (now - dt.timedelta(days=day)).date(), rng.randint(1, 40))
                for article in plan.published_ids
                for day in sorted(rng.sample(range(1, 91), 12))
            ),
        )
        counts["article_vote"] = insert(
            ArticleVote,
            (ArticleVote.article, ArticleVote.visitor, ArticleVote.helpful, ArticleVote.created_at),
            (
                (rng.choice(plan.published_ids), f"visitor-{v}", rng.random() < 0.7,
                 now - dt.timedelta(minutes=rng.randint(1, 90 * 24 * 60)))
                for v in range(len(plan.topics) * 4)
            ),
        )  # fmt: skip
        Counter.update(value=tickets).where(Counter.name == "ticket_number").execute()
    if postgres:  # the rows came with their ids: the sequences go on after them
        db.execute_sql("SELECT setval('ticket_number_seq', %s)", (tickets,))
        for table in ("article", "contact", "ticket", "participant", "intake", "message"):
            db.execute_sql(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT MAX("id") FROM "{table}"))'
            )
        db.execute_sql("VACUUM ANALYZE")
    else:
        optimize(db, everything=True)  # as after maildesk's own migrations
    db.close()
    return counts


def dedupe_key(n: int) -> str:
    """A redelivery key for a filled message: unique, shaped as maildesk's (`core.redelivery`)."""
    return hashlib.sha256(f"mid:<fill.{n}@bench-kb.example>".encode()).hexdigest()


def events(
    rng: random.Random, ticket: int, at: dt.datetime, slugs: Sequence[str]
) -> list[tuple[Any, ...]]:
    """A ticket's log: created, a few changes, and the knowledge base's events."""
    actor = "agent@bench-kb.example"
    found: list[tuple[Any, ...]] = [
        (ticket, at, "customer", "created", {"source": "bench"}),
        (ticket, at + dt.timedelta(hours=1), actor, "status_changed",
         {"before": "new", "after": "open"}),
        (ticket, at + dt.timedelta(hours=5), actor, "status_changed",
         {"before": "open", "after": "closed"}),
    ]  # fmt: skip
    if rng.random() < 0.35:
        chosen = rng.sample(slugs, rng.randint(1, 3))
        found.append((ticket, at, "system", "kb_suggested", {"articles": chosen}))
        if rng.random() < 0.15:
            found.append((ticket, at + dt.timedelta(hours=2), "customer", "kb_self_served",
                          {"article": chosen[0]}))  # fmt: skip
    if rng.random() < 0.05:
        found.append((ticket, at + dt.timedelta(hours=3), actor, "kb_linked",
                      {"article": rng.choice(slugs)}))  # fmt: skip
    return found


# -- measuring ----------------------------------------------------------------------------


def write_config(directory: Path, url: str, suggestions: int | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "maildesk.toml"
    kb = "" if suggestions is None else f"\n[kb]\nsuggestions = {suggestions}\n"
    path.write_text(
        "# written by bench/kb\n"
        f'[database]\nurl = "{url}"\n'
        '\n[desk]\nsecret_key = "bench-kb-secret"\n'
        f'\n[outbound]\nmaildir = "{directory / "outbox"}"\n' + kb,
        encoding="utf-8",
    )
    return path


@dataclass
class Side:
    """One configuration: [kb] on, or suggestions = 0."""

    name: str
    config: Path
    runtime: Any = None
    wall: list[float] = field(default_factory=list)  # per round, seconds
    cpu: list[float] = field(default_factory=list)
    tickets: list[int] = field(default_factory=list)  # ticket ids it opened, in mail order


def open_side(side: Side) -> None:
    from maildesk.config import load_config
    from maildesk.pipeline.ingest import open_runtime

    side.runtime = open_runtime(load_config(side.config))


def ingest(side: Side, raws: Sequence[bytes], source: str) -> tuple[float, float, list[int]]:
    """Ingest `raws` in groups of BATCH; wall and CPU seconds, and the tickets opened."""
    from maildesk.store.models import Ticket
    from maildesk.store.scope import using

    runtime = side.runtime
    opened: list[int] = []
    with using(runtime.db):
        wall, cpu = time.perf_counter(), time.process_time()
        outcomes = []
        for start in range(0, len(raws), BATCH):
            batch = raws[start : start + BATCH]
            outcomes += runtime.ingest_batch([(raw, source) for raw in batch])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        for outcome in outcomes:
            if outcome.action != "created":
                raise BenchError(f"{side.name}: a mail was {outcome.action}: {outcome.reason}")
        numbers = [runtime.desk.labels.find(o.ticket) for o in outcomes]
        by_number = dict(
            Ticket.select(Ticket.number, Ticket.id).where(Ticket.number.in_(numbers)).tuples()
        )
        opened = [by_number[n] for n in numbers]
    return wall, cpu, opened


def suggested_by_ticket(side: Side) -> dict[int, list[str]]:
    from maildesk.store.models import Event
    from maildesk.store.scope import using

    with using(side.runtime.db):
        rows = Event.select(Event.ticket, Event.data).where(
            Event.ticket.in_(side.tickets) & (Event.type == "kb_suggested")
        )
        return {row.ticket_id: row.data["articles"] for row in rows}


def time_suggestions(side: Side, corpus: Sequence[Mail]) -> tuple[float, float, int]:
    """Milliseconds per mail of `catalog.suggested` alone: with a fresh index (every
    word read from the database), then again (every word known); and the words the
    index then holds."""
    from maildesk.knowledge import catalog
    from maildesk.knowledge.index import ArticleIndex
    from maildesk.store.scope import using

    db, kb = side.runtime.db, side.runtime.desk.config.kb
    index = ArticleIndex()
    times = []
    with using(db):
        for _ in range(2):
            start = time.perf_counter()
            for mail in corpus:
                catalog.suggested(
                    db, index, "default", "default", mail.subject, mail.body, 3, kb.min_words
                )
            times.append(1000 * (time.perf_counter() - start) / len(corpus))
    return times[0], times[1], len(index._words)


def before(side: Side, corpus: Sequence[Mail], postgres: bool) -> Quality:
    """The query suggestions ran before (up to commit "Knowledge base: articles from
    Markdown files, and suggestions in the acknowledgement"): every pair of the mail's
    words ORed in one full-text query, ranked by the index (bm25 on SQLite with the
    title first, ts_rank_cd on PostgreSQL); its time per mail, its plan and its
    quality on the same mails, for comparison."""
    from maildesk.knowledge.suggest import query_words
    from maildesk.store.scope import using
    from maildesk.store.search import ARTICLE_DOCUMENT

    db = side.runtime.db
    quality = Quality()
    with using(db):
        start = time.perf_counter()
        for mail in corpus:
            pairs = list(itertools.combinations(query_words(mail.subject, mail.body), 2))
            if not pairs:
                quality.add(mail, [])
                continue
            if postgres:
                query = " | ".join(f"({a} & {b})" for a, b in pairs)
                sql = (
                    f'SELECT "id" FROM "article" WHERE {ARTICLE_DOCUMENT} @@ '
                    "to_tsquery('english', %s) AND \"published\" AND \"desk\" = 'default' "
                    f"ORDER BY ts_rank_cd({ARTICLE_DOCUMENT}, to_tsquery('english', %s)) DESC, "
                    '"id" LIMIT 3'
                )
                params: tuple[Any, ...] = (query, query)
            else:
                query = " OR ".join(f'("{a}" AND "{b}")' for a, b in pairs)
                sql = (
                    'SELECT "a"."id" FROM "article_fts" JOIN "article" AS "a" '
                    'ON "a"."id" = "article_fts"."rowid" WHERE "article_fts" MATCH ? '
                    'AND "a"."published" AND "a"."desk" = \'default\' '
                    'ORDER BY bm25("article_fts", 10.0, 5.0, 1.0), "a"."id" LIMIT 3'
                )
                params = (query,)
            ids = [i for (i,) in db.execute_sql(sql, params)]
            quality.add(mail, [f"article-{i}" for i in ids])
        quality.ms = 1000 * (time.perf_counter() - start) / len(corpus)
        quality.plan = "\n".join(f"      {line}" for line in plan_lines(db, postgres, sql, params))
    return quality


@dataclass
class Quality:
    """How well the suggestions fit the mails."""

    topical: int = 0  # mails about one article
    found: int = 0  # ... that got it among their suggestions
    first: int = 0  # ... first
    other: int = 0  # mails about nothing in particular
    stray: int = 0  # ... that got a suggestion all the same
    ms: float = 0.0
    plan: str = ""

    def add(self, mail: Mail, slugs: Sequence[str]) -> None:
        if mail.article is None:
            self.other += 1
            self.stray += bool(slugs)
            return
        self.topical += 1
        self.found += f"article-{mail.article}" in slugs
        self.first += bool(slugs) and slugs[0] == f"article-{mail.article}"

    def __str__(self) -> str:
        return (
            f"{self.found}/{self.topical} mails about an article got it "
            f"({self.first} first); {self.stray}/{self.other} other mails got a suggestion"
        )


def time_report(side: Side, now: dt.datetime) -> float:
    from maildesk.queries import kb_report
    from maildesk.store.scope import using

    best = float("inf")
    with using(side.runtime.db):
        for _ in range(3):
            start = time.perf_counter()
            kb_report.kb_report(now - dt.timedelta(days=30), now, "default", None)
            best = min(best, time.perf_counter() - start)
    return best


@dataclass
class Result:
    label: str
    per_mail_on: float
    per_mail_off: float
    cpu_on: float
    cpu_off: float
    ratio: float
    cpu_ratio: float
    cold_ms: float
    warm_ms: float
    words: int
    quality: Quality
    before: Quality | None
    same: Quality | None  # now, on the mails `before` was measured on
    report_s: float


def measure(database: Database, args: argparse.Namespace, work: Path, the_plan: Plan) -> Result:
    now = dt.datetime.now(dt.UTC)
    say(f"\n{database.label}")
    database.create()
    start = time.perf_counter()
    counts = fill(database.url, the_plan, args.tickets, args.seed, now)
    say(f"  filled in {time.perf_counter() - start:.1f} s: " + ", ".join(
        f"{n:,} {table}" for table, n in counts.items()
    ))  # fmt: skip
    on = Side("kb on", write_config(work / f"{database.label}-on", database.url, None))
    off = Side("kb off", write_config(work / f"{database.label}-off", database.url, 0))
    # Each round's mails are new ones (other words, not only other Message-IDs), so the
    # index meets words it has not read yet as it would in a day's mail. Before the
    # rounds, --warmup other mails, not timed: the daemon has seen some mail since the
    # articles last changed (the cost with every word new is printed apart).
    rounds = [mails(the_plan, args.seed + r, args.mails) for r in range(1, args.rounds + 1)]
    rounds.insert(0, mails(the_plan, args.seed + 1000, args.warmup))
    warmup, corpus = rounds[0], [m for batch in rounds[1:] for m in batch]
    for side in (on, off):
        open_side(side)
    try:
        for side in (on, off):  # warm-up: caches, statements, the index's common words
            warm = [raw_mail(m, f"warm-{side.name[3:]}", n) for n, m in enumerate(warmup)]
            ingest(side, warm, "bench-kb-warmup")
        for round_, batch in enumerate(rounds[1:]):
            order = (on, off) if round_ % 2 == 0 else (off, on)
            for side in order:
                tag = f"r{round_}-{side.name[3:]}"
                raws = [raw_mail(m, tag, n) for n, m in enumerate(batch)]
                wall, cpu, opened = ingest(side, raws, f"bench-kb-{tag}")
                side.wall.append(wall)
                side.cpu.append(cpu)
                side.tickets += opened
            say(
                f"  round {round_ + 1}: {1000 * on.wall[-1] / len(batch):.2f} ms/mail with "
                f"suggestions, {1000 * off.wall[-1] / len(batch):.2f} without "
                f"(ratio {on.wall[-1] / off.wall[-1]:.3f})"
            )
        if any(suggested_by_ticket(off).values()):
            raise BenchError("[kb] suggestions = 0 suggested articles")
        suggestions = suggested_by_ticket(on)
        if not suggestions:
            raise BenchError("[kb] on suggested nothing: there is nothing to measure")
        quality = Quality()
        for ticket, mail in zip(on.tickets, corpus, strict=True):
            quality.add(mail, suggestions.get(ticket, []))
        cold, warm, words = time_suggestions(on, rounds[1])
        earlier = same = None
        if args.before:
            sample = rounds[1][: args.before]
            earlier = before(on, sample, database.label == "PostgreSQL")
            same = Quality()  # the suggestions made now for the same mails
            for ticket, mail in zip(on.tickets, sample, strict=False):
                same.add(mail, suggestions.get(ticket, []))
        report_s = time_report(on, dt.datetime.now(dt.UTC))
    finally:
        for side in (on, off):
            if side.runtime is not None:
                side.runtime.close()
    n = len(corpus)
    return Result(
        database.label,
        1000 * sum(on.wall) / n,
        1000 * sum(off.wall) / n,
        1000 * sum(on.cpu) / n,
        1000 * sum(off.cpu) / n,
        sum(on.wall) / sum(off.wall),
        sum(on.cpu) / sum(off.cpu),
        cold,
        warm,
        words,
        quality,
        earlier,
        same,
        report_s,
    )


def summary(results: Sequence[Result]) -> bool:
    say("\nSummary (per mail, all rounds)")
    passed = True
    for r in results:
        ok = r.ratio < TARGET_RATIO
        passed &= ok
        say(f"  {r.label}:")
        say(f"    with suggestions    {r.per_mail_on:7.2f} ms wall, {r.cpu_on:7.2f} ms CPU")
        say(f"    without             {r.per_mail_off:7.2f} ms wall, {r.cpu_off:7.2f} ms CPU")
        say(
            f"    ratio               {r.ratio:7.3f} wall, {r.cpu_ratio:7.3f} CPU"
            f"   target < {TARGET_RATIO:.2f}: {verdict(ok)}"
        )
        say(
            f"    suggestions alone   {r.cold_ms:7.2f} ms with every word new, "
            f"{r.warm_ms:.2f} ms with every word known ({r.words:,} words kept)"
        )
        say(f"    quality             {r.quality}")
        if r.before is not None and r.same is not None:
            say(f"    the query before    {r.before.ms:7.2f} ms alone; {r.before}")
            say(f"      now, the same mails: {r.same}")
            say(f"      its plan:\n{r.before.plan}")
        say(f"    report kb (30 days) {1000 * r.report_s:7.1f} ms")
    return passed


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/kb",
        description="What knowledge-base suggestions add to taking in a new ticket, with "
        "5,000 articles and 100,000 tickets (see bench/README.md).",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        metavar="F",
        help="articles and tickets times F (default 1: 5,000 and 100,000; 0.1 for a quick run)",
    )
    parser.add_argument(
        "--mails", type=int, default=MAILS, metavar="N", help=f"mails per side and round ({MAILS})"
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, metavar="N", help=f"rounds ({ROUNDS})"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=MAILS,
        metavar="N",
        help=f"mails per side before the rounds, not timed ({MAILS})",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also on this PostgreSQL server, in a schema of its own (dropped at the end)",
    )
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--before",
        type=int,
        default=0,
        metavar="N",
        help="also time the query suggestions ran before on N of the mails, for "
        "comparison (slow: about 0.1 s a mail on SQLite, 1 s on PostgreSQL)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    add_seed_and_workdir(parser, 7, "seed of the articles, tickets and mails (default 7)")
    args = parser.parse_args(argv)
    if args.scale <= 0 or args.mails < MIN_MAILS or args.rounds < 1:
        parser.error(f"--scale must be positive, --mails at least {MIN_MAILS}, --rounds at least 1")
    if args.skip_sqlite and not args.postgres:
        parser.error("--skip-sqlite needs --postgres")
    args.articles = max(50, round(ARTICLES * args.scale))
    args.tickets = max(500, round(TICKETS * args.scale))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-kb-", dir=args.workdir))
    databases: list[Database] = []
    if not args.skip_sqlite:
        databases.append(SqliteDatabase(work))
    if args.postgres:
        databases.append(PostgresDatabase(args.postgres))
    say("maildesk knowledge-base suggestions benchmark")
    say(
        f"  python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"peewee {importlib.metadata.version('peewee')}; {args.articles:,} articles, "
        f"{args.tickets:,} tickets, {args.mails} mails x {args.rounds} rounds per side "
        f"after {args.warmup} not timed"
    )
    the_plan = plan(args.seed, args.articles)
    results = []
    try:
        for database in databases:
            try:
                results.append(measure(database, args, work, the_plan))
            finally:
                database.cleanup()
    except BenchError as exc:
        say(f"\nBROKEN: {exc}")
        return EXIT_BROKEN
    finally:
        if args.keep:
            say(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if summary(results):
        return EXIT_OK
    missed = ", ".join(r.label for r in results if r.ratio >= TARGET_RATIO)
    say(f"\nTarget missed on {missed}.")
    return EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
