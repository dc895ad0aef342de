#!/usr/bin/env python3
"""Web view benchmark for maildesk: page times with 1,000,000 tickets vs 10,000.

Run it with the project's virtualenv (``.venv/bin/python bench/web.py`` or
``bench/web``); see bench/README.md. In one run it

1. plans two databases: the large one (1,000,000 tickets, about 5,000,000
   messages, three years of history) and the small one (10,000 tickets). Both hold
   the same present: the same tickets created in the last 60 days and the same
   old open backlog, with the same messages, tags, events and ratings; what the
   large one has more of is closed history, so the pages should cost what they
   show, not what exists;
2. fills each fresh database through maildesk's migrations, then by direct SQL
   (executemany on SQLite, COPY on PostgreSQL), with the indexes, the full-text
   index and the FTS triggers made again after the rows;
3. serves each database with maildesk's own web application (the runtime, the
   web and uvicorn as the daemon builds them, in a subprocess, on loopback, with
   the clock fixed at the planned moment), signs in as an admin through /login,
   and times each page (the queue's default view, a filter, two searches, a far
   page, a ticket, the reports) N times on each side, alternating the sides;
   every answer must be 200 and show what the page must show, and the pages about
   the present (the queue, the filter, the searches, the reports) must show the
   same on both sides but for the ticket numbers;
4. prints the median and 95th percentile of each page on both sides and their
   ratio large/small (target < 2), and the query plans of a page that misses it;
5. optionally does the same on PostgreSQL (--postgres URL), in databases of its own.

Machines are noisy: only the ratios printed within one run are meaningful.
Exit status: 0 all targets met, 1 a target was missed, 2 something broke
(a page did not answer 200 or did not show what it should, a fill failed, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import difflib
import hashlib
import heapq
import http.client
import importlib.metadata
import itertools
import json
import logging
import os
import pickle
import platform
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    DESK_ADDRESS,
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_TARGET_MISSED,
    MINUTE,
    SLA_TIMES,
    BenchError,
    add_seed_and_workdir,
    clean_env,
    mib,
    plan_lines,
    postgres_admin,
    say,
    settle_sla,
    sla_times,
    verdict,
)

# -- targets and the planned world ------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


TARGET_RATIO = 2.0  # large / small, for the median and the 95th percentile of each page

BIG_TICKETS = 1_000_000  # at --scale 1
SMALL_TICKETS = 10_000
MIN_SCALE = 0.1  # below, the present is too small for every page to show something
# A Wednesday, 09:30 UTC, within the default business hours: the clock of both servers.
NOW = dt.datetime(2026, 3, 4, 9, 30, tzinfo=dt.UTC)
WINDOW = dt.timedelta(days=60)  # the present: the same tickets on both sides
RECENT_SHARE = 0.40  # of the small side: tickets created within WINDOW
OLD_OPEN_SHARE = 0.03  # of the small side: open tickets created before WINDOW (backlog)
OLD_OPEN_SPAN = dt.timedelta(days=300)  # the old open backlog, created before WINDOW
BIG_HISTORY = dt.timedelta(days=3 * 365)  # how far back the large side's tickets go
SMALL_HISTORY = dt.timedelta(days=365)
# The closed history is quiet before WINDOW: created up to HISTORY_GAP before
# HISTORY_QUIET, answered and resolved before it, closed AUTO_CLOSE later and rated
# within two days: nothing of it is in the reports' periods or moves the backlog there.
HISTORY_QUIET = NOW - WINDOW - dt.timedelta(days=5)
HISTORY_GAP = dt.timedelta(days=2)
MERGED_SHARE = 0.01  # of the closed history: merged into the ticket before
CONTACTS_PER_TICKET = 0.25
SHARED_CONTACTS_SHARE = 0.2  # of the small side: the present's requesters are among these
DAY = dt.timedelta(days=1)
REPORT_PERIOD = dt.timedelta(days=30)  # the reports page's default: the last 30 days
DATA_VERSION = 2  # bump when the planned data change: a kept database is then refilled
CHUNK = 10_000  # rows per executemany / COPY
REQUESTS = 40  # timed requests per page and side: the 95th percentile is the 3rd slowest

ADMIN_EMAIL = "bench.admin@desk.example"
ADMIN_PASSWORD = "bench-web-password"
# email, name, role: 14 agents, the admin the bench signs in as, two managers.
STAFF = (
    *(
        (f"{first.lower()}.{last.lower()}@desk.example", f"{first} {last}", "agent")
        for first, last in (
            ("Ada", "Moreau"),
            ("Ben", "Okafor"),
            ("Cem", "Yilmaz"),
            ("Dora", "Lindgren"),
            ("Eli", "Navarro"),
            ("Farah", "Haddad"),
            ("Gus", "Kowalski"),
            ("Hiro", "Tanaka"),
            ("Ines", "Pereira"),
            ("Jon", "Brennan"),
            ("Kira", "Volkova"),
            ("Liam", "Oduya"),
            ("Mona", "Fischer"),
            ("Nils", "Berg"),
        )
    ),
    (ADMIN_EMAIL, "Bench Admin", "admin"),
    ("mia.manager@desk.example", "Mia Manager", "manager"),
    ("max.manager@desk.example", "Max Manager", "manager"),
)
AGENT_IDS = tuple(i + 1 for i, s in enumerate(STAFF) if s[2] == "agent")

PRIORITY_WEIGHTS = (("low", 20), ("medium", 50), ("high", 22), ("urgent", 8))
CATEGORIES = (None, None, None, "billing", "technical", "account", "shipping")
OPEN = ("new", "open", "in_progress", "waiting_on_customer")
# The status of a ticket of the present, by its age.
STATUS_BY_AGE = (
    (dt.timedelta(days=1), (("new", 30), ("open", 25), ("in_progress", 20),
                            ("waiting_on_customer", 10), ("resolved", 15))),
    (dt.timedelta(days=7), (("new", 4), ("open", 14), ("in_progress", 20),
                            ("waiting_on_customer", 20), ("resolved", 42))),
    (WINDOW, (("open", 4), ("in_progress", 6), ("waiting_on_customer", 10), ("resolved", 80))),
)  # fmt: skip
OLD_OPEN_WEIGHTS = (("new", 5), ("open", 35), ("in_progress", 30), ("waiting_on_customer", 30))
MESSAGE_COUNT_WEIGHTS = (9, 11, 13, 13, 13, 12, 10, 8, 6, 5)  # 1..10 messages, mean ~5
TAGS = (
    ("billing", 8), ("refund", 5), ("bug", 8), ("vip", 2), ("urgent-customer", 2),
    ("shipping", 6), ("returns", 4), ("login", 5), ("password", 4), ("invoice", 6),
    ("feature-request", 4), ("api", 3), ("mobile", 4), ("export", 3), ("gdpr", 1),
    ("cancellation", 3), ("upgrade", 3), ("integration", 2), ("outage", 1), ("feedback", 3),
)  # fmt: skip
SCORES = ((5, 45), (4, 25), (3, 12), (2, 8), (1, 10))
RATED_SHARE = 0.25  # of the resolved tickets: rated by the customer

# The searches: one customer wrote five open tickets about one order; the order number
# and the customer's address appear nowhere else (other order numbers are 10000000 to
# 89999999, and this customer's domain is theirs alone).
SEARCH_ORDER = "90417311"
SEARCH_CONTACT = 1  # contact id; the history never uses it
SEARCH_ADDRESS = "hana.lindqvist@fjordline-shipping.example"
SEARCH_TICKETS = 5
FAR_PAGE = 200  # /?status=all&page=200, or the last full page of a smaller small side

FIRST_NAMES = _words(
    "Anna Bruno Carla David Elena Felix Greta Hugo Irene Jakob Klara Lars Maria Noah Olga "
    "Pablo Quinn Rosa Samir Tara Umar Vera Wim Xena Yusuf Zoe Aiko Bela Chen Dalia Emre Fiona "
    "Goran Hanna Ivan Jana Kofi Lena Mateo Nadia Oskar Priya Rafael Sofia Tomas Ulla Viktor "
    "Wanda Yara Zeno"
)
LAST_NAMES = _words(
    "Smith Garcia Muller Rossi Dubois Novak Kim Silva Jensen Ivanova Costa Schmidt Weber "
    "Martin Bernard Kowalczyk Horvat Nagy Popescu Andersen Nielsen Virtanen Murphy Walsh "
    "Byrne Santos Oliveira Fernandes Ruiz Moreno Romano Greco Ricci Bauer Wagner Becker "
    "Hoffmann Schulz Koch Richter Klein Wolf Schroder Neumann Zimmermann Braun Kruger Hartmann "
    "Lange Werner"
)
DOMAINS = (
    "mail.example", "post.example", "inbox.example", "webmail.example",
    "acme-logistics.example", "brightpath.example", "northwind-traders.example",
    "bluepeak-retail.example", "greenleaf-foods.example", "ironclad-systems.example",
    "silverline-media.example", "oakridge-dental.example", "harbor-insurance.example",
    "summit-outdoor.example", "cedar-consulting.example", "redwood-labs.example",
    "lakeside-hotels.example", "pinecrest-school.example", "copperfield-law.example",
    "starling-travel.example", "maple-bakery.example", "quantum-parts.example",
)  # fmt: skip
PROBLEMS = (
    "Cannot log in to",
    "Question about",
    "Problem with",
    "Refund for",
    "Error when opening",
    "Missing",
    "Wrong amount on",
    "How do I change",
    "Cannot download",
    "Delay with",
    "Need help with",
    "Cancel",
    "Update my",
    "Broken",
    "Duplicate charge on",
)
THINGS = (
    "my account",
    "the invoice",
    "my order",
    "the delivery",
    "the mobile app",
    "the export",
    "my subscription",
    "the password reset",
    "the API key",
    "the monthly report",
    "the shipping address",
    "my payment method",
    "the dashboard",
    "the contract",
    "the attachment",
    "two-factor authentication",
    "the webhook",
    "the return label",
)
REAL_WORDS = _words(
    "account invoice order payment login password error export report screen browser update "
    "please thanks hello help issue problem since yesterday today week month again still "
    "cannot could would should will the a an and or but if when then with without from to "
    "for of on in at by about after before during because while this that these those my "
    "your our their it is was were be been have has had do does did not no yes any some all "
    "more most less refund charge card bank transfer delivery parcel tracking address phone "
    "email message reply ticket support team customer service app mobile desktop version "
    "download upload file attachment screenshot link page button form field value number "
    "date time price total amount discount coupon plan subscription trial upgrade downgrade "
    "cancel renew contract term notice manager colleague office warehouse stock item product "
    "size colour return label exchange damaged missing wrong late early quickly soon urgent"
)
SYLLABLES = _words(
    "ka ri to mo na le si pe lu da ve ko ra ni te so ma ki po du fe lo ta vi ne ba zu re mi "
    "gor tan vel dor mir sal ben kor lin tas vor nel pim rud sen hal"
)

# -- text --------------------------------------------------------------------------------


class Text:
    """Sentences to build message bodies from: a vocabulary of real and made-up words,
    drawn with Zipf weights (a few words are everywhere, most are rare), cut into a pool
    of fragments; a body joins a few fragments (cheap, and varied enough for the
    full-text index: its size and its word frequencies are what matter)."""

    def __init__(self, seed: int, fragments: int = 20_000) -> None:
        rng = random.Random(f"{seed}/text")
        made: set[str] = set()
        while len(made) < 4000:
            made.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
        vocabulary = [*REAL_WORDS, *sorted(made)]
        rng.shuffle(vocabulary)
        weights = list(itertools.accumulate(1.0 / rank for rank in range(1, len(vocabulary) + 1)))
        self.pool = []
        for _ in range(fragments):
            words = rng.choices(vocabulary, cum_weights=weights, k=rng.randint(6, 13))
            self.pool.append(" ".join(words).capitalize() + ".")

    def body(self, rng: random.Random, greeting: str, signature: str, extra: str = "") -> str:
        middle = " ".join(rng.choices(self.pool, k=rng.randint(3, 6)))
        return f"{greeting}\n\n{middle}{extra}\n\n{signature}"


def contact_address(contact: int) -> tuple[str, str]:
    """(email, name) of a contact: the same for an id on every side."""
    if contact == SEARCH_CONTACT:
        return SEARCH_ADDRESS, "Hana Lindqvist"
    first = FIRST_NAMES[(contact * 7) % len(FIRST_NAMES)]
    last = LAST_NAMES[(contact // len(FIRST_NAMES)) % len(LAST_NAMES)]
    domain = DOMAINS[(contact * 13) % len(DOMAINS)]
    return f"{first.lower()}.{last.lower()}{contact}@{domain}", f"{first} {last}"


# -- planning tickets --------------------------------------------------------------------


def naive(moment: dt.datetime | None) -> dt.datetime | None:
    """As maildesk stores times: naive UTC (every planned time is in UTC already)."""
    return None if moment is None else moment.replace(tzinfo=None)


def pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights)[0]


class Planner:
    """Tickets' lives up to NOW, drawn from `rng`. Due and warn times come from maildesk's
    own `SlaTracker.retarget` (default [sla] settings, `common.sla_times`); every target
    whose warn or due time passed before the answer, the pause or the resolution is
    marked warned or breached, as the SLA pass would have done (`common.settle_sla`).
    With `cache`, the due times of a ticket are those of the start of its hour shifted
    by the rest (plausible, and a hundred times cheaper for a million closed tickets)."""

    def __init__(self, tracker: Any, rng: random.Random, cache: dict[Any, Any] | None) -> None:
        self.tracker = tracker
        self.rng = rng
        self.cache = cache

    def clocks(self, t: dict[str, Any]) -> None:
        created = t["created_at"]
        if self.cache is None or t["sla_paused_at"] is not None:
            values = sla_times(self.tracker, t)
        else:
            hour = created.replace(minute=0, second=0, microsecond=0)
            key = (t["priority"], hour)  # the default [sla] has no per-category policy
            base = self.cache.get(key)
            if base is None:
                base = self.cache[key] = sla_times(self.tracker, t, hour)
            values = tuple(None if v is None else v + (created - hour) for v in base)
        t.update(zip(SLA_TIMES, values, strict=True))

    def ticket(
        self, created: dt.datetime, status: str, answered: bool, horizon: dt.datetime = NOW
    ) -> dict[str, Any]:
        """A ticket's row (TICKET_FIELDS) and its life: answered on time or late, or not;
        waiting on the customer (the resolution clock paused some time after the
        answer); resolved after the answer, and closed AUTO_CLOSE later if that has
        passed. Nothing happens after `horizon` (the answer, the pause, the resolution,
        the messages)."""
        rng = self.rng
        t: dict[str, Any] = {
            "status": status,
            "priority": pick(rng, PRIORITY_WEIGHTS),
            "category": rng.choice(CATEGORIES),
            "assignee": None if status == "new" or rng.random() < 0.2 else rng.choice(AGENT_IDS),
            "created_at": created,
            "sla_paused_at": None,
            "sla_paused_seconds": 0,
            "first_response_at": None,
            "resolved_at": None,
            "closed_at": None,
            "first_response_warned_at": None,
            "first_response_breached_at": None,
            "resolution_warned_at": None,
            "resolution_breached_at": None,
        }
        self.clocks(t)
        if answered:
            target = t["first_response_due"] or created + dt.timedelta(hours=8)
            at = created + (target - created) * rng.uniform(0.05, 1.3)
            t["first_response_at"] = min(at, horizon - MINUTE)
        settle_sla(t, rng, NOW, horizon, 0.1, self.clocks)
        answered_at = t["first_response_at"]
        t["end"] = horizon  # the conversation happens before this
        t["messages"] = rng.choices(range(1, 11), MESSAGE_COUNT_WEIGHTS)[0]
        if answered_at is None:
            t["messages"] = min(t["messages"], 2)  # the customer, and maybe a reminder
        elif t["messages"] < 2:
            t["messages"] = 2  # the question and the answer
        return t

    def present(self, requesters: int) -> dict[str, Any]:
        """A ticket created within WINDOW; its status drawn by its age."""
        rng = self.rng
        created = NOW - dt.timedelta(seconds=rng.randrange(600, int(WINDOW.total_seconds())))
        weights = next(w for limit, w in STATUS_BY_AGE if NOW - created <= limit)
        status = pick(rng, weights)
        answered = status != "new" and (status != "open" or rng.random() < 0.8)
        t = self.ticket(created, status, answered)
        t["requester"] = rng.randrange(2, requesters + 1)
        return t

    def old_open(self, requesters: int) -> dict[str, Any]:
        """An open ticket created in the OLD_OPEN_SPAN before WINDOW, idle since."""
        rng = self.rng
        span = int(OLD_OPEN_SPAN.total_seconds())
        created = NOW - WINDOW - dt.timedelta(seconds=rng.randrange(span))
        status = pick(rng, OLD_OPEN_WEIGHTS)
        t = self.ticket(created, status, status != "new", created + dt.timedelta(days=30))
        t["requester"] = rng.randrange(2, requesters + 1)
        return t

    def searched(self, index: int) -> dict[str, Any]:
        """One of the SEARCH_TICKETS: open, from SEARCH_CONTACT, about SEARCH_ORDER."""
        created = NOW - dt.timedelta(days=3 + 7 * index, hours=index)
        status = ("open", "in_progress", "waiting_on_customer")[index % 3]
        t = self.ticket(created, status, True)
        t.update(requester=SEARCH_CONTACT, order=SEARCH_ORDER)
        return t

    def closed(self, created: dt.datetime, contacts: int) -> dict[str, Any]:
        t = self.ticket(created, "resolved", True, HISTORY_QUIET)
        t["requester"] = self.rng.randrange(2, contacts + 1)
        return t


@dataclass
class Plan:
    """What both databases share (the present and the old open backlog, each ticket
    with a key that seeds its content), and how the rest (closed history) is drawn."""

    seed: int
    small: int  # tickets of the small side: the shared part is sized by it
    shared: list[dict[str, Any]]  # sorted by creation
    shared_contacts: int
    text: Text
    tracker: Any
    page_size: int

    def contacts(self, n: int) -> int:
        return max(self.shared_contacts, int(n * CONTACTS_PER_TICKET))

    def history(self, n: int) -> Iterator[dict[str, Any]]:
        """The closed tickets of a side with `n` tickets, in creation order."""
        count = n - len(self.shared)
        span = BIG_HISTORY if n > self.small else SMALL_HISTORY
        start = NOW - span
        rng = random.Random(f"{self.seed}/history/{n}")
        seconds = int((HISTORY_QUIET - HISTORY_GAP - start).total_seconds())
        moments = sorted(rng.randrange(seconds) for _ in range(count))
        planner = Planner(self.tracker, rng, cache={})
        contacts = self.contacts(n)
        for index, offset in enumerate(moments):
            t = planner.closed(start + dt.timedelta(seconds=offset), contacts)
            t["key"] = f"h{index}"
            t["merged"] = index > 0 and rng.random() < MERGED_SHARE
            yield t

    def tickets(self, n: int) -> Iterator[dict[str, Any]]:
        """Every ticket of a side with `n` tickets, in creation order (their numbers)."""
        return heapq.merge(self.shared, self.history(n), key=lambda t: t["created_at"])

    def fingerprint(self, n: int) -> str:
        return json.dumps(
            {"version": DATA_VERSION, "seed": self.seed, "tickets": n, "small": self.small},
            sort_keys=True,
        )


def make_plan(seed: int, small: int, page_size: int) -> Plan:
    from maildesk.config import load_config
    from maildesk.tickets.policies import build_policies
    from maildesk.tickets.sla_clock import SlaTracker

    tracker = SlaTracker(build_policies(load_config(None, environ={})))
    shared_contacts = max(SEARCH_CONTACT + 10, int(small * SHARED_CONTACTS_SHARE))
    planner = Planner(tracker, random.Random(f"{seed}/shared"), cache=None)
    recent = max(SEARCH_TICKETS + 20, int(small * RECENT_SHARE))
    old = max(5, int(small * OLD_OPEN_SHARE))
    shared = [planner.searched(i) for i in range(SEARCH_TICKETS)]
    shared += [planner.present(shared_contacts) for _ in range(recent - SEARCH_TICKETS)]
    shared += [planner.old_open(shared_contacts) for _ in range(old)]
    shared.sort(key=lambda t: t["created_at"])
    for index, t in enumerate(shared):
        t["key"] = f"s{index}"
        t["merged"] = False
    if len(shared) * 1.25 > small:
        raise BenchError(f"the small side ({small} tickets) is too small for the plan")
    return Plan(seed, small, shared, shared_contacts, Text(seed), tracker, page_size)


# -- the rows of one ticket --------------------------------------------------------------

TICKET_FIELDS = _words(
    "id number subject status priority category requester assignee created_at "
    "updated_at first_response_at first_response_due resolution_due "
    "first_response_warn_at resolution_warn_at resolved_at closed_at sla_paused_at "
    "sla_paused_seconds first_response_warned_at resolution_warned_at "
    "first_response_breached_at resolution_breached_at escalation_level merged_into "
    "mailbox desk seq"
)
# Two desks: the support desk, and a billing desk with about a third of the tickets. Every
# ticket has a custom `plan` (a select) and, where it names one, an `order` (a link).
DESKS = (
    ("support", "Bench Support", "SUP", DESK_ADDRESS, 0.7),
    ("billing", "Bench Billing", "BIL", "billing@example.com", 0.3),
)
PLANS = (("Basic", 60), ("Pro", 30), ("Enterprise", 10))
FIELD_FIELDS = ("id", "ticket", "name", "value")
MESSAGE_FIELDS = _words(
    "id ticket message_id in_reply_to references direction kind from_email from_name "
    "to cc subject body_text sent_at created_at"
)
EVENT_FIELDS = ("id", "ticket", "at", "actor", "type", "data")
PARTICIPANT_FIELDS = ("id", "ticket", "contact", "role")
TAG_FIELDS = ("id", "ticket", "tag")
SATISFACTION_FIELDS = ("id", "ticket", "score", "comment", "created_at", "updated_at")
ATTACHMENT_FIELDS = ("id", "message", "blob", "filename", "content_type", "size", "inline")
CONTACT_FIELDS = ("id", "email", "name", "created_at")
AGENT_FIELDS = ("id", "email", "name", "role", "password_hash", "created_at")
BLOB_FIELDS = ("sha256", "size", "data", "created_at")
SCREENSHOT = hashlib.sha256(b"bench-web screenshot").digest() * 64  # 2 KiB of "image"
SCREENSHOT_SHA = hashlib.sha256(SCREENSHOT).hexdigest()
COMMENTS = (
    "",
    "",
    "Quick and friendly, thank you!",
    "Took a while but solved.",
    "The answer did not help.",
    "Great support as always.",
)


def json_list(values: Sequence[str]) -> str:
    """`json.dumps` of a list of plain strings (no quotes or backslashes in them)."""
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


class Ids:
    """The next primary key of each table (the fill sets them itself)."""

    def __init__(self) -> None:
        self.next: Counter[str] = Counter()

    def __call__(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table]


def rows_of(
    t: dict[str, Any], number: int, ids: Ids, text: Text, seed: int
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The rows of ticket `t` as number `number`: (table, values in *_FIELDS order). Its
    content comes from its key alone, so a shared ticket is the same on every side."""
    rng = random.Random(f"{seed}/{t['key']}")
    email, name = contact_address(t["requester"])
    first = name.split()[0]
    order = t.get("order") or str(rng.randrange(10_000_000, 90_000_000))
    subject = f"{rng.choice(PROBLEMS)} {rng.choice(THINGS)}"
    if rng.random() < 0.3 or "order" in t:
        subject += f" (order {order})"
    agent = STAFF[(t["assignee"] or rng.choice(AGENT_IDS)) - 1]
    # The conversation: the question, the first answer, then turns until `end`.
    moments = [(t["created_at"], "customer")]
    if t["first_response_at"] is not None:
        moments.append((t["first_response_at"], "agent"))
    start = moments[-1][0]
    end = t["sla_paused_at"] or t["resolved_at"] or t["end"]
    for index in range(t["messages"] - len(moments)):
        kind = "customer" if index % 2 == 0 else ("note" if rng.random() < 0.15 else "agent")
        if t["first_response_at"] is None:
            kind = "customer"
        span = max(60.0, (end - start).total_seconds())
        moments.append((start + dt.timedelta(seconds=rng.uniform(1, span)), kind))
    moments[2:] = sorted(moments[2:])
    ticket_id = ids("ticket")
    message_ids: list[str] = []
    last = t["created_at"]
    for index, (at, kind) in enumerate(moments):
        last = max(last, at)
        message_id = f"<{t['key']}.{index}.{seed}@bench-web.example>"
        if kind == "customer":
            who, who_name, to, direction = email, name, [DESK_ADDRESS], "inbound"
            extra = f" My order number is {order}." if index == 0 and "order" in subject else ""
            body = text.body(rng, "Hello,", f"Best regards,\n{name}", extra)
        else:
            who, who_name = agent[0], agent[1]
            to = [email] if kind == "agent" else [DESK_ADDRESS]
            direction = "outbound" if kind == "agent" else "inbound"
            body = text.body(rng, f"Hi {first}," if kind == "agent" else "Note:", agent[1])
        message_pk = ids("message")
        yield (
            "message",
            (
                message_pk,
                ticket_id,
                message_id,
                json_list(message_ids[-1:]),
                json_list(message_ids[-3:]),
                direction,
                kind,
                who,
                who_name,
                json_list(to),
                "[]",
                subject if index == 0 else f"Re: {subject}",
                body,
                naive(at),
                naive(at),
            ),
        )
        message_ids.append(message_id)
        if kind == "customer" and t["key"][0] == "s" and rng.random() < 0.05:
            yield (
                "attachment",
                (ids("attachment"), message_pk, SCREENSHOT_SHA, "screenshot.png",
                 "image/png", len(SCREENSHOT), False),
            )  # fmt: skip
    updated = max(
        m for m in (last, t["first_response_at"], t["sla_paused_at"], t["closed_at"]) if m
    )
    row = {f: t.get(f) for f in TICKET_FIELDS}
    picked = random.Random(f"{seed}/{t['key']}/desk")  # apart: the content stays as it was
    desk = DESKS[0][0] if picked.random() < DESKS[0][4] else DESKS[1][0]
    row.update(
        id=ticket_id,
        number=number,
        seq=number,  # one number sequence for both desks
        subject=subject,
        updated_at=updated,
        merged_into=ticket_id - 1 if t["merged"] else None,
        mailbox=DESK_ADDRESS,
        desk=desk,
    )
    yield "ticket", tuple(naive(v) if isinstance(v, dt.datetime) else v for v in row.values())
    yield "ticket_field", (ids("ticket_field"), ticket_id, "plan", pick(picked, PLANS))
    if "order" in subject:
        yield "ticket_field", (ids("ticket_field"), ticket_id, "order", order)
    yield "participant", (ids("participant"), ticket_id, t["requester"], "requester")
    if rng.random() < 0.1 and t["requester"] > 2:
        cc = rng.randrange(2, t["requester"])  # an earlier contact: one that exists
        yield "participant", (ids("participant"), ticket_id, cc, "cc")
    tags = {pick(rng, TAGS) for _ in range(rng.choices((0, 1, 2, 3), (35, 40, 18, 7))[0])}
    for tag in sorted(tags):
        yield "ticket_tag", (ids("ticket_tag"), ticket_id, tag)
    yield from events_of(t, ticket_id, subject, email, agent, sorted(tags), ids)
    if t["resolved_at"] is not None and rng.random() < RATED_SHARE:
        rated = t["resolved_at"] + dt.timedelta(minutes=rng.randrange(30, 2 * 24 * 60))
        if rated < NOW:
            yield (
                "satisfaction",
                (ids("satisfaction"), ticket_id, pick(rng, SCORES), rng.choice(COMMENTS),
                 naive(rated), naive(rated)),
            )  # fmt: skip


