"""Intake: commit the raw bytes of an accepted message before anything else.

Every source (SMTP/LMTP, IMAP, `maildesk ingest`) calls `accept`; only when it
returns may the source acknowledge the message (250, IMAP move, exit 0). A
redelivered message (same Message-ID, else same bytes) is recognised here and
stored once. The pipeline picks the stored message up afterwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import peewee

from maildesk.core.message import header_message_id
from maildesk.store import repo
from maildesk.store.db import write_transaction
from maildesk.store.models import Intake


@dataclass(frozen=True)
class Envelope:
    mail_from: str | None  # SMTP MAIL FROM ('' is the null return path); None when unknown
    rcpt_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Accepted:
    intake_id: int
    duplicate: bool  # already stored by an earlier delivery
    message_id: str | None


def dedupe_key(raw: bytes, message_id: str | None) -> str:
    """What makes two deliveries the same message, hashed to a fixed width.

    With a Message-ID: the id and the body bytes, so a redelivery (SMTP retry,
    IMAP refetch, another route that only added Received headers) is recognised,
    while a different message that reuses a Message-ID (broken mailers do) is
    not thrown away. Without one: the raw bytes.
    """
    if not message_id:
        return hashlib.sha256(b"raw:" + raw).hexdigest()
    body = hashlib.sha256(_body(raw)).hexdigest().encode()
    return hashlib.sha256(
        b"mid:" + message_id.encode("utf-8", "replace") + b"\0" + body
    ).hexdigest()


def _body(raw: bytes) -> bytes:
    """The bytes after the blank line that ends the header block ('' if there is none)."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    if not ends:
        return b""
    end = min(ends)
    return raw[end:].lstrip(b"\r\n")


def accept(
    db: peewee.Database,
    raw: bytes,
    *,
    source: str,
    envelope: Envelope | None = None,
    now: dt.datetime,
) -> Accepted:
    """Durably store `raw`; raises only when it could not be stored (then nothing was)."""
    message_id = header_message_id(raw)
    key = dedupe_key(raw, message_id)
    envelope = envelope or Envelope(mail_from=None)
    try:
        with write_transaction(db):
            existing = repo.intake_by_dedupe_key(key)
            if existing is not None:
                return Accepted(existing.id, True, message_id)
            sha = repo.put_blob(raw, now)
            row = Intake.create(
                raw=sha,
                dedupe_key=key,
                message_id=message_id,
                source=source,
                envelope_from=envelope.mail_from,
                envelope_to=list(envelope.rcpt_to),
                received_at=now,
            )
    except peewee.IntegrityError:
        # A concurrent delivery of the same message won the race: it is stored.
        existing = repo.intake_by_dedupe_key(key)
        if existing is None:
            raise
        return Accepted(existing.id, True, message_id)
    return Accepted(row.id, False, message_id)


def pending_ids(limit: int | None = None) -> Sequence[int]:
    """Committed messages the pipeline has not finished (oldest first)."""
    query = Intake.select(Intake.id).where(Intake.state == "pending").order_by(Intake.id)
    if limit is not None:
        query = query.limit(limit)
    return [row.id for row in query]
