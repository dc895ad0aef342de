"""The storage layer on both databases: schema, UTC times, blobs stored once, hot-path
inserts matching peewee's, ticket numbers."""

from __future__ import annotations

import datetime as dt
import threading

import peewee
import psycopg
import pytest

from maildesk.inbound import intake
from maildesk.store import repo, rows
from maildesk.store.blobs import BIG_VALUE
from maildesk.store.db import (
    migration_lock_key,
    open_database,
    optimize,
    pending_migrations,
    read_snapshot,
    upgrade,
    using,
    write_transaction,
)
from maildesk.store.models import Blob, Contact, Event, Intake, Ticket
from maildesk.store.scope import NoDatabase
from tests.conftest import PG_URL, opened

NOW = dt.datetime(2026, 11, 22, 12, 30, tzinfo=dt.UTC)


def test_schema_is_current_after_upgrade(db: peewee.Database) -> None:
    assert pending_migrations(db) == []
    assert upgrade(db) == []


def test_times_are_stored_as_utc_and_come_back_aware(db: peewee.Database) -> None:
    local = NOW.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    contact = Contact.create(email="a@x.example", name="A", created_at=local)
    loaded = Contact.get_by_id(contact.id)
    assert loaded.created_at == NOW and loaded.created_at.tzinfo is not None
    with pytest.raises(ValueError, match="naive"):
        Contact.create(email="b@x.example", created_at=dt.datetime(2026, 1, 1))


def test_blobs_are_stored_once(db: peewee.Database) -> None:
    first = repo.put_blob(b"same bytes", NOW)
    second = repo.put_blob(b"same bytes", NOW)
    assert first == second and len(first) == 64
    assert Blob.select().count() == 1
    assert repo.blob_bytes(first) == b"same bytes"


def test_big_blobs_are_written_in_chunks_and_read_back_whole(db: peewee.Database) -> None:
    """Over BIG_VALUE, SQLite gets the bytes a chunk at a time (incremental blob I/O)."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    big = bytes(range(256)) * (3 * BIG_VALUE // 256) + b"tail"
    raw = b"From: a@example.com\nSubject: big\nMessage-ID: <big@example.com>\n\n" + big
    with write_transaction(db):
        digest = repo.put_blob(big, now)
        assert repo.put_blob(big, now) == digest  # the same bytes again: stored once
        first = intake.accept(db, raw, source="test", now=now)
    again = intake.accept(db, raw, source="test", now=now)
    assert again.duplicate and again.intake_id == first.intake_id
    with using(db):
        assert Blob.select().count() == 2
        assert repo.blob_bytes(digest) == big  # checked against the SHA-256 on the way
        stored = Intake.get_by_id(first.intake_id)
        assert repo.blob_bytes(stored.raw_id) == raw


def test_fast_insert_fills_defaults_and_returns_the_key(db: peewee.Database) -> None:
    contact = rows.create(db, Contact, {"email": "c@x.example", "created_at": NOW})
    ticket = rows.create(
        db,
        Ticket,
        {
            "number": 7,
            "subject": "s",
            "status": "new",
            "priority": "low",
            "requester": contact,
            "created_at": NOW,
            "updated_at": NOW,
        },
    )
    loaded = Ticket.get_by_id(ticket.id)
    assert (loaded.number, loaded.escalation_level, loaded.sla_paused_seconds) == (7, 0, 0)
    assert loaded.requester.email == "c@x.example" and loaded.automated is False
    assert (
        rows.create(db, Contact, {"email": "c@x.example", "created_at": NOW}, ignore=True) is None
    )
    rows.insert_many(
        db,
        Event,
        [
            {"ticket": ticket, "at": NOW, "actor": "x", "type": "t", "data": {"n": i}}
            for i in range(3)
        ],
    )
    assert [e.data["n"] for e in Event.select().order_by(Event.id)] == [0, 1, 2]


def test_ticket_numbers_count_up(db: peewee.Database) -> None:
    from maildesk.store.db import write_transaction

    with write_transaction(db):
        numbers = [repo.next_ticket_number(db) for _ in range(3)]
    assert numbers == [1, 2, 3]


def test_generated_secret_key_is_kept(db: peewee.Database) -> None:
    first = repo.stored_secret_key(db)
    assert len(first) == 64 and repo.stored_secret_key(db) == first


def test_sqlite_is_durable_with_foreign_keys_and_busy_timeout(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/x.db")
    pragma = {
        name: db.execute_sql(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
    }
    db.close()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 2,
        "busy_timeout": 30000,
    }


def test_models_run_on_the_database_of_the_unit_of_work(tmp_path) -> None:
    """No database is bound process-wide: a query outside any unit of work fails at
    once, and two databases open side by side each get their own rows."""
    with pytest.raises(NoDatabase, match="no database for this unit of work"):
        Contact.select().count()
    first, second = (open_database(f"sqlite:///{tmp_path}/{n}.db") for n in ("a", "b"))
    for database in (first, second):
        upgrade(database)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with write_transaction(first):
        Contact.create(email="a@example.com", created_at=now)
        with using(second):  # nested: the inner database, then the outer one again
            Contact.create(email="b@example.com", created_at=now)
        Contact.create(email="c@example.com", created_at=now)
    seen: list[list[str]] = []

    def in_a_thread() -> None:  # a new thread starts outside any unit of work
        try:
            Contact.select().count()
        except NoDatabase:
            with using(second):
                seen.append([c.email for c in Contact.select()])

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join(10)
    with using(first):
        assert sorted(c.email for c in Contact.select()) == ["a@example.com", "c@example.com"]
    assert seen == [["b@example.com"]]
    first.close()
    second.close()


def test_a_snapshot_reader_never_sees_a_commit_between_its_queries(database_url: str) -> None:
    """`tickets show`, the API's ticket and the ticket page read the ticket, then its
    messages: a message committed in between must show in both or in neither (on
    PostgreSQL READ COMMITTED gave the new message with the old status)."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with opened(database_url, migrate=True) as reader, opened(database_url) as writer:
        with write_transaction(writer):
            Contact.create(email="a@example.com", created_at=now)
        committed = threading.Event()

        def commit_another() -> None:
            try:
                with write_transaction(writer):
                    Contact.create(email="b@example.com", created_at=now)
                committed.set()
            finally:
                writer.close()  # this thread's connection

        with read_snapshot(reader):
            before = Contact.select().count()
            thread = threading.Thread(target=commit_another)
            thread.start()
            assert committed.wait(10), "the writer could not commit while a reader read"
            during = Contact.select().count()
        thread.join(10)
        with using(reader):
            after = Contact.select().count()
    assert (before, during, after) == (1, 1, 2)


