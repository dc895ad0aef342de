"""Intake: commit the raw bytes of an accepted message before anything else.

Every source (SMTP/LMTP, IMAP, `maildesk ingest`) calls `accept`; only when it
returns may the source acknowledge the message (250, IMAP move, exit 0). A
redelivered message (same Message-ID, else same bytes) is recognised here and
stored once: `core.redelivery.dedupe_key` says what "the same" means, whatever
the line endings and the trace fields a route added. With `[storage] backend`
filesystem or s3 the bytes are written there, durably, before the transaction
that records them (`store.blobs`). The pipeline picks the stored message up
afterwards.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import peewee

from maildesk.core.message import header_message_id
from maildesk.core.redelivery import dedupe_key
from maildesk.store.blobs import BIG_VALUE, DATABASE, blobs_of, insert_row
from maildesk.store.db import is_postgres, write_transaction
from maildesk.store.models import Blob, Intake


@dataclass(frozen=True)
class Envelope:
    mail_from: str | None  # SMTP MAIL FROM ('' is the null return path); None when unknown
    rcpt_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Accepted:
    intake_id: int
    duplicate: bool  # already stored by an earlier delivery
    message_id: str | None


def accept(
    db: peewee.Database,
    raw: bytes,
    *,
    source: str,
    envelope: Envelope | None = None,
    now: dt.datetime,
) -> Accepted:
    """Durably store `raw`; raises only when it could not be stored (then nothing was)."""
    [accepted] = accept_all(db, [Delivery(raw, source, envelope)], now=now)
    return accepted


@dataclass(frozen=True)
class Delivery:
    """One message handed to `accept_all`."""

    raw: bytes
    source: str
    envelope: Envelope | None = None


def accept_all(
    db: peewee.Database, deliveries: Sequence[Delivery], *, now: dt.datetime
) -> list[Accepted]:
    """Durably store several messages in one transaction: the daemon's group commit,
    one disk sync for all the messages that arrived together. All are stored when it
    returns; when it raises, none is."""
    identified = [(d, *_identify(d.raw)) for d in deliveries]
    # Bytes kept outside the database are durable before the transaction that refers
    # to them (a redelivery writes the same name again: content-addressed, harmless).
    blobs = blobs_of(db)
    placed = blobs.put_all([d.raw for d in deliveries])
    try:
        with write_transaction(db):
            return [
                _store(db, d, mid, key, where, now)
                for (d, mid, key), where in zip(identified, placed, strict=True)
            ]
    except peewee.IntegrityError:
        # A concurrent delivery of the same message (another instance) won the race
        # and is stored. One by one, each message is then stored or found.
        if len(deliveries) > 1:
            return [
                accept(db, d.raw, source=d.source, envelope=d.envelope, now=now) for d in deliveries
            ]
        [(_, message_id, key)] = identified
        existing = _intake_id(db, key)
        if existing is None:
            raise
        return [Accepted(existing, True, message_id)]


def _identify(raw: bytes) -> tuple[str | None, str]:
    """Message-ID and dedupe key, worked out before the transaction."""
    message_id = header_message_id(raw)
    return message_id, dedupe_key(raw, message_id)


def _store(
    db: peewee.Database,
    delivery: Delivery,
    message_id: str | None,
    key: str,
    where: tuple[str, str],
    now: dt.datetime,
) -> Accepted:
    existing = _intake_id(db, key)
    if existing is not None:
        return Accepted(existing, True, message_id)
    envelope = delivery.envelope or Envelope(mail_from=None)
    blob = _Blob(delivery.raw, *where)
    intake_id = _insert(db, blob, key, message_id, delivery.source, envelope, now)
    return Accepted(intake_id, False, message_id)


# `accept_all` is on the path of every SMTP 250, so its statements are written out
# once per kind of database (`_statements`) instead of being built by peewee's query
# builder for every message, which costs several times what the database needs
# for them. Table and column names and value conversions still come from the models.


@dataclass(frozen=True)
class _Statements:
    find: str  # intake id by dedupe key
    put_blob: str  # raw bytes, stored once per SHA-256
    insert: str  # the intake row; its id from RETURNING or lastrowid
    returning: bool


_BLOB_COLUMNS = (Blob.sha256, Blob.size, Blob.data, Blob.created_at, Blob.location)


@dataclass(frozen=True)
class _Blob:
    raw: bytes
    sha256: str
    location: str  # where the bytes are: in the row (DATABASE) or written already


_INTAKE_COLUMNS = (
    Intake.raw,
    Intake.dedupe_key,
    Intake.message_id,
    Intake.source,
    Intake.envelope_from,
    Intake.envelope_to,
    Intake.received_at,
    Intake.state,
)


@functools.cache
def _statements(param: str, postgres: bool) -> _Statements:
    def insert(columns: tuple[peewee.Field, ...]) -> str:
        names = ", ".join(f'"{field.column_name}"' for field in columns)
        table = columns[0].model._meta.table_name
        return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join(param for _ in columns)})'

    table, key = Intake._meta.table_name, Intake.dedupe_key.column_name
    id_ = Intake.id.column_name
    return _Statements(
        find=f'SELECT "{id_}" FROM "{table}" WHERE "{key}" = {param}',
        put_blob=insert(_BLOB_COLUMNS) + " ON CONFLICT DO NOTHING",
        insert=insert(_INTAKE_COLUMNS) + (f' RETURNING "{id_}"' if postgres else ""),
        returning=postgres,
    )


def _sql(db: peewee.Database) -> _Statements:
    return _statements(db.param, is_postgres(db))


def _intake_id(db: peewee.Database, key: str) -> int | None:
    row = db.execute_sql(_sql(db).find, (key,)).fetchone()
    return None if row is None else int(row[0])


def _insert(
    db: peewee.Database,
    blob: _Blob,
    key: str,
    message_id: str | None,
    source: str,
    envelope: Envelope,
    now: dt.datetime,
) -> int:
    sql = _sql(db)
    stamp = Intake.received_at.db_value(now)
    if blob.location == DATABASE and len(blob.raw) > BIG_VALUE:  # rare: no need for speed
        insert_row(db, blob.sha256, blob.raw, now, blob.location)
    else:
        data = Blob.data.db_value(blob.raw if blob.location == DATABASE else b"")
        db.execute_sql(sql.put_blob, (blob.sha256, len(blob.raw), data, stamp, blob.location))
    row = (
        blob.sha256,
        key,
        message_id,
        source,
        envelope.mail_from,
        Intake.envelope_to.db_value(list(envelope.rcpt_to)),
        stamp,
        "pending",
    )
    cursor = db.execute_sql(sql.insert, row)
    return int(cursor.fetchone()[0] if sql.returning else cursor.lastrowid)


def pending_among(intake_ids: Sequence[int]) -> set[int]:
    """Those of `intake_ids` the pipeline has not processed yet."""
    if not intake_ids:
        return set()
    query = Intake.select(Intake.id).where(
        Intake.id.in_(list(intake_ids)) & (Intake.state == "pending")
    )
    return {row.id for row in query}