def events_of(
    t: dict[str, Any],
    ticket_id: int,
    subject: str,
    requester: str,
    agent: tuple[str, str, str],
    tags: list[str],
    ids: Ids,
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The ticket's event log: created, assigned, tagged, the status changes."""
    created = t["created_at"]

    def event(at: dt.datetime, actor: str, kind: str, data: dict[str, Any]) -> tuple:
        return "event", (ids("event"), ticket_id, naive(at), actor, kind, json.dumps(data))

    yield event(created, requester, "created", {"subject": subject, "source": "smtp"})
    if tags:
        yield event(created, "system", "tags_changed", {"added": tags, "removed": []})
    if t["assignee"] is not None:
        yield event(created + MINUTE, "system", "assigned", {"before": None, "after": agent[0]})
    answered = t["first_response_at"]
    if answered is not None:
        yield event(answered, agent[0], "status_changed", {"before": "new", "after": "open"})
    before = "open"
    if t["status"] in ("in_progress", "waiting_on_customer") and answered is not None:
        yield event(answered, agent[0], "status_changed", {"before": "open", "after": t["status"]})
    if t["resolved_at"] is not None:
        data = {"before": before, "after": "resolved"}
        yield event(t["resolved_at"], agent[0], "status_changed", data)
    if t["closed_at"] is not None:
        data = {"before": "resolved", "after": "closed"}
        yield event(t["closed_at"], "system", "status_changed", data)
    if t["merged"]:
        yield event(t["closed_at"] or created, agent[0], "merged_into", {"ticket": ticket_id - 1})


# -- filling a database ------------------------------------------------------------------

# Tables in the order their rows are sent (parents before children), with their fields.
TABLES = (
    ("contact", CONTACT_FIELDS),
    ("agent", AGENT_FIELDS),
    ("blob", BLOB_FIELDS),
    ("ticket", TICKET_FIELDS),
    ("ticket_field", FIELD_FIELDS),
    ("participant", PARTICIPANT_FIELDS),
    ("ticket_tag", TAG_FIELDS),
    ("message", MESSAGE_FIELDS),
    ("attachment", ATTACHMENT_FIELDS),
    ("event", EVENT_FIELDS),
    ("satisfaction", SATISFACTION_FIELDS),
)
FILLED = tuple(name for name, _ in TABLES)


def bind(db: Any) -> Any:
    """Make `db` the database of the models' queries here until `unbind` (maildesk's
    `store.db.using`, entered by hand around a function's try/finally)."""
    from maildesk.store.db import using

    context = using(db)
    context.__enter__()
    return context


def unbind(context: Any) -> None:
    context.__exit__(None, None, None)


def model_of(table: str) -> Any:
    from maildesk.store.models import ALL_MODELS

    return next(m for m in ALL_MODELS if m._meta.table_name == table)


class Loader:
    """Rows buffered per table and sent in chunks, every table in TABLES order (so a
    child row never goes before its parent): on SQLite by executemany, on PostgreSQL by
    COPY. The method of `common.bulk_insert`: peewee builds the one-row INSERT of each
    table once (its column list includes the model's defaults), and the values are
    what maildesk's fields would make of them already (times naive UTC, JSON text)."""

    def __init__(self, db: Any, postgres: bool) -> None:
        self.db = db
        self.postgres = postgres
        self.buffers: dict[str, list[tuple[Any, ...]]] = {name: [] for name in FILLED}
        self.counts: Counter[str] = Counter()
        self.statements: dict[str, tuple[str, tuple[Any, ...]]] = {}

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.buffers[table].append(row)

    def maybe_flush(self) -> None:
        if any(len(rows) >= CHUNK for rows in self.buffers.values()):
            self.flush()

    def flush(self) -> None:
        for table in FILLED:
            rows = self.buffers[table]
            if rows:
                self._send(table, rows)
                self.counts[table] += len(rows)
                self.buffers[table] = []

    def _statement(self, table: str, row: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """The INSERT (SQLite) or COPY (PostgreSQL) of `table`, and the defaults to append."""
        if table not in self.statements:
            model = model_of(table)
            names = dict(TABLES)[table]
            fields = [
                model._meta.primary_key if f in ("id", "sha256") else getattr(model, f)
                for f in names
            ]
            probe = [v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) else v for v in row]
            sql, params = model.insert_many([probe], fields=fields).sql()
            if self.postgres:
                columns = sql[sql.index("(") + 1 : sql.index(") VALUES")]
                sql = f'COPY "{table}" ({columns}) FROM STDIN'
            self.statements[table] = (sql, tuple(params[len(fields) :]))
        return self.statements[table]

    def _send(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        sql, defaults = self._statement(table, rows[0])
        cursor = self.db.cursor()
        if not self.postgres:
            cursor.executemany(sql, [(*row, *defaults) for row in rows])
            return
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row((*row, *defaults))


def fill(url: str, plan: Plan, n: int) -> dict[str, Any]:
    """A fresh database: maildesk's migrations, then every row of the plan for a side of
    `n` tickets, the indexes (and the full-text index) made after the rows. Returns the
    row counts and the time of each step."""
    from maildesk.store.db import is_postgres, open_database, upgrade
    from maildesk.tickets.agents import hash_password

    db = open_database(url)
    bound = bind(db)  # the models' unit of work: this database, until `unbind`
    steps: dict[str, float] = {}
    started = time.perf_counter()
    upgrade(db)
    postgres = is_postgres(db)
    indexes, triggers = drop_indexes(db, postgres)
    steps["schema"] = time.perf_counter() - started
    loader = Loader(db, postgres)
    first = NOW - (BIG_HISTORY if n > plan.small else SMALL_HISTORY) - dt.timedelta(days=1)
    started = time.perf_counter()
    with db.atomic():
        admin_hash = hash_password(ADMIN_PASSWORD)
        for index, (email, name, role) in enumerate(STAFF, start=1):
            password = admin_hash if email == ADMIN_EMAIL else None
            loader.add("agent", (index, email, name, role, password, naive(first)))
        loader.add("blob", (SCREENSHOT_SHA, len(SCREENSHOT), SCREENSHOT, naive(first)))
        for contact in range(1, plan.contacts(n) + 1):
            loader.add("contact", (contact, *contact_address(contact), naive(first)))
            loader.maybe_flush()
        ids = Ids()
        for number, t in enumerate(plan.tickets(n), start=1):
            for table, row in rows_of(t, number, ids, plan.text, plan.seed):
                loader.add(table, row)
            loader.maybe_flush()
        loader.flush()
        if loader.counts["ticket"] != n:
            raise BenchError(f"planned {n} tickets, wrote {loader.counts['ticket']}")
        set_sequences(db, postgres, n)
    steps["rows"] = time.perf_counter() - started
    started = time.perf_counter()
    make_indexes(db, postgres, indexes, triggers)
    steps["indexes"] = time.perf_counter() - started
    started = time.perf_counter()
    finish(db, postgres, plan.fingerprint(n))
    steps["finish"] = time.perf_counter() - started
    unbind(bound)
    db.close()
    return {"counts": dict(loader.counts), "steps": steps}


def drop_indexes(db: Any, postgres: bool) -> tuple[list[str], list[str]]:
    """Drop the secondary indexes of the filled tables (and, on SQLite, the triggers that
    keep `message_fts`); returns the statements that make them again, as the migrations
    made them. A bulk load then sorts once per index instead of growing each B-tree."""
    tables = list(FILLED)
    if postgres:
        rows = db.execute_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE connamespace = current_schema()::regnamespace)",
            (tables,),
        ).fetchall()
        triggers: list[tuple[str, str]] = []
    else:
        marks = ", ".join("?" for _ in tables)
        rows = db.execute_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})",
            tables,
        ).fetchall()
        triggers = db.execute_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'message'"
        ).fetchall()
    for name, _ in rows:
        db.execute_sql(f'DROP INDEX "{name}"')
    for name, _ in triggers:
        db.execute_sql(f'DROP TRIGGER "{name}"')
    if postgres:
        db.execute_sql("SET synchronous_commit = off")
    else:
        # This connection only: no journal, no syncs, a large cache (the file is ours
        # until it is filled; maildesk opens it with its own settings afterwards).
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -1048576"):
            db.execute_sql(f"PRAGMA {pragma}")
    return [sql for _, sql in rows], [sql for _, sql in triggers]


