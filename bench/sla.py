#!/usr/bin/env python3
"""SLA pass and daily digest benchmark for maildesk: cost with 100,000 tickets vs 1,000.

Run it with the project's virtualenv (``.venv/bin/python bench/sla.py`` or
``bench/sla``); see bench/README.md. In one run it

1. fills two fresh SQLite databases with tickets (100,000 and 1,000 by default)
   whose due and warn times are computed by maildesk's own SLA tracker. Both hold
   the same recent tickets (created in the last 30 days: 100 needing something at
   the measured moment, 50 first-response breaches and 50 resolution warnings, and
   by default 300 others, answered, resolved, breached and warned in every way);
   the rest is an idle backlog of open tickets created in the year before, so what
   grows is the backlog, not the recent activity;
2. times one `Jobs.sla_pass(now)`, `Jobs.figures(now)` (the digest's figures)
   and `Jobs.send_digests(now)` on a fresh copy of each database per repetition,
   alternating the two sizes, and checks what each one did;
3. prints the median times and the ratio large/small of each (target < 2: the
   work must follow what is due, not how many tickets exist);
4. optionally does the same on PostgreSQL (--postgres URL), in schemas of its own.

Machines are noisy: only the ratios printed within one run are meaningful.
Exit status: 0 all targets met, 1 a target was missed, 2 something broke
(a pass did not do exactly the expected work, a database could not be filled, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import logging
import os
import platform
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    DESK_ADDRESS,
    DONE,
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_TARGET_MISSED,
    MINUTE,
    SLA_TIMES,
    BenchError,
    Row,
    add_seed_and_workdir,
    bulk_insert,
    mib,
    plan_lines,
    postgres_admin,
    say,
    settle_sla,
    sla_times,
    timed,
    verdict,
)

# -- targets -----------------------------------------------------------------------------

TARGET_RATIO = 2.0  # median time on the large database / on the small one, per phase

# A Wednesday, 09:30 UTC: within the default business hours (mon-fri 09:00-17:00 UTC),
# and after the default digest_time (08:00), so the day's digest is due.
NOW = dt.datetime(2026, 3, 4, 9, 30, tzinfo=dt.UTC)
WINDOW = dt.timedelta(days=30)  # the digest's longest period: the recent tickets are in it
BACKLOG_SPAN = dt.timedelta(days=365)  # the backlog was created over the year before WINDOW
RECENT = dt.timedelta(hours=6)  # the tickets needing action became due in the last 6 hours
BREACHES = 50  # first-response due passed, breach not yet recorded
WARNINGS = 50  # resolution warn time passed, not yet warned
RECENT_TICKETS = 300  # default --recent: other tickets created within WINDOW
RECENT_CONTACTS = 100  # the recent tickets' requesters are among the first contacts

PRIORITY_WEIGHTS = (("low", 20), ("medium", 50), ("high", 22), ("urgent", 8))
# The backlog: open tickets. The recent tickets: those and resolved ones too (closed
# AUTO_CLOSE after their resolution, as maildesk's auto-close does).
STATUS_WEIGHTS = (("new", 15), ("open", 35), ("in_progress", 30), ("waiting_on_customer", 20))
RECENT_STATUS_WEIGHTS = (
    ("new", 10),
    ("open", 20),
    ("in_progress", 20),
    ("waiting_on_customer", 15),
    ("resolved", 35),
)
OPEN_STATUSES = tuple(s for s, _ in STATUS_WEIGHTS)
CATEGORIES = (None, None, None, "billing", "technical", "account")
# email, name, role, away: five agents (one away, so four are on duty) and two managers.
STAFF = (
    ("ada.agent@desk.example", "Ada Agent", "agent", False),
    ("ben.agent@desk.example", "Ben Agent", "agent", False),
    ("cem.agent@desk.example", "Cem Agent", "agent", False),
    ("dora.agent@desk.example", "Dora Agent", "agent", False),
    ("eli.agent@desk.example", "Eli Agent", "agent", True),
    ("mia.manager@desk.example", "Mia Manager", "manager", False),
    ("max.manager@desk.example", "Max Manager", "manager", False),
)
AGENT_IDS = tuple(i + 1 for i, s in enumerate(STAFF) if s[2] == "agent")
ON_DUTY = sum(1 for s in STAFF if s[2] in ("agent", "admin") and not s[3])
MANAGERS = tuple(s[0] for s in STAFF if s[2] == "manager")
PHASES = ("sla_pass", "figures", "send_digests")

# -- the tickets -------------------------------------------------------------------------

# Ticket fields the fill sets (the others keep their defaults); every planned row has them.
TICKET_FIELDS = (
    "id",
    "number",
    "seq",
    "subject",
    "status",
    "priority",
    "category",
    "requester",
    "assignee",
    "created_at",
    "updated_at",
    "resolved_at",
    "closed_at",
    "first_response_at",
    "first_response_due",
    "first_response_warn_at",
    "first_response_warned_at",
    "first_response_breached_at",
    "resolution_due",
    "resolution_warn_at",
    "resolution_warned_at",
    "resolution_breached_at",
    "sla_paused_at",
    "sla_paused_seconds",
    "escalation_level",
)
# The SLA moments of a row; none of a backlog ticket's falls within WINDOW of NOW.
MOMENTS = (
    "first_response_at",
    "first_response_due",
    "first_response_warn_at",
    "first_response_warned_at",
    "first_response_breached_at",
    "resolution_due",
    "resolution_warn_at",
    "resolution_warned_at",
    "resolution_breached_at",
)


@dataclass
class Plan:
    """What one database holds, and what the pass and the digest should find in it."""

    tickets: list[dict[str, Any]]  # TICKET_FIELDS -> value; ids 1..n in creation order
    contacts: int
    breach_ids: list[int]
    warning_ids: list[int]
    warning_mails: int  # sla_warning rows the pass should queue
    breaches_24h: int  # digest entries expected before the pass
    at_risk_24h: int
    statuses: dict[str, int] = field(default_factory=dict)  # every status, open and done
    recent: int = 0  # tickets created within WINDOW (those needing action included)
    fingerprint: int = 0  # of the recent tickets: the same in every database

    @property
    def breach_mails(self) -> int:
        return len(self.breach_ids) * len(MANAGERS)

    @property
    def open_total(self) -> int:
        return sum(self.statuses.get(s, 0) for s in OPEN_STATUSES)


class Planner:
    """Ticket rows whose due and warn times come from `sla.retarget` (maildesk's
    SlaTracker) on unsaved Ticket objects (`common.sla_times`), drawn from `rng`; every
    target whose warn or due time has passed is marked warned or breached as the SLA pass
    would have done it (`common.settle_sla`), so a planned ticket needs nothing at NOW
    unless it is planned to."""

    def __init__(self, sla: Any, rng: random.Random) -> None:
        self.sla = sla
        self.rng = rng

    def clocks(self, row: dict[str, Any]) -> None:
        row.update(zip(SLA_TIMES, sla_times(self.sla, row), strict=True))

    def draft(self, created: dt.datetime, status: str) -> dict[str, Any]:
        """A ticket created at `created`, both clocks running, nothing done yet."""
        rng = self.rng
        row = dict.fromkeys(TICKET_FIELDS)
        row.update(
            status=status,
            priority=rng.choices(*zip(*PRIORITY_WEIGHTS, strict=True))[0],
            category=rng.choice(CATEGORIES),
            assignee=None if status == "new" or rng.random() < 0.25 else rng.choice(AGENT_IDS),
            created_at=created,
            sla_paused_seconds=0,
            escalation_level=0,
        )
        self.clocks(row)
        return row

    def life(self, created: dt.datetime, status: str, answered: bool) -> dict[str, Any]:
        """A ticket's life up to NOW: answered (on time or late) or not; a ticket
        waiting on the customer paused (its resolution clock stopped) some time after
        the answer; a resolved one resolved after the answer (on time or late), and
        closed AUTO_CLOSE later if that has passed. Warnings and breaches recorded up to
        the answer (first response) and up to the pause or the resolution (resolution)."""
        rng = self.rng
        row = self.draft(created, status)
        first_due = row["first_response_due"]
        if answered and first_due is not None:
            at = created + (first_due - created) * rng.uniform(0.1, 1.3)
            row["first_response_at"] = min(at, NOW - MINUTE)
        settle_sla(row, rng, NOW, NOW, 0.2, self.clocks)
        return row

    def recent(self) -> dict[str, Any]:
        """A ticket created within WINDOW, of any status; its requester among the first
        RECENT_CONTACTS contacts."""
        rng = self.rng
        status = rng.choices(*zip(*RECENT_STATUS_WEIGHTS, strict=True))[0]
        created = NOW - dt.timedelta(seconds=rng.randrange(3600, int(WINDOW.total_seconds())))
        answered = (
            status in DONE
            or status == "waiting_on_customer"
            or (status != "new" and rng.random() < 0.85)
        )
        row = self.life(created, status, answered)
        row["requester"] = rng.randrange(RECENT_CONTACTS) + 1
        return row

    def backlog(self, contacts: int) -> dict[str, Any]:
        """An open ticket created in the BACKLOG_SPAN before WINDOW, idle: all its SLA
        moments (answer, warn and due times, warnings, breaches) lie more than WINDOW
        before NOW, so nothing of it is due, at risk, or in the digest's periods. A draw
        with a moment within WINDOW (a low-priority ticket's resolution target is some
        30 days) is drawn again."""
        rng = self.rng
        start, span = NOW - WINDOW - BACKLOG_SPAN, int(BACKLOG_SPAN.total_seconds())
        quiet = NOW - WINDOW
        for _ in range(100):
            status = rng.choices(*zip(*STATUS_WEIGHTS, strict=True))[0]
            created = start + dt.timedelta(seconds=rng.randrange(span))
            answered = status == "waiting_on_customer" or (status != "new" and rng.random() < 0.9)
            row = self.life(created, status, answered)
            if all(row[k] is None or row[k] < quiet for k in MOMENTS):
                row["requester"] = rng.randrange(contacts) + 1
                return row
        raise BenchError("could not plan an idle backlog ticket in 100 draws")

    def needing(self, kind: str, count: int) -> list[dict[str, Any]]:
        """Tickets whose first-response due (breach) or resolution warn time (warning)
        passed within RECENT before NOW, with nothing else to do, created within WINDOW.
        For a random moment in RECENT, the creation time is found by bisection (that due
        or warn time only grows with it); drafts that would need more than the one action
        are dropped."""
        rng, sla = self.rng, self.sla
        from maildesk.store.models import Ticket

        key = "first_response_due" if kind == "breach" else "resolution_warn_at"
        found: list[dict[str, Any]] = []
        tries = 0
        while len(found) < count:
            tries += 1
            if tries > 100 * count:
                raise BenchError(f"could not plan {count} tickets needing a {kind}")
            status = rng.choice(("new", "open") if kind == "breach" else ("open", "in_progress"))
            template = self.draft(NOW, status)
            aim = NOW - RECENT * rng.random()
            probe = Ticket(priority=template["priority"], category=template["category"])
            if not sla.business_duration(probe, aim - dt.timedelta(seconds=1), aim):
                continue  # outside business hours: no due or warn time falls there

            def back(seconds: int, template: dict[str, Any] = template) -> dict[str, Any]:
                row = {**template, "created_at": NOW - dt.timedelta(seconds=seconds)}
                self.clocks(row)
                return row

            # the latest creation whose `key` is <= aim, within WINDOW
            low, high = 60, int((WINDOW - dt.timedelta(hours=1)).total_seconds())
            if template[key] is None or back(high)[key] > aim:
                continue
            while low < high:
                middle = (low + high) // 2
                if back(middle)[key] <= aim:
                    high = middle
                else:
                    low = middle + 1
            row = back(low)
            if not NOW - RECENT < row[key] <= NOW:
                continue
            if kind == "breach":
                if row["resolution_warn_at"] <= NOW:
                    continue
                row["first_response_warned_at"] = row["first_response_warn_at"]
            else:
                if row["resolution_due"] <= NOW:
                    continue
                row["first_response_at"] = row["created_at"] + (
                    row["first_response_warn_at"] - row["created_at"]
                ) * rng.uniform(0.1, 0.9)
            row["action"] = kind
            row["requester"] = rng.randrange(RECENT_CONTACTS) + 1
            found.append(row)
        return found


def plan_tickets(n: int, recent: int, seed: int, sla: Any) -> Plan:
    """`n` tickets: BREACHES + WARNINGS needing action at NOW and `recent` others created
    within WINDOW, drawn from `seed` alone (the same in every database, whatever `n`),
    and n - those of idle backlog, created before WINDOW (drawn from `seed` and `n`)."""
    needed = BREACHES + WARNINGS + recent
    if n < needed:
        raise BenchError(f"need at least {needed} tickets, got {n}")
    planner = Planner(sla, random.Random(seed))
    breaches = planner.needing("breach", BREACHES)
    warnings = planner.needing("warning", WARNINGS)
    latest = [planner.recent() for _ in range(recent)]
    contacts = max(RECENT_CONTACTS, n // 4)
    planner = Planner(sla, random.Random(f"{seed}/backlog/{n}"))
    backlog = [planner.backlog(contacts) for _ in range(n - needed)]
    fresh = breaches + warnings + latest
    everything = sorted(backlog + fresh, key=lambda r: (r["created_at"], r["priority"]))
    plan = Plan([], contacts, [], [], 0, 0, 0, dict.fromkeys(OPEN_STATUSES + DONE, 0))
    plan.recent = len(fresh)
    plan.fingerprint = hash(
        tuple(sorted(tuple((k, str(r[k])) for k in TICKET_FIELDS[4:]) for r in fresh))
    )
    for index, row in enumerate(everything, start=1):
        action = row.pop("action", None)
        row["id"] = row["number"] = row["seq"] = index
        row["subject"] = f"Planned ticket {index}"
        row["updated_at"] = max(
            t
            for t in (row["created_at"], row["first_response_at"], row["sla_paused_at"])
            if t is not None
        )
        if row["closed_at"] is not None:
            row["updated_at"] = row["closed_at"]
        if action == "breach":
            plan.breach_ids.append(index)
        elif action == "warning":
            plan.warning_ids.append(index)
            plan.warning_mails += 1 if row["assignee"] is not None else ON_DUTY
        plan.statuses[row["status"]] += 1
        plan.tickets.append(row)
    plan.breaches_24h, plan.at_risk_24h = digest_expectations(plan.tickets)
    return plan


def digest_expectations(tickets: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Entries the digest should list: breaches recorded in the last 24 hours, and
    targets at risk in the next 24 hours (the digest's own rules, over the plan)."""
    day = dt.timedelta(days=1)
    breaches = at_risk = 0
    for t in tickets:
        for key in ("first_response_breached_at", "resolution_breached_at"):
            if t[key] is not None and NOW - day <= t[key] < NOW:
                breaches += 1
        if t["sla_paused_at"] is not None or t["status"] in DONE:
            continue
        due = t["first_response_due"]
        if t["first_response_at"] is None and t["first_response_breached_at"] is None:
            at_risk += due is not None and NOW <= due < NOW + day
        due = t["resolution_due"]
        if t["resolution_breached_at"] is None:
            at_risk += due is not None and NOW <= due < NOW + day
    return breaches, at_risk