def test_migrations_wait_only_for_the_same_schema(database_url: str) -> None:
    """PostgreSQL: `upgrade` waits for another instance migrating the same tables, not
    for an installation in another schema of the same database."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite: one instance per database file, no lock to share")
    impatient = database_url + "+-clock_timeout%3D500"  # fail fast instead of waiting
    holder = psycopg.connect(PG_URL, autocommit=True)
    try:
        with opened(database_url) as db:
            ours = migration_lock_key(db)
        holder.execute("SELECT pg_advisory_lock(%s)", (ours + 1,))  # someone else's
        with opened(impatient, migrate=True) as db:
            assert pending_migrations(db) == []
        holder.execute("SELECT pg_advisory_lock(%s)", (ours,))  # an instance of ours
        with opened(impatient) as db, pytest.raises(peewee.OperationalError, match="lock"):
            upgrade(db)
    finally:
        holder.close()


def _statistics(db: peewee.Database) -> dict[str, str]:
    """SQLite's planner statistics of the ticket table's indexes, by index."""
    found = db.execute_sql("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
    if found.fetchone() is None:
        return {}
    query = "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'ticket'"
    return dict(db.execute_sql(query).fetchall())


def _tickets(count: int) -> None:
    contact = Contact.create(email="c@example.com", name="C", created_at=NOW)
    for number in range(1, count + 1):
        status = ("new", "open", "resolved")[number % 3]
        Ticket.create(
            number=number,
            seq=number,
            subject="s",
            status=status,
            priority="low",
            requester=contact,
            created_at=NOW,
            updated_at=NOW,
        )


def test_sqlite_statistics_after_migrations_and_as_the_tickets_grow(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'stats.db'}"
    db = open_database(url)
    try:
        upgrade(db)
        with write_transaction(db):
            _tickets(30)
            # An installation upgraded from before 0009: the step runs on its tickets.
            db.execute_sql('DROP INDEX "ticket_open_by_created"')
            db.execute_sql("DELETE FROM schema_migration WHERE name LIKE '0009_%'")
        assert len(upgrade(db)) == 1
        assert _statistics(db)["ticket_open_by_created"].split()[0] == "30"  # analyzed
        with write_transaction(db):
            db.execute_sql("DELETE FROM sqlite_stat1")
    finally:
        db.close()
    db = open_database(url)  # a new connection, as the jobs' thread has
    try:
        with using(db):
            optimize(db)  # this connection read nothing yet: nothing to analyze
            assert _statistics(db) == {}
            assert Ticket.select().where(Ticket.status == "open").count() == 10
            optimize(db)  # it read the tickets, never analyzed: analyzed now
        assert _statistics(db)["ticket_status"].split()[0] == "30"
    finally:
        db.close()


def test_optimize_runs_on_either_database(db: peewee.Database) -> None:
    optimize(db)  # PostgreSQL: nothing to do (autovacuum analyzes); SQLite: see above