def make_indexes(db: Any, postgres: bool, indexes: list[str], triggers: list[str]) -> None:
    """The dropped indexes and triggers again; on SQLite the FTS table rebuilt from the
    messages (what migration 0005 does for the rows that exist)."""
    if postgres:
        db.execute_sql("SET maintenance_work_mem = '1GB'")
    for sql in indexes:
        db.execute_sql(sql)
    if not postgres:
        db.execute_sql('INSERT INTO "message_fts" ("message_fts") VALUES (\'rebuild\')')
        for sql in triggers:
            db.execute_sql(sql)


def set_sequences(db: Any, postgres: bool, tickets: int) -> None:
    """The ticket number counter (and on PostgreSQL every id sequence) past the rows."""
    if not postgres:
        db.execute_sql(
            'UPDATE "counter" SET "value" = ? WHERE "name" = ?', (tickets, "ticket_number")
        )
        return
    db.execute_sql("SELECT setval('ticket_number_seq', %s)", (tickets,))
    for table in FILLED:
        if table == "blob":
            continue
        db.execute_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false)'
        )


def finish(db: Any, postgres: bool, fingerprint: str) -> None:
    """Mark the database as filled (a kept one is reused only when the mark matches),
    then leave it as maildesk would find it: SQLite back in WAL mode and checkpointed,
    not analysed (a bulk load leaves no statistics); PostgreSQL vacuumed and analysed, as
    autovacuum does soon after a bulk load."""
    from maildesk.store.models import KeyValue

    KeyValue.insert(name=STAMP, value=fingerprint).execute()
    if postgres:
        db.execute_sql("VACUUM ANALYZE")
    else:
        db.execute_sql("PRAGMA journal_mode = WAL")


