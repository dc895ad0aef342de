"""Connections and transactions: the only place that knows SQLite from PostgreSQL.

`open_database` turns a database URL into a peewee database; `write_transaction`
is the unit of work every writer uses, `using` the one of a reader (both run the
models on the database they are given: `store.scope`). Peewee keeps one
connection per thread, so each worker thread gets its own connection.
`is_transient` tells a failing database (locked, full, gone) from a failing
message: the pipeline retries the first and quarantines only the second.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee

from maildesk.store.scope import using

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    # FULL: a committed message survives power loss, which the 250 reply promises.
    ("synchronous", "full"),
    ("busy_timeout", 30_000),
)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The DB-API classes of errors that come from the database's state, not from the
# statement or the data: a lock held too long (SQLite "database is locked",
# PostgreSQL lock_timeout), a full disk, an I/O error, a lost connection. peewee,
# sqlite3 and psycopg all name them so (psycopg's lock, deadlock and
# serialization failures are OperationalError subclasses).
# The database failing, and the byte store of [storage] failing (`store.blobs`).
TRANSIENT_ERRORS = frozenset({"OperationalError", "InterfaceError", "BlobStoreDown"})

log = logging.getLogger(__name__)


class DatabaseUrlError(ValueError):
    """The database URL cannot be used."""


def open_database(url: str) -> peewee.Database:
    """Open (lazily connect) the database named by `url`."""
    parts = urllib.parse.urlsplit(url)
    db: peewee.Database
    if parts.scheme == "sqlite":
        db = _sqlite(parts)
    elif parts.scheme in ("postgresql", "postgres"):
        db = _postgres(parts)
    else:
        raise DatabaseUrlError(f"unsupported database URL scheme {parts.scheme!r}")
    return db


STATEMENT_CACHE = 1024


def _sqlite(parts: urllib.parse.SplitResult) -> peewee.SqliteDatabase:
    # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
    path = urllib.parse.unquote(parts.path)[1:]
    if not path:
        raise DatabaseUrlError("sqlite URL has no path (sqlite:///var/maildesk.db)")
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Each message runs a few dozen distinct statements; with sqlite3's default cache of
    # 128 prepared statements they keep pushing each other out and are prepared again.
    return peewee.SqliteDatabase(
        path, pragmas=SQLITE_PRAGMAS, timeout=30, cached_statements=STATEMENT_CACHE
    )


def _postgres(parts: urllib.parse.SplitResult) -> peewee.PostgresqlDatabase:
    params: dict[str, Any] = dict(urllib.parse.parse_qsl(parts.query))
    if parts.hostname:
        params["host"] = parts.hostname
    if parts.port:
        params["port"] = parts.port
    if parts.username:
        params["user"] = urllib.parse.unquote(parts.username)
    if parts.password:
        params["password"] = urllib.parse.unquote(parts.password)
    name = urllib.parse.unquote(parts.path.lstrip("/"))
    if not name:
        raise DatabaseUrlError("postgresql URL names no database")
    return peewee.PostgresqlDatabase(name, prefer_psycopg3=True, **params)


def is_postgres(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is the database failing (retry later) rather than the work."""
    return any(cls.__name__ in TRANSIENT_ERRORS for cls in type(exc).__mro__)


@contextlib.contextmanager
def write_transaction(db: peewee.Database) -> Iterator[None]:
    """One unit of work. On SQLite the write lock is taken up front (BEGIN
    IMMEDIATE) so two writers queue on the busy timeout instead of failing
    when a read lock cannot be upgraded."""
    with using(db):
        if isinstance(db, peewee.SqliteDatabase):
            with keeping_cause(db.atomic("IMMEDIATE")):
                yield
        else:
            with keeping_cause(db.atomic()):
                yield


@contextlib.contextmanager
def read_snapshot(db: peewee.Database) -> Iterator[None]:
    """A reader that shows several queries' results together (a ticket with its
    messages and events) sees one moment of the database, never a writer's commit
    between two of its queries: one read transaction, REPEATABLE READ on PostgreSQL
    (its first query fixes the snapshot; READ COMMITTED would take one per query),
    a deferred transaction on SQLite (in WAL mode its first read fixes the snapshot).
    Inside a transaction already, the block simply runs in it."""
    with using(db):
        if db.in_transaction():
            yield
        elif is_postgres(db):
            with db.atomic(isolation_level="REPEATABLE READ"):
                yield
        else:
            with db.atomic():
                yield