# -- filling a database ------------------------------------------------------------------


def fill(url: str, plan: Plan, seed: int) -> dict[str, int]:
    """Schema (maildesk's migrations), staff, contacts, the planned tickets, a requester
    participant, one inbound message and a `created` event per ticket; one transaction.
    Returns the row counts."""
    import peewee

    from maildesk.store.db import is_postgres, open_database, upgrade, using
    from maildesk.store.fields import JSONTextField, UTCDateTimeField
    from maildesk.store.models import (
        Agent,
        Contact,
        Counter,
        Event,
        Message,
        Participant,
        Ticket,
    )

    rng = random.Random(seed)
    converted = (UTCDateTimeField, JSONTextField, peewee.BooleanField)
    db = open_database(url)
    upgrade(db)
    postgres = is_postgres(db)
    if not postgres:
        db.execute_sql("PRAGMA cache_size = -262144")  # 256 MiB for this filling connection only

    def insert(model: Any, fields: Sequence[Any], rows: Iterable[tuple[Any, ...]]) -> int:
        return bulk_insert(db, model, fields, rows, converted)

    def pk(model: Any) -> Any:
        return model._meta.primary_key

    first = min(t["created_at"] for t in plan.tickets)
    ticket_fields = [pk(Ticket) if f == "id" else getattr(Ticket, f) for f in TICKET_FIELDS]
    words = "account invoice order payment login error export report screen browser update"
    body = " ".join(rng.choice(words.split()) for _ in range(60))
    counts: dict[str, int] = {}
    with using(db), db.atomic():  # the models run on the unit of work's database
        counts["agent"] = insert(
            Agent,
            (pk(Agent), Agent.email, Agent.name, Agent.role, Agent.away, Agent.created_at),
            (
                (i, email, name, role, away, first)
                for i, (email, name, role, away) in enumerate(STAFF, start=1)
            ),
        )
        counts["contact"] = insert(
            Contact,
            (pk(Contact), Contact.email, Contact.name, Contact.created_at),
            (
                (c, f"customer{c:06d}@sla.example", f"Customer {c}", first)
                for c in range(1, plan.contacts + 1)
            ),
        )
        counts["ticket"] = insert(
            Ticket, ticket_fields, (tuple(t[f] for f in TICKET_FIELDS) for t in plan.tickets)
        )
        counts["participant"] = insert(
            Participant,
            (pk(Participant), Participant.ticket, Participant.contact, Participant.role),
            ((t["id"], t["id"], t["requester"], "requester") for t in plan.tickets),
        )
        counts["message"] = insert(
            Message,
            (
                pk(Message),
                Message.ticket,
                Message.message_id,
                Message.direction,
                Message.in_reply_to,
                Message.references,
                Message.kind,
                Message.from_email,
                Message.from_name,
                Message.to,
                Message.cc,
                Message.subject,
                Message.body_text,
                Message.sent_at,
                Message.created_at,
            ),
            (
                (
                    t["id"],
                    t["id"],
                    f"<sla.{t['id']}@sla.example>",
                    "inbound",
                    [],
                    [],
                    "customer",
                    f"customer{t['requester']:06d}@sla.example",
                    f"Customer {t['requester']}",
                    [DESK_ADDRESS],
                    [],
                    t["subject"],
                    body,
                    t["created_at"],
                    t["created_at"],
                )
                for t in plan.tickets
            ),
        )
        counts["event"] = insert(
            Event,
            (pk(Event), Event.ticket, Event.at, Event.actor, Event.type, Event.data),
            (
                (
                    t["id"],
                    t["id"],
                    t["created_at"],
                    f"customer{t['requester']:06d}@sla.example",
                    "created",
                    {"subject": t["subject"], "source": "bench-prefill"},
                )
                for t in plan.tickets
            ),
        )
        if postgres:
            db.execute_sql("SELECT setval('ticket_number_seq', %s)", (len(plan.tickets),))
            for model in (Agent, Contact, Ticket, Participant, Message, Event):
                table = model._meta.table_name
                db.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT MAX(id) FROM "{table}"))'
                )
        else:
            Counter.update(value=len(plan.tickets)).where(Counter.name == "ticket_number").execute()
    if postgres:  # what autovacuum does soon after a bulk load (PostgreSQL 13 and later)
        tables = (Agent, Contact, Ticket, Participant, Message, Event)
        db.execute_sql("VACUUM ANALYZE " + ", ".join(f'"{m._meta.table_name}"' for m in tables))
    db.close()
    return counts