STAMP = "bench_web_fill"


def stamp_of(url: str) -> str | None:
    """The fill mark of the database at `url`, None if absent or unreadable."""
    import peewee

    from maildesk.store.db import open_database
    from maildesk.store.models import KeyValue

    db = open_database(url)
    bound = bind(db)
    try:
        return KeyValue.select(KeyValue.value).where(KeyValue.name == STAMP).scalar()
    except peewee.PeeweeException:
        return None
    finally:
        unbind(bound)
        db.close()


# -- the databases -----------------------------------------------------------------------


class Side:
    """One database of a backend: `role` big or small, `n` tickets; filled, or reused
    when it was kept from an earlier run with the same plan."""

    label: str
    url: str

    def __init__(self, role: str, n: int, directory: Path) -> None:
        self.role = role
        self.n = n
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "maildesk.toml"

    def write_config(self) -> None:
        self.config.write_text(
            "# written by bench/web\n"
            f'[desk]\nsecret_key = "bench-web-secret"\n\n[database]\nurl = "{self.url}"\n\n'
            "[smtp]\nenabled = false\n\n"
            '[web]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n\n'
            f'[outbound]\nmaildir = "{self.directory / "outbox"}"\n\n'
            '[logging]\nlevel = "warning"\n\n'
            + "".join(
                f'[[desks]]\nslug = "{slug}"\nname = "{name}"\nticket_prefix = "{prefix}"\n'
                f'addresses = ["{address}"]\n\n'
                for slug, name, prefix, address, _ in DESKS
            )
            + '[[field]]\nname = "plan"\ntype = "select"\n'
            f"options = [{', '.join(repr(p) for p, _ in PLANS)}]\n\n"
            '[[field]]\nname = "order"\ntype = "link"\n'
            'link_template = "https://shop.example/orders/{value}"\n',
            encoding="utf-8",
        )

    def prepare(self, plan: Plan, reuse: bool) -> dict[str, Any] | None:
        """Fill the database, or reuse it (then None) when it holds this plan already."""
        if reuse and self.exists() and stamp_of(self.url) == plan.fingerprint(self.n):
            return None
        self.create()
        return fill(self.url, plan, self.n)

    def exists(self) -> bool:
        raise NotImplementedError

    def create(self) -> None:
        raise NotImplementedError

    def size(self) -> str:
        raise NotImplementedError

    def cleanup(self) -> None:
        pass


