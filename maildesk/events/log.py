"""The event log read in the order its transactions committed: the one cursor shape
both followers of the log use (the webhook cursor, `events.fanout`, and the live
updates, `events.live`).

Ids come from a sequence: on PostgreSQL a transaction that took id 10 may commit
after one that took id 11, so "the events after id 11" would pass over 10 for good.
Instead a position is (tx, id), tx being the id of the transaction that wrote the
event (`event.tx`, migrations/0019), and a read takes only the events of
transactions older than every transaction still running that may write to this
database: all of those have committed or never will, and any event written later
sorts after them. The transactions still running are those of the read's own
snapshot, less those known (by the lock each holds on its id) to belong to a session
of another database of the server, which cannot write here: a long transaction
elsewhere on the server does not hold the log back, and one whose database cannot be
told (it just started, or ended meanwhile) counts, to be safe. On SQLite one writer
at a time commits ids in order; tx is 0 there.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from maildesk.store.db import is_postgres
from maildesk.store.models import Event


@dataclass(frozen=True, order=True)
class Position:
    tx: int
    id: int

    def __str__(self) -> str:
        return f"{self.tx}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Position:
        tx, _, ident = text.partition(":")
        return cls(int(tx), int(ident))

    @classmethod
    def of(cls, event: Event) -> Position:
        return cls(int(event.tx or 0), event.id)


# The oldest transaction of the statement's snapshot still running that may be this
# database's (else the snapshot's xmax: every older one has ended). pg_locks knows a
# transaction id as 32 bits, the snapshot as 64: compared on the low 32.
_RUNNING_HERE = """(
SELECT coalesce(min(x.v), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
FROM (SELECT running::text::bigint AS v FROM pg_snapshot_xip(pg_current_snapshot()) AS running) x
WHERE NOT EXISTS (
    SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'transactionid' AND l.transactionid::text::bigint = mod(x.v, 4294967296)
    AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())))"""


def _settled(db: peewee.Database) -> str:
    """SQL: the events every later commit comes after."""
    if is_postgres(db):
        return f'"tx" < {_RUNNING_HERE}'
    return "1 = 1"


def end(db: peewee.Database) -> Position:
    """The position of the last settled event (a follower that starts here sees what
    is written from now on)."""
    row = db.execute_sql(
        f'SELECT "tx", "id" FROM "event" WHERE {_settled(db)} ORDER BY "tx" DESC, "id" DESC LIMIT 1'
    ).fetchone()
    return Position(0, 0) if row is None else Position(int(row[0]), int(row[1]))


def after(db: peewee.Database, position: Position, limit: int) -> list[Event]:
    """Up to `limit` settled events after `position`, in commit order."""
    p = db.param
    sql = (
        'SELECT "id", "ticket_id", "at", "actor", "type", "data", "tx" FROM "event" '
        f'WHERE ("tx", "id") > ({p}, {p}) AND {_settled(db)} ORDER BY "tx", "id" LIMIT {p}'
    )
    return list(Event.raw(sql, position.tx, position.id, limit))