# -- the databases -----------------------------------------------------------------------


class Side:
    """One filled database and a fresh copy of it per measurement."""

    label: str
    url: str

    def __init__(self, n: int, plan: Plan, directory: Path) -> None:
        self.n = n
        self.plan = plan
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "maildesk.toml"

    def write_config(self, url: str) -> None:
        self.config.write_text(
            "# written by bench/sla\n"
            "[database]\n"
            f'url = "{url}"\n'
            "\n[desk]\n"
            'secret_key = "bench-sla-secret"\n'
            "\n[outbound]\n"
            f'maildir = "{self.directory / "outbox"}"\n',
            encoding="utf-8",
        )

    def fill(self, seed: int) -> dict[str, int]:
        raise NotImplementedError

    def fresh(self) -> None:
        """Make the database as filled again (before each measurement)."""
        raise NotImplementedError

    def size(self) -> str:
        return ""

    def cleanup(self) -> None:
        pass


class SqliteSide(Side):
    """The filled file is copied over the measured one before each measurement."""

    def __init__(self, n: int, plan: Plan, directory: Path) -> None:
        super().__init__(n, plan, directory)
        self.label = "sqlite"
        self.base = directory / "filled.db"
        self.live = directory / "maildesk.db"
        self.url = f"sqlite:///{self.live}"
        self.write_config(self.url)

    def fill(self, seed: int) -> dict[str, int]:
        counts = fill(f"sqlite:///{self.base}", self.plan, seed)
        for suffix in ("-wal", "-shm"):  # closing the last connection checkpoints the WAL
            if Path(f"{self.base}{suffix}").exists():
                raise BenchError(f"{self.base}{suffix} left after the fill")
        return counts

    def fresh(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.live}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.base, self.live)
        # On disk before the measurement: otherwise the copy's dirty pages (176 MiB for
        # the large database) are written back during the measured commits' fsyncs,
        # which then take longer on the large database for a reason that is not
        # maildesk's.
        with open(self.live, "rb+") as copy:
            os.fsync(copy.fileno())

    def size(self) -> str:
        return f"{mib(self.base.stat().st_size)} on disk"