class SqliteSide(Side):
    def __init__(self, role: str, n: int, directory: Path, data: Path, keep: bool) -> None:
        super().__init__(role, n, directory)
        self.label = "sqlite"
        self.path = data / f"web-{role}-{n}.db"
        self.url = f"sqlite:///{self.path}"
        self.keep = keep
        self.write_config()

    def files(self) -> list[Path]:
        return [Path(f"{self.path}{suffix}") for suffix in ("", "-wal", "-shm")]

    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        for path in self.files():
            path.unlink(missing_ok=True)

    def size(self) -> str:
        return f"{mib(sum(p.stat().st_size for p in self.files() if p.exists()))} on disk"

    def cleanup(self) -> None:
        if not self.keep:
            for path in self.files():
                path.unlink(missing_ok=True)


class PostgresSide(Side):
    """A database of its own on the server, named by role and size (`bench_web_big_1000000`,
    `bench_web_small_10000`), so a run at another scale leaves a kept one alone."""

    def __init__(self, role: str, n: int, directory: Path, server: str, keep: bool) -> None:
        super().__init__(role, n, directory)
        self.label = "postgres"
        self.server = server
        self.name = f"bench_web_{role}_{n}"
        parts = urllib.parse.urlsplit(server)
        self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))
        self.keep = keep
        self.created = False
        self.write_config()

    def _admin_sql(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        admin = postgres_admin(self.server)
        try:
            cursor = admin.execute_sql(sql, params)
            return cursor.fetchall() if cursor.description else []
        except Exception as exc:  # noqa: BLE001 - unreachable, refused, no rights: all fatal
            raise BenchError(f"PostgreSQL at {self.server}: {exc}") from exc
        finally:
            admin.close()

    def exists(self) -> bool:
        return bool(self._admin_sql("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,)))

    def create(self) -> None:
        self._admin_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin_sql(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def size(self) -> str:
        (row,) = self._admin_sql("SELECT pg_database_size(%s)", (self.name,))
        return f"{mib(row[0])} in database {self.name}"

    def cleanup(self) -> None:
        if not self.keep and (self.created or self.exists()):
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- serving -----------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 600.0  # seconds: opening a runtime runs pending migrations first


class Server:
    """maildesk's web application on a database, in a subprocess of this script
    (`--serve`): the runtime, the web and uvicorn as the daemon builds them, the clock
    fixed at NOW, on 127.0.0.1 and a free port."""

    def __init__(self, side: Side, directory: Path, sql_log: Path | None = None) -> None:
        self.side = side
        self.ready = directory / f"ready-{side.label}-{side.role}"
        self.log = directory / f"server-{side.label}-{side.role}.log"
        self.sql_log = sql_log
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""

    def start(self) -> None:
        self.ready.unlink(missing_ok=True)
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            str(self.side.config),
            "--ready",
            str(self.ready),
        ]
        if self.sql_log is not None:
            command += ["--sql-log", str(self.sql_log)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=clean_env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(
                    f"the web server on the {self.side.role} {self.side.label} database did "
                    f"not start:\n{self.tail()}"
                )
            time.sleep(0.05)
        self.address = self.ready.read_text(encoding="ascii").strip()

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def cpu(self) -> float:
        """CPU seconds the server process used so far (it runs SQLite itself)."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve(config_path: Path, ready: Path, sql_log: Path | None) -> int:
    """The `--serve` subprocess: build the web as `maildesk.daemon.app.Daemon` does (without
    the listeners and the jobs), serve until SIGTERM."""
    from maildesk.config import load_config
    from maildesk.daemon import logs
    from maildesk.daemon.app import GIL_SWITCH_INTERVAL
    from maildesk.pipeline.ingest import open_runtime
    from maildesk.web.app import close_web, create_app, open_web
    from maildesk.web.server import WebServer

    config = load_config(config_path, environ={})
    logs.configure(config.logging.level)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)  # as the daemon sets it
    runtime = open_runtime(config, clock=lambda: NOW)
    web = open_web(runtime.desk, runtime.pipeline)
    if sql_log is not None:
        record_statements(sql_log)

    async def run() -> None:
        server = WebServer(create_app(web), config.web.host, config.web.port)
        address = await server.start()
        temporary = ready.with_name(ready.name + ".tmp")
        temporary.write_text(address, encoding="ascii")
        temporary.replace(ready)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await server.stop()

    try:
        asyncio.run(run())
    finally:
        close_web(web)
        runtime.close()
    return EXIT_OK


class StatementFile(logging.Handler):
    """Appends each statement peewee runs (it logs `(sql, params)` at DEBUG) to a file,
    pickled, for the query plans of `--explain`."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.DEBUG)
        self.file = path.open("ab")

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            sql, params = record.msg
            pickle.dump((sql, tuple(params or ())), self.file)
            self.file.flush()


def record_statements(path: Path) -> None:
    peewee_log = logging.getLogger("peewee")
    peewee_log.addHandler(StatementFile(path))
    peewee_log.setLevel(logging.DEBUG)
    peewee_log.propagate = False


def read_statements(path: Path) -> list[tuple[str, tuple[Any, ...]]]:
    found = []
    if path.exists():
        with path.open("rb") as handle:
            while True:
                try:
                    found.append(pickle.load(handle))
                except EOFError:
                    break
    return found


# -- the client --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float


class Browser:
    """A plain HTTP/1.1 client on loopback with the session cookie; a fresh connection
    per request, connected before the clock starts."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.cookie = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=900)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.connect()
            start = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            seconds = time.perf_counter() - start
        except OSError as exc:
            raise BenchError(f"{method} {path}: {exc}") from exc
        finally:
            connection.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                self.cookie = value.split(";", 1)[0]
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data.decode("utf-8", "replace"),
            seconds,
        )

    def sign_in(self, email: str, password: str) -> None:
        form = self.request("GET", "/login")
        found = re.search(r'name="csrf" value="([^"]+)"', form.body)
        if form.status != 200 or found is None:
            raise BenchError(f"GET /login: {form.status}, no form token")
        done = self.request(
            "POST", "/login", {"csrf": found.group(1), "email": email, "password": password,
                               "next": "/"}
        )  # fmt: skip
        if done.status != 303:
            raise BenchError(f"signing in as {email}: {done.status} {done.body[:200]!r}")


# -- the pages ---------------------------------------------------------------------------

PAGES = (
    "queue", "filter", "search order", "search address", "far page", "ticket", "reports",
    "desk queue", "field filter", "customer",
)  # fmt: skip


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    markers: tuple[str, ...]  # each must be in the answer (with status 200)


def shown_ticket(plan: Plan) -> dict[str, Any]:
    """The ticket the ticket page shows: of the present, open, assigned, 7-9 messages."""
    for t in plan.shared:
        if (
            t["requester"] != SEARCH_CONTACT
            and t["status"] in ("open", "in_progress")
            and t["assignee"] is not None
            and 7 <= t["messages"] <= 9
            and t["created_at"] > NOW - WINDOW
        ):
            return t
    raise BenchError("the plan holds no ticket for the ticket page")


def far_page(side: Side, page_size: int) -> int:
    """FAR_PAGE, or the last full page of `side` (the small one) if it has fewer."""
    from maildesk.store.db import open_database
    from maildesk.store.models import Ticket

    db = open_database(side.url)
    bound = bind(db)
    try:
        shown = Ticket.select().where(Ticket.merged_into.is_null()).count()
    finally:
        unbind(bound)
        db.close()
    return max(1, min(FAR_PAGE, shown // page_size))


def pages_of(side: Side, plan: Plan, far: int) -> dict[str, Page]:
    """The pages measured on `side`, each with what it must show, read from the database
    by plain queries (the order the queue documents: updated, newest first)."""
    import peewee

    from maildesk.core.match import format_number
    from maildesk.store.db import open_database
    from maildesk.store.models import Contact, Message, Ticket, TicketField

    prefixes = {slug: prefix for slug, _, prefix, _, _ in DESKS}

    def label(number: int, desk: str) -> str:
        return format_number(prefixes[desk], number)

    db = open_database(side.url)
    bound = bind(db)
    try:

        def first(*where: Any, offset: int = 0) -> str:
            row = (
                Ticket.select(Ticket.number, Ticket.desk)
                .where(Ticket.merged_into.is_null(), *where)
                .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
                .limit(1)
                .offset(offset)
                .tuples()
                .first()
            )
            if row is None:
                raise BenchError(f"{side.role} {side.label}: no ticket for a page's check")
            return label(*row)

        searched = tuple(
            label(n, desk)
            for (n, desk) in Ticket.select(Ticket.number, Ticket.desk)
            .join(Contact, on=Ticket.requester == Contact.id)
            .where(Contact.email == SEARCH_ADDRESS)
            .tuples()
        )
        if len(searched) != SEARCH_TICKETS:
            raise BenchError(f"{side.role} {side.label}: {len(searched)} searched tickets")
        shown = shown_ticket(plan)
        row = (
            Ticket.select(Ticket.number, Ticket.desk, Ticket.subject)
            .join(Message, on=Message.ticket == Ticket.id)
            .where(Message.message_id == f"<{shown['key']}.0.{plan.seed}@bench-web.example>")
            .tuples()
            .first()
        )
        if row is None:
            raise BenchError(f"{side.role} {side.label}: the shown ticket is missing")
        shown_label = label(row[0], row[1])
        open_ = Ticket.status.in_(OPEN)
        unassigned_high = (Ticket.priority == "high") & Ticket.assignee.is_null()
        enterprise = Ticket.id.in_(
            TicketField.select(TicketField.ticket).where(
                (TicketField.name == "plan") & (TicketField.value == "Enterprise")
            )
        )
        pages = [
            Page("queue", "/", (first(open_),)),
            Page("filter", "/?priority=high&assignee=unassigned", (first(open_, unassigned_high),)),
            Page("search order", f"/?q={SEARCH_ORDER}", searched),
            Page("search address", "/?" + urllib.parse.urlencode({"q": SEARCH_ADDRESS}), searched),
            Page(
                "far page",
                f"/?status=all&page={far}",
                (first(peewee.SQL("1 = 1"), offset=(far - 1) * plan.page_size),),
            ),
            Page("ticket", f"/tickets/{shown_label}", (shown_label, row[2])),
            Page("reports", "/reports", ("Reports", f"{NOW - REPORT_PERIOD + DAY:%Y-%m-%d}")),
            Page("desk queue", "/?desk=billing", (first(open_, Ticket.desk == "billing"),)),
            Page("field filter", "/?field=plan%3DEnterprise", (first(open_, enterprise),)),
            Page("customer", f"/contacts/{SEARCH_CONTACT}", (SEARCH_ADDRESS, *searched)),
        ]  # fmt: skip
    finally:
        unbind(bound)
        db.close()
    return {p.name: p for p in pages}


def check(answer: Answer, page: Page, side: Side) -> None:
    where = f"{page.path} on the {side.role} {side.label} database"
    if answer.status != 200:
        raise BenchError(f"{where}: status {answer.status}: {answer.body[:300]!r}")
    missing = [m for m in page.markers if m not in answer.body]
    if missing:
        raise BenchError(f"{where}: the page does not show {', '.join(map(repr, missing))}")


# Pages that show the present only: the same on both sides but for the ticket numbers.
SAME_ON_BOTH = (
    "queue", "filter", "search order", "search address", "reports", "desk queue",
    "field filter",
)  # fmt: skip  # the customer page shows since when the contact is known: not the same
VARYING = (
    (re.compile(r'name="csrf" value="[^"]*"'), 'name="csrf"'),  # a token per session
    (re.compile(r"\b[A-Z][A-Z0-9]*-\d{5,}\b"), "LABEL"),  # ticket labels
    (re.compile(r'name="ticket" value="\d+"'), 'name="ticket"'),  # ticket ids
)


def same_page(name: str, small: str, big: str) -> None:
    """The page shows the same on both sides (the plan holds the same present), else the
    comparison is not like for like and the run is void."""
    lines = []
    for body in (small, big):
        for pattern, replacement in VARYING:
            body = pattern.sub(replacement, body)
        lines.append(body.splitlines())
    if lines[0] != lines[1]:
        diff = list(difflib.unified_diff(lines[0], lines[1], "small", "large", n=0, lineterm=""))
        shown = "\n".join(line[:200] for line in diff[:12])
        raise BenchError(f"the {name} page differs between the databases:\n{shown}")


# -- measuring ---------------------------------------------------------------------------


def percentile95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


@dataclass
class Result:
    backend: str
    page: str
    path: str
    small: list[float] = field(default_factory=list)
    big: list[float] = field(default_factory=list)
    cpu_small: float = 0.0  # server CPU seconds per request
    cpu_big: float = 0.0

    @property
    def ratio(self) -> float:
        return statistics.median(self.big) / statistics.median(self.small)

    @property
    def ratio95(self) -> float:
        return percentile95(self.big) / percentile95(self.small)

    @property
    def passed(self) -> bool:
        return self.ratio < TARGET_RATIO and self.ratio95 < TARGET_RATIO


def measure(
    backend: str,
    sides: tuple[Side, Side],
    pages: dict[str, dict[str, Page]],
    requests: int,
    warmup: int,
    work: Path,
) -> list[Result]:
    """Each page `warmup` times, then `requests` times on each side, alternating which
    side goes first; the server's CPU time is read around each page's requests."""
    servers = [Server(side, work) for side in sides]
    try:
        for server in servers:
            server.start()
        browsers = [Browser(server.address) for server in servers]
        for browser in browsers:
            browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        results = []
        for name in PAGES:
            small_page, big_page = (pages[side.role][name] for side in sides)
            result = Result(backend, name, f"{small_page.path} | {big_page.path}")
            shown: list[str] = []
            for _ in range(max(1, warmup)):
                shown = []
                for side, browser in zip(sides, browsers, strict=True):
                    answer = browser.request("GET", pages[side.role][name].path)
                    check(answer, pages[side.role][name], side)
                    shown.append(answer.body)
            if name in SAME_ON_BOTH:
                same_page(name, *shown)
            cpu = [server.cpu() for server in servers]
            for index in range(requests):
                order = (0, 1) if index % 2 == 0 else (1, 0)
                for i in order:
                    page = pages[sides[i].role][name]
                    answer = browsers[i].request("GET", page.path)
                    check(answer, page, sides[i])
                    (result.small if i == 0 else result.big).append(answer.seconds)
            result.cpu_small, result.cpu_big = (
                (server.cpu() - before) / requests
                for server, before in zip(servers, cpu, strict=True)
            )
            say(
                f"  {name:<15} small {ms(statistics.median(result.small))} "
                f"(p95 {ms(percentile95(result.small))}), big "
                f"{ms(statistics.median(result.big))} (p95 {ms(percentile95(result.big))}), "
                f"ratio {result.ratio:.2f} / p95 {result.ratio95:.2f}   {verdict(result.passed)}"
            )
            results.append(result)
        return results
    finally:
        for server in servers:
            server.stop()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms" if seconds < 10 else f"{seconds:7.2f} s "


# -- query plans -------------------------------------------------------------------------


def page_statements(
    side: Side, pages: dict[str, Page], names: Sequence[str], work: Path
) -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """The statements each page runs on `side` (a server with statement logging on)."""
    log = work / f"statements-{side.label}-{side.role}.pickle"
    log.unlink(missing_ok=True)
    server = Server(side, work, sql_log=log)
    found: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    try:
        server.start()
        browser = Browser(server.address)
        browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        for name in names:
            before = len(read_statements(log))
            check(browser.request("GET", pages[name].path), pages[name], side)
            found[name] = read_statements(log)[before:]
    finally:
        server.stop()
    return found


def time_statement(db: Any, sql: str, params: tuple[Any, ...]) -> float:
    """The best of three runs of one statement, all rows fetched."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        db.execute_sql(sql, params).fetchall()
        best = min(best, time.perf_counter() - start)
    return best


IN_LIST = re.compile(r"\((?:(?:\?|%s), )*(?:\?|%s)\)")  # a list of parameters


def shorten(sql: str) -> str:
    """The statement with a long column list replaced by `...`."""
    if sql.startswith("SELECT ") and " FROM " in sql:
        columns = sql[len("SELECT ") : sql.index(" FROM ")]
        if len(columns) > 80:
            sql = sql.replace(columns, "...", 1)
    return sql


def explain(sides: tuple[Side, Side], pages: dict[str, dict[str, Page]], names: Sequence[str],
            work: Path) -> None:  # fmt: skip
    """For each page in `names`: every SELECT it runs, timed on its own on both sides
    (best of 3), slowest on the large side first, with its plan on the large side."""
    from maildesk.store.db import is_postgres, open_database

    small, big = sides
    statements = {side.role: page_statements(side, pages[side.role], names, work) for side in sides}
    dbs = {side.role: open_database(side.url) for side in sides}
    try:
        postgres = is_postgres(dbs[big.role])
        for name in names:
            ran = statements[big.role][name]
            other = statements[small.role][name]
            say(f"\n  {name} ({pages[big.role][name].path}): {len(ran)} statements on the "
                f"large side; each SELECT timed alone (small / large), slowest first")  # fmt: skip
            rows = []
            for index, (sql, params) in enumerate(ran):
                if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                large = time_statement(dbs[big.role], sql, params)
                twin = other[index] if index < len(other) else ("", ())
                same = IN_LIST.sub("(...)", twin[0]) == IN_LIST.sub("(...)", sql)
                little = time_statement(dbs[small.role], *twin) if same else float("nan")
                rows.append((large, little, sql, params))
            for large, little, sql, params in sorted(rows, key=lambda r: -r[0]):
                say(f"    {ms(little)} / {ms(large)}  {shorten(sql)}")
                say(f"      params {params!r:.200}")
                for line in plan_lines(dbs[big.role], postgres, sql, params):
                    say(f"        {line}")
    finally:
        for db in dbs.values():
            db.close()


# -- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/web",
        description="Benchmark maildesk's web pages on a large and a small database "
        "(see bench/README.md).",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        metavar="F",
        help=f"shrink (or grow) both databases: {BIG_TICKETS:,} and {SMALL_TICKETS:,} tickets "
        "times F (default 1)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=REQUESTS,
        metavar="N",
        help=f"timed requests per page and database (default {REQUESTS})",
    )
    parser.add_argument(
        "--warmup", type=int, default=3, metavar="N", help="untimed requests first (default 3)"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on this PostgreSQL server, in databases bench_web_big_N and "
        "bench_web_small_N (created, and dropped after), e.g. "
        "postgresql://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--skip-sqlite", action="store_true", help="PostgreSQL only (with --postgres)"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print every page's statements, timed alone on both sides, with their plans "
        "(printed anyway for a page that misses its target)",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="keep the SQLite databases in DIR and reuse them in later runs with the same "
        "--scale and --seed (default: filled afresh in the work dir, deleted after)",
    )
    parser.add_argument(
        "--keep-postgres",
        action="store_true",
        help="keep the PostgreSQL databases, and reuse them in later runs when they match",
    )
    add_seed_and_workdir(parser, 20260304, "seed of the fill")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--serve", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--ready", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--sql-log", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is None:
        if args.scale <= 0:
            parser.error("--scale must be positive")
        if args.requests < 2 or args.warmup < 0:
            parser.error("--requests must be at least 2, --warmup not negative")
        if args.skip_sqlite and not args.postgres:
            parser.error("--skip-sqlite needs --postgres")
        if args.scale < MIN_SCALE:
            parser.error(f"--scale must be at least {MIN_SCALE} (1,000 tickets on the small side)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.serve is not None:
        sql_log = Path(args.sql_log) if args.sql_log else None
        return serve(Path(args.serve), Path(args.ready), sql_log)
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-web-", dir=args.workdir))
    sides: list[Side] = []
    try:
        return run(args, work, sides)
    except BenchError as exc:
        say(f"\nBROKEN: {exc}")
        return EXIT_BROKEN
    finally:
        for side in sides:
            try:
                side.cleanup()
            except Exception as exc:  # noqa: BLE001 - reported, the rest still cleaned up
                say(f"could not clean up the {side.role} {side.label} database: {exc}")
        if args.keep:
            say(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def prepare(side: Side, plan: Plan, reuse: bool) -> None:
    """Fill (or reuse) one database and bring its schema up to date; says how long."""
    from maildesk.store.db import open_database, upgrade

    started = time.perf_counter()
    filled = side.prepare(plan, reuse)
    took = time.perf_counter() - started
    if filled is None:
        say(f"  {side.role}: reused the kept database ({side.n:,} tickets)")
    else:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in filled["steps"].items())
        say(f"  {side.role}: {side.n:,} tickets filled in {took:.1f} s ({steps})")
        say("    rows: " + ", ".join(f"{k} {v:,}" for k, v in filled["counts"].items()))
    db = open_database(side.url)
    bound = bind(db)
    try:
        started = time.perf_counter()
        applied = upgrade(db)
    finally:
        unbind(bound)
        db.close()
    if applied:
        say(f"    migrations applied: {', '.join(applied)} ({time.perf_counter() - started:.1f} s)")
    say(f"    {side.size()}")


def run(args: argparse.Namespace, work: Path, sides: list[Side]) -> int:
    from maildesk.config import load_config

    started = time.perf_counter()
    big_n, small_n = round(BIG_TICKETS * args.scale), round(SMALL_TICKETS * args.scale)
    config = load_config(None, environ={})
    say("maildesk web view benchmark")
    say(
        f"  python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"peewee {importlib.metadata.version('peewee')}, "
        f"uvicorn {importlib.metadata.version('uvicorn')}, {os.cpu_count()} CPUs, "
        f"{platform.machine()}"
    )
    say(f"  work dir {work}; now = {NOW.isoformat()} on both servers")
    say("  only ratios within this run are meaningful; absolute times vary between runs")
    plan_start = time.perf_counter()
    plan = make_plan(args.seed, small_n, config.web.page_size)
    recent = sum(t["created_at"] > NOW - WINDOW for t in plan.shared)
    say(
        f"\n[1] plan ({time.perf_counter() - plan_start:.1f} s): {big_n:,} and {small_n:,} "
        f"tickets; both hold the same {len(plan.shared):,} ({recent:,} created in the last "
        f"{WINDOW.days} days, {len(plan.shared) - recent:,} open older backlog); the rest is "
        f"closed history over {BIG_HISTORY.days // 365} and {SMALL_HISTORY.days // 365} year(s)"
    )
    backends: list[tuple[str, Callable[[str, int], Side], bool]] = []
    if not args.skip_sqlite:
        data = Path(args.data) if args.data else work / "data"
        data.mkdir(parents=True, exist_ok=True)
        keep = bool(args.data)
        backends.append(
            (
                "sqlite",
                lambda role, n: SqliteSide(role, n, work / f"sqlite-{role}", data, keep),
                keep,
            )
        )
    if args.postgres:
        server, keep_pg = args.postgres, args.keep_postgres

        def make_pg(role: str, n: int) -> Side:
            return PostgresSide(role, n, work / f"pg-{role}", server, keep_pg)

        backends.append(("postgres", make_pg, keep_pg))
    results: list[Result] = []
    for step, (backend, make, reuse) in enumerate(backends, start=2):
        pair = (make("small", small_n), make("big", big_n))
        sides += pair
        say(f"\n[{step}] {backend}: fill")
        for side in pair:
            prepare(side, plan, reuse)
        far = far_page(pair[0], plan.page_size)
        pages = {side.role: pages_of(side, plan, far) for side in pair}
        say(
            f"  measure: {args.warmup} warm-up and {args.requests} timed requests per page "
            "and database, alternating the databases"
        )
        found = measure(backend, pair, pages, args.requests, args.warmup, work)
        results += found
        missed = [r.page for r in found if not r.passed]
        if missed or args.explain:
            say(f"\n  query plans ({backend}):")
            explain(pair, pages, PAGES if args.explain else missed, work)
    report(results, small_n, big_n)
    say(f"  total time {time.perf_counter() - started:.1f} s")
    failed = [f"{r.backend} {r.page}" for r in results if not r.passed]
    if failed:
        say(f"\ntargets missed: {', '.join(failed)}")
        return EXIT_TARGET_MISSED
    say("\nall targets met")
    return EXIT_OK


def report(results: Sequence[Result], small_n: int, big_n: int) -> None:
    say(f"\nsummary: median and 95th percentile per page, {small_n:,} tickets (small) vs "
        f"{big_n:,} (large); target: both ratios < {TARGET_RATIO}")  # fmt: skip
    say(
        f"  {'backend':<8} {'page':<15} {'small':>10} {'p95':>10} {'large':>10} {'p95':>10} "
        f"{'ratio':>6} {'p95':>6}  {'server CPU/request':>22}  result"
    )
    for r in results:
        cpu = f"{r.cpu_small * 1000:.1f} / {r.cpu_big * 1000:.1f} ms"
        say(
            f"  {r.backend:<8} {r.page:<15} {ms(statistics.median(r.small))} "
            f"{ms(percentile95(r.small))} {ms(statistics.median(r.big))} "
            f"{ms(percentile95(r.big))} {r.ratio:6.2f} {r.ratio95:6.2f}  {cpu:>22}  "
            f"{verdict(r.passed)}"
        )
    if any(r.backend == "postgres" for r in results):
        say(
            "  (server CPU: the maildesk process; on PostgreSQL the database server's is not in it)"
        )


if __name__ == "__main__":
    sys.exit(main())