def advisory_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64-bit) for a name, the same in every
    instance."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def try_session_lock(db: peewee.Database, key: int) -> bool:
    """Take the session-level advisory lock `key` on this thread's connection, if no
    other session holds it. It stays taken until the connection closes: when its
    holder dies, the server ends the session and another instance gets it. SQLite:
    always True (one instance per database file; nothing to coordinate)."""
    if not is_postgres(db):
        return True
    row = db.execute_sql("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row[0])


def holds_session_lock(db: peewee.Database, key: int) -> bool:
    """Whether this thread's connection still holds the advisory lock `key` (False
    once the connection was lost and opened again). SQLite: always True."""
    if not is_postgres(db):
        return True
    row = db.execute_sql(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
        " AND pid = pg_backend_pid() AND granted"
        " AND classid = %s AND objid = %s AND objsubid = 1)",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
    ).fetchone()
    return bool(row[0])


@contextlib.contextmanager
def keeping_cause(block: Any) -> Iterator[None]:
    """`block` (a peewee transaction or savepoint) entered and left, but when rolling
    back fails too, the error that made it roll back is the one raised. A full disk
    makes SQLite end the transaction itself; peewee's ROLLBACK then fails with
    "cannot rollback - no transaction is active", which says nothing of the cause."""
    block.__enter__()
    try:
        yield
    except BaseException as exc:
        try:
            block.__exit__(type(exc), exc, exc.__traceback__)
        except Exception as failed:  # noqa: BLE001 - reported with the real error
            log.debug("rollback failed after %r: %s", exc, failed)
            exc.add_note(f"rolling back failed too: {failed}")
        raise
    try:
        block.__exit__(None, None, None)
    except Exception as exc:
        # peewee rolls back when COMMIT fails; if that fails as well, the COMMIT's
        # error is the context of the one raised.
        cause = exc.__context__
        if isinstance(cause, Exception) and is_transient(cause):
            cause.add_note(f"rolling back failed too: {exc}")
            raise cause from None
        raise


def upgrade(db: peewee.Database) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when current)."""
    from playhouse.migrations import Runner

    runner = Runner(db, directory=str(MIGRATIONS_DIR))
    if is_postgres(db):
        key = migration_lock_key(db)
        db.execute_sql("SELECT pg_advisory_lock(%s)", (key,))
        try:
            return list(runner.up())
        finally:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (key,))
    with write_transaction(db):
        applied = list(runner.up())
    if applied:
        optimize(db, everything=True)  # statistics for the new tables and indexes
    elif forget_search_index_statistics(db):  # left by earlier versions' ANALYZE
        db.close()  # this thread's next query opens a connection that plans without them
    return applied


# Rows ANALYZE reads per index: approximate statistics, enough for the planner, in
# milliseconds at any table size.
ANALYSIS_LIMIT = 1000


def optimize(db: peewee.Database, everything: bool = False) -> None:
    """Keep SQLite's query planner statistics fresh (PostgreSQL's autovacuum analyzes
    by itself). `PRAGMA optimize` analyzes the tables this connection's queries used
    that were never analyzed or have grown much since (nothing, in microseconds, when
    none did): the jobs run it after each pass. With `everything` (after migrations,
    when this connection has queried nothing yet) every table is analyzed but the
    search index's own (`forget_search_index_statistics`)."""
    if not isinstance(db, peewee.SqliteDatabase):
        return
    db.execute_sql(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
    if everything:
        shadows = set(_search_index_tables(db))
        tables = db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
        ).fetchall()
        for (table,) in tables:
            if table not in shadows:
                db.execute_sql(f'ANALYZE "{table}"')
    else:
        db.execute_sql("PRAGMA optimize")
    if forget_search_index_statistics(db):
        db.close()  # FTS5 keeps its statements planned with them on this connection


# The tables FTS5 keeps its index in, beside each full-text table `NAME`.
_FTS5_SHADOWS = ("_data", "_idx", "_config", "_docsize", "_content")


def _search_index_tables(db: peewee.Database) -> list[str]:
    """The tables FTS5 keeps each full-text index in."""
    rows = db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%USING fts5%'"
    ).fetchall()
    return [f"{name}{suffix}" for (name,) in rows for suffix in _FTS5_SHADOWS]


def forget_search_index_statistics(db: peewee.Database) -> bool:
    """SQLite: drop planner statistics of the full-text index's own tables (True if
    there were any). FTS5 reads them with statements written for their keys, and
    statistics can only mislead the planner there: `ANALYZE` right after the
    migrations recorded 2 rows for `message_fts_data`, and from then on every merge
    of the index's segments (each 16th message) scanned that whole table, 140 ms a
    merge at 100,000 messages against under 1 ms without the statistics. A
    connection keeps FTS5's statements as they were planned: the caller closes it."""
    if not isinstance(db, peewee.SqliteDatabase):
        return False
    stat = db.execute_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).fetchone()
    shadows = _search_index_tables(db) if stat is not None else []
    if not shadows:
        return False
    marks = ", ".join("?" * len(shadows))
    found = db.execute_sql(
        f"SELECT 1 FROM sqlite_stat1 WHERE tbl IN ({marks}) LIMIT 1", shadows
    ).fetchone()
    if found is None:  # the usual case: nothing to write
        return False
    with write_transaction(db):
        db.execute_sql(f"DELETE FROM sqlite_stat1 WHERE tbl IN ({marks})", shadows)
    return True


def migration_lock_key(db: peewee.Database) -> int:
    """PostgreSQL: the advisory lock that serialises `upgrade` among the instances
    sharing these tables: one per database and search path, so an installation in
    another schema of the same database never waits for this one's migrations."""
    row = db.execute_sql("SELECT current_setting('search_path')").fetchone()
    return advisory_key(f"maildesk migrations {row[0]}")


def pending_migrations(db: peewee.Database) -> list[str]:
    from playhouse.migrations import Runner

    runner = Runner(db, directory=str(MIGRATIONS_DIR))
    return [m.name for m in runner.status() if m.applied is None and m.path is not None]