class PostgresSide(Side):
    """A schema of its own; before each measurement the rows a measurement writes are
    deleted and the tickets it changes are written back as planned."""

    def __init__(self, n: int, plan: Plan, directory: Path, server: str) -> None:
        super().__init__(n, plan, directory)
        self.label = "postgres"
        self.server = server
        self.schema = f"bench_sla_{secrets.token_hex(6)}"
        parts = urllib.parse.urlsplit(server)
        query = urllib.parse.urlencode({"options": f"-csearch_path={self.schema}"})
        self.url = urllib.parse.urlunsplit(parts._replace(query=query))
        self.write_config(self.url)
        self.created = False
        self.events = 0

    def fill(self, seed: int) -> dict[str, int]:
        admin = postgres_admin(self.server)
        try:
            admin.execute_sql(f'CREATE SCHEMA "{self.schema}"')
        except Exception as exc:  # noqa: BLE001 - unreachable, refused, no rights: all fatal
            raise BenchError(f"PostgreSQL at {self.server}: {exc}") from exc
        finally:
            admin.close()
        self.created = True
        counts = fill(self.url, self.plan, seed)
        self.events = counts["event"]
        return counts

    def fresh(self) -> None:
        from maildesk.store.db import open_database, using
        from maildesk.store.models import Event, JobMark, KeyValue, Outbox, Ticket

        db = open_database(self.url)
        try:
            with using(db), db.atomic():
                Outbox.delete().execute()
                JobMark.delete().execute()
                KeyValue.delete().execute()
                Event.delete().where(Event.id > self.events).execute()
                for index in self.plan.breach_ids + self.plan.warning_ids:
                    row = self.plan.tickets[index - 1]
                    values = {getattr(Ticket, f): row[f] for f in TICKET_FIELDS if f != "id"}
                    Ticket.update(values).where(Ticket.id == index).execute()
        finally:
            db.close()

    def size(self) -> str:
        admin = postgres_admin(self.server)
        try:
            (total,) = admin.execute_sql(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (self.schema,),
            ).fetchone()
        finally:
            admin.close()
        return f"{mib(total)} in schema {self.schema}"

    def cleanup(self) -> None:
        if not self.created:
            return
        admin = postgres_admin(self.server)
        try:
            admin.execute_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            admin.close()


# -- measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds
    cpu: float  # CPU seconds of this process (on PostgreSQL the server's are not in it)


class QueryLog(logging.Handler):
    """Collects the SQL peewee runs (it logs each statement at DEBUG on `peewee`)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            self.statements.append(record.msg)


def run_phase(side: Side, phase: str, queries: QueryLog | None = None) -> tuple[Timing, list[str]]:
    """One measurement on a fresh database: the runtime is opened (not timed), the
    phase timed, then what it did is checked. Returns the timing and any problems."""
    from maildesk.config import load_config
    from maildesk.jobs.runner import Jobs
    from maildesk.pipeline.ingest import open_runtime
    from maildesk.store.db import using

    side.fresh()
    runtime = open_runtime(load_config(side.config, environ={}), clock=lambda: NOW)
    peewee_log = logging.getLogger("peewee")
    try:
        jobs = Jobs(runtime.desk)
        operation: Callable[[], Any] = {
            "sla_pass": lambda: jobs.sla_pass(NOW),
            "figures": lambda: jobs.figures(NOW),
            "send_digests": lambda: jobs.send_digests(NOW),
        }[phase]
        if queries is not None:
            peewee_log.addHandler(queries)
            peewee_log.setLevel(logging.DEBUG)
        try:
            start, cpu = time.perf_counter(), time.process_time()
            result = operation()
            timing = Timing(time.perf_counter() - start, time.process_time() - cpu)
        except Exception as exc:  # noqa: BLE001 - any failure makes the run's figures void
            raise BenchError(f"{phase} on {side.n} tickets ({side.label}) failed: {exc!r}") from exc
        finally:
            if queries is not None:
                peewee_log.removeHandler(queries)
                peewee_log.setLevel(logging.NOTSET)
        with using(runtime.db):
            problems = check_phase(side, phase, result)
    finally:
        runtime.close()
    return timing, problems


# The digest's 7- and 30-day figures first computed on each backend; every later one,
# on either database, must be the same (they are about the recent tickets only).
SAME_FIGURES: dict[str, Any] = {}


def check_phase(side: Side, phase: str, result: Any) -> list[str]:
    """What the phase returned and wrote, against the plan."""
    import peewee

    from maildesk.queries.sla_report import digest_json
    from maildesk.store.models import Event, JobMark, Outbox, Ticket

    plan, where = side.plan, f"{phase} on {side.n} tickets ({side.label})"
    problems: list[str] = []
    queued = dict(
        Outbox.select(Outbox.purpose, peewee.fn.COUNT(Outbox.id)).group_by(Outbox.purpose).tuples()
    )
    if phase == "sla_pass":
        want = {"breaches": len(plan.breach_ids), "warnings": len(plan.warning_ids)}
        if result != want:
            problems.append(f"{where}: returned {result}, expected {want}")
        want_mail = {"sla_breach": plan.breach_mails, "sla_warning": plan.warning_mails}
        if queued != want_mail:
            problems.append(f"{where}: queued {queued}, expected {want_mail}")
        breached = [
            i
            for (i,) in Ticket.select(Ticket.id)
            .where(
                Ticket.first_response_breached_at.is_null(False) & Ticket.id.in_(plan.breach_ids)
            )
            .tuples()
        ]
        warned = [
            i
            for (i,) in Ticket.select(Ticket.id).where(Ticket.resolution_warned_at == NOW).tuples()
        ]
        if sorted(breached) != sorted(plan.breach_ids) or sorted(warned) != plan.warning_ids:
            problems.append(
                f"{where}: {len(breached)} of the {len(plan.breach_ids)} planned breaches and "
                f"{len(warned)} warnings (expected {len(plan.warning_ids)}, the planned ones) "
                "recorded"
            )
        events = Event.select().where(Event.id > len(plan.tickets)).count()
        want_events = 2 * (len(plan.breach_ids) + len(plan.warning_ids))
        if events != want_events:
            problems.append(f"{where}: {events} events logged, expected {want_events}")
    elif phase == "figures":
        got = (result["open_total"], len(result["breaches_24h"]), len(result["at_risk_24h"]))
        want_figures = (plan.open_total, plan.breaches_24h, plan.at_risk_24h)
        if got != want_figures:
            problems.append(
                f"{where}: open, breaches in 24 h, at risk in 24 h = {got}, expected {want_figures}"
            )
        if result["open_by_status"] != {
            s: plan.statuses.get(s, 0) for s in result["open_by_status"]
        }:
            problems.append(f"{where}: open by status {result['open_by_status']}")
        # The period's figures are the recent tickets' alone: the same on every database.
        month = digest_json(
            {
                "compliance": result["compliance"],
                "times": result["times"],
                "agents": [{k: v for k, v in a.items() if k != "open"} for a in result["agents"]],
            }
        )
        reference = SAME_FIGURES.setdefault(side.label, month)
        if month != reference:
            problems.append(
                f"{where}: the 7- and 30-day figures differ from those of the other database"
            )
    else:
        if sorted(result) != sorted(MANAGERS):
            problems.append(f"{where}: sent to {result}, expected {sorted(MANAGERS)}")
        marks = JobMark.select().where(JobMark.name == "digest").count()
        if queued != {"digest": len(MANAGERS)} or marks != len(MANAGERS):
            problems.append(
                f"{where}: queued {queued} with {marks} marks, expected "
                f"{len(MANAGERS)} digests and marks"
            )
    return problems


def median_timing(timings: Sequence[Timing]) -> Timing:
    return Timing(
        statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)
    )


def explain(side: Side, statements: Sequence[tuple[str, Any]]) -> list[str]:
    """The plan of each distinct SELECT on the ticket table among `statements`."""
    from maildesk.store.db import is_postgres, open_database

    side.fresh()
    db = open_database(side.url)
    lines: list[str] = []
    seen: set[str] = set()
    try:
        for sql, params in statements:
            if not sql.startswith("SELECT") or 'FROM "ticket"' not in sql or sql in seen:
                continue
            seen.add(sql)
            columns = sql[len("SELECT ") : sql.index(" FROM ")]
            shown = sql if len(columns) < 60 else sql.replace(columns, "...", 1)
            lines.append(f"      {shown}")
            lines += [f"        {line}" for line in plan_lines(db, is_postgres(db), sql, params)]
    finally:
        db.close()
    return lines


# -- reporting ---------------------------------------------------------------------------


def seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


# -- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/sla",
        description="Benchmark maildesk's SLA pass and daily digest on a large and a small "
        "database (see bench/README.md).",
    )
    parser.add_argument(
        "--tickets",
        type=int,
        default=100_000,
        metavar="N",
        help="tickets in the large database (default 100000)",
    )
    parser.add_argument(
        "--small",
        type=int,
        default=1000,
        metavar="N",
        help="tickets in the small database (default 1000)",
    )
    parser.add_argument(
        "--recent",
        type=int,
        default=RECENT_TICKETS,
        metavar="N",
        help="tickets created in the last 30 days in both databases, besides the 100 "
        f"needing action (default {RECENT_TICKETS}); the rest is old, idle backlog",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="K",
        help="measurements per phase and database; the median counts (default 3)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on this PostgreSQL database (in schemas of its own, dropped after), "
        "e.g. postgresql://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the plan of every ticket query each phase ran on the large database "
        "(printed anyway for a phase that misses its target)",
    )
    add_seed_and_workdir(parser, 20260304, "seed of the fill")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (PostgreSQL schemas are dropped all the same)",
    )
    args = parser.parse_args(argv)
    if args.recent < 0:
        parser.error("--recent must not be negative")
    floor = BREACHES + WARNINGS + args.recent
    if args.small < floor or args.tickets < floor:
        parser.error(f"--tickets and --small must be at least {floor} (--recent + 100)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-sla-", dir=args.workdir))
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
                say(f"could not drop {getattr(side, 'schema', side.label)}: {exc}")
        if args.keep:
            say(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, sides: list[Side]) -> int:
    from maildesk.config import load_config
    from maildesk.tickets.policies import build_policies
    from maildesk.tickets.sla_clock import SlaTracker

    started = time.perf_counter()
    say("maildesk SLA pass and digest benchmark")
    say(
        f"  python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"peewee {importlib.metadata.version('peewee')}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )
    say(f"  work dir {work}; SQLite as maildesk opens it (WAL, synchronous=FULL, no ANALYZE)")
    say("  only ratios within this run are meaningful; absolute times vary between runs")
    config = load_config(None, environ={})
    sla = config.sla
    say(
        f"  [sla] defaults: business hours {', '.join(sla.business_hours)} {sla.timezone}, "
        f"targets {', '.join(sla.targets)}, warn at {sla.warn_percent}%, "
        f"digest at {sla.digest_time}"
    )
    say(f"  now = {NOW.isoformat()} ({NOW:%A})")
    tracker = SlaTracker(build_policies(config))
    rows: list[Row] = []
    broken: list[str] = []

    say(
        f"\n[1] plan: {args.tickets} and {args.small} tickets (due times by maildesk's SLA): "
        f"in both the same {args.recent + BREACHES + WARNINGS} created in the last "
        f"{WINDOW.days} days, the rest idle backlog created before"
    )
    plans: dict[int, Plan] = {}
    for n in (args.tickets, args.small):
        plan, _ = timed(
            f"{n} tickets planned",
            functools.partial(plan_tickets, n, args.recent, args.seed, tracker),
        )
        plans[n] = plan
        say(
            f"    {plan.recent} recent, {n - plan.recent} backlog; statuses {plan.statuses}; "
            f"need action: {len(plan.breach_ids)} breaches, {len(plan.warning_ids)} warnings "
            f"({plan.breach_mails} + {plan.warning_mails} mails); digest: "
            f"{plan.breaches_24h} breaches in 24 h, {plan.at_risk_24h} at risk in 24 h"
        )
    large_plan, small_plan = plans[args.tickets], plans[args.small]
    if (
        large_plan.fingerprint != small_plan.fingerprint
        or large_plan.warning_mails != small_plan.warning_mails
        or (large_plan.breaches_24h, large_plan.at_risk_24h)
        != (small_plan.breaches_24h, small_plan.at_risk_24h)
    ):
        raise BenchError("the two plans do not hold the same recent tickets")

    backends: list[tuple[str, Callable[[int, Plan, Path], Side]]] = [("sqlite", SqliteSide)]
    if args.postgres:
        server = args.postgres
        backends.append(
            ("postgres", lambda n, plan, directory: PostgresSide(n, plan, directory, server))
        )
    for step, (backend, make) in enumerate(backends, start=2):
        large = make(args.tickets, plans[args.tickets], work / f"{backend}-large")
        small = make(args.small, plans[args.small], work / f"{backend}-small")
        sides += [large, small]
        say(f"\n[{step}] {backend}: fill (one transaction, executemany in chunks), then")
        say(f"    {args.repeat} rounds: each phase on a fresh copy of each database")
        for side in (large, small):
            counts, _ = timed(f"{side.n} tickets filled", functools.partial(side.fill, args.seed))
            say("    rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            say(f"    {side.size()}")
        rows += measure(backend, small, large, args.repeat, args.explain, broken)

    say("\nsummary")
    width = max(len(r.metric) for r in rows)
    say(f"  {'metric':<{width}}  {'value':>10}  {'target':>6}  result")
    for r in rows:
        result_text = "" if r.passed is None else verdict(r.passed)
        say(f"  {r.metric:<{width}}  {r.value:>10}  {r.target:>6}  {result_text}".rstrip())
    failed = [r.metric for r in rows if r.passed is False]
    say(f"  total time {time.perf_counter() - started:.1f} s")
    if broken:
        say("\nBROKEN (figures not trustworthy):")
        for problem in broken[:20]:
            say(f"  - {problem}")
        return EXIT_BROKEN
    if failed:
        say(f"\ntargets missed: {', '.join(failed)}")
        return EXIT_TARGET_MISSED
    say("\nall targets met")
    return EXIT_OK


def measure(
    backend: str, small: Side, large: Side, repeat: int, explain_all: bool, broken: list[str]
) -> list[Row]:
    """Every phase `repeat` times on each side, alternating which goes first; the
    medians, their ratio, and the plans of a phase that missed its target."""
    for phase in PHASES:  # warm-up: imports, templates, peewee's caches
        broken += run_phase(small, phase)[1]
    timings: dict[tuple[str, int], list[Timing]] = {}
    for round_ in range(1, repeat + 1):
        parts = []
        for phase in PHASES:
            for side in (small, large) if round_ % 2 else (large, small):
                timing, problems = run_phase(side, phase)
                broken += problems
                timings.setdefault((phase, side.n), []).append(timing)
            parts.append(
                f"{phase} {seconds(timings[phase, small.n][-1].wall)} / "
                f"{seconds(timings[phase, large.n][-1].wall)}"
            )
        say(f"  round {round_} ({small.n} / {large.n} tickets): " + ", ".join(parts))
    rows: list[Row] = []
    for phase in PHASES:
        low = median_timing(timings[phase, small.n])
        high = median_timing(timings[phase, large.n])
        ratio = high.wall / low.wall
        cpu_ratio = high.cpu / low.cpu if low.cpu > 0 else float("inf")
        passed = ratio < TARGET_RATIO
        say(
            f"  {phase}: {seconds(low.wall)} -> {seconds(high.wall)}, ratio {ratio:.2f}   "
            f"target < {TARGET_RATIO}   {verdict(passed)}   "
            f"(CPU {seconds(low.cpu)} -> {seconds(high.cpu)}, ratio {cpu_ratio:.2f})"
        )
        for side in (small, large):
            walls = [t.wall for t in timings[phase, side.n]]
            if len(walls) > 1 and max(walls) > 1.3 * min(walls):
                say(
                    f"    note: the {side.n}-ticket runs spread "
                    f"{seconds(min(walls))} to {seconds(max(walls))}: the machine is noisy"
                )
        name = f"{backend} {phase}"
        rows += [
            Row(f"{name}, {small.n} tickets", seconds(low.wall)),
            Row(f"{name}, {large.n} tickets", seconds(high.wall)),
            Row(f"{name} {large.n}/{small.n}", f"{ratio:.2f}", f"< {TARGET_RATIO}", passed),
            Row(f"{name} {large.n}/{small.n} by CPU (info)", f"{cpu_ratio:.2f}"),
        ]
        if not passed or explain_all:
            show_plans(large, phase)
    return rows


def show_plans(side: Side, phase: str) -> None:
    queries = QueryLog()
    run_phase(side, phase, queries)
    on_ticket = [sql for sql, _ in queries.statements if 'FROM "ticket"' in sql]
    say(
        f"    {phase} on {side.n} tickets ran {len(queries.statements)} statements, "
        f"{len(on_ticket)} on the ticket table; the plans of the distinct ticket SELECTs:"
    )
    for line in explain(side, queries.statements):
        say(line)


if __name__ == "__main__":
    sys.exit(main())
