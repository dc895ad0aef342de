"""The outbox table's life: claim due mail, record what the relay said, retry, list.

Where it sits in the flow: `outbound.compose` writes pending rows; the daemon's
`outbound.worker` (and `maildesk outbox send`) claims due rows here, hands them
to a `Transport`, and records the result; `maildesk outbox list/retry` read and
reset them (a row `held` over a cap by `outbound.compose` is sent only when an
admin retries it by its ID).

A row is claimed with a lease (`lease_until`) in a short transaction, composed
from its draft the first time (`compose_once`: the bytes are stored, so every
attempt sends the same mail), sent outside any transaction, and its result
recorded in another. On PostgreSQL the
claim skips rows another instance holds (`FOR UPDATE SKIP LOCKED`); a worker
that dies mid-send leaves a lease that runs out, and the row is sent again
(same bytes, same Message-ID: at least once, never lost).

Retries: temporary failures wait `retry_base` seconds, doubling up to
`retry_max`, each wait drawn between half and all of that (jitter, so a relay
that comes back is not hit by everything at once); after `give_up_hours` the
row is failed. Permanent failures (5xx) are failed at once with the server's
answer, and noted in the ticket's event log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import peewee

from maildesk.config import OutboundConfig
from maildesk.outbound.transport import Outcome, Result, Transport
from maildesk.store.db import is_postgres, using, write_transaction
from maildesk.store.models import Event, Outbox, Ticket

LEASE = dt.timedelta(minutes=10)  # longer than any one send (timeout x a few commands)
RESULTS = ("pending", "sent", "failed")  # what an attempt leaves a row in
STATUSES = (*RESULTS, "held")  # held: over a cap (outbound.compose), never claimed


Composer = Callable[[dict[str, Any]], bytes]  # a draft (outbound.draft) -> the mail's bytes


@dataclass(frozen=True)
class Claimed:
    id: int
    raw: bytes | None  # None until composed from `draft` (see `compose_once`)
    draft: dict[str, Any] | None
    envelope_from: str
    recipients: tuple[str, ...]


def backoff(attempts: int, base: float, most: float, rand: Callable[[], float]) -> float:
    """Seconds before retry number `attempts` (1 = the first retry): exponential, capped,
    with jitter (`rand()` in [0, 1) picks between half and all of the wait)."""
    wait = min(most, base * 2 ** min(max(attempts - 1, 0), 32))
    return wait * (0.5 + rand() / 2)


def claim_due(db: peewee.Database, now: dt.datetime, limit: int) -> list[Claimed]:
    """Lease up to `limit` due rows to this worker, oldest due first."""
    with write_transaction(db):
        query = (
            Outbox.select(Outbox.id)
            .where(
                (Outbox.status == "pending")
                & (Outbox.next_attempt_at <= now)
                & (Outbox.lease_until.is_null() | (Outbox.lease_until < now))
            )
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
        )
        if is_postgres(db):
            # peewee takes the clause as a string; its stubs know only a bool.
            query = query.for_update("FOR UPDATE SKIP LOCKED")  # type: ignore[arg-type]
        ids = [row.id for row in query]
        if not ids:
            return []
        Outbox.update(lease_until=now + LEASE).where(Outbox.id.in_(ids)).execute()
        rows = Outbox.select(
            Outbox.id, Outbox.raw, Outbox.draft, Outbox.envelope_from, Outbox.recipients
        ).where(Outbox.id.in_(ids))
        by_id = {
            row.id: Claimed(
                row.id,
                None if row.raw is None else bytes(row.raw),
                row.draft,
                row.envelope_from,
                tuple(row.recipients),
            )
            for row in rows
        }
    return [by_id[i] for i in ids if i in by_id]


def release(db: peewee.Database, ids: Sequence[int]) -> None:
    """Give back leased rows this worker will not send (it is stopping), so the next
    start sends them at once instead of when the lease runs out."""
    if not ids:
        return
    with write_transaction(db):
        Outbox.update(lease_until=None).where(
            Outbox.id.in_(list(ids)) & (Outbox.status == "pending")
        ).execute()


def compose_once(db: peewee.Database, claimed: Claimed, composer: Composer) -> Claimed | Result:
    """The row with its bytes: composed from the draft and stored the first time, so
    every attempt sends the same bytes. A draft that cannot be composed (a template
    or header problem) is a permanent failure, retried with `maildesk outbox retry`."""
    if claimed.raw is not None:
        return claimed
    try:
        raw = composer(claimed.draft or {})
    except Exception as exc:  # noqa: BLE001 - whatever breaks, the row says why
        return Result(Outcome.PERMANENT, " ".join(f"cannot compose: {exc}".split())[:500])
    with write_transaction(db):
        Outbox.update(raw=raw, draft=None).where(
            (Outbox.id == claimed.id) & Outbox.raw.is_null()
        ).execute()
        stored = Outbox.get_by_id(claimed.id).raw  # another worker's bytes, if it was first
    assert stored is not None  # set just now, by this worker or another
    return dataclasses.replace(claimed, raw=bytes(stored), draft=None)


def record(
    db: peewee.Database,
    outbox_id: int,
    result: Result,
    now: dt.datetime,
    config: OutboundConfig,
    rand: Callable[[], float] = random.random,
) -> str:
    """Store what the relay said; returns the row's new status."""
    with write_transaction(db):
        row = Outbox.get_by_id(outbox_id)
        row.attempts += 1
        row.lease_until = None
        if result.outcome is Outcome.SENT:
            row.status, row.sent_at = "sent", now
            row.last_error = result.detail if result.refused else None
        elif result.outcome is Outcome.TEMPORARY and now < row.give_up_at:
            wait = backoff(row.attempts, config.retry_base, config.retry_max, rand)
            row.next_attempt_at = now + dt.timedelta(seconds=wait)
            row.last_error = result.detail
        else:
            row.status = "failed"
            row.last_error = (
                result.detail
                if result.outcome is Outcome.PERMANENT
                else f"gave up after {row.attempts} attempts: {result.detail}"
            )
            if row.ticket_id is not None:
                Event.create(
                    ticket=row.ticket_id,
                    at=now,
                    actor="system",
                    type="mail_failed",
                    data={
                        "outbox": row.id,
                        "purpose": row.purpose,
                        "to": row.recipients,
                        "error": row.last_error,
                    },
                )
        row.save()
        return str(row.status)


def attempt(
    db: peewee.Database, claimed: Claimed, transport: Transport, composer: Composer
) -> Result:
    """Compose (the first time) and send one claimed row; the caller records the result."""
    ready = compose_once(db, claimed, composer)
    if isinstance(ready, Result):
        return ready
    assert ready.raw is not None
    return transport.send(str(ready.id), ready.raw, ready.envelope_from, ready.recipients)


def deliver_due(
    db: peewee.Database,
    transport: Transport,
    composer: Composer,
    config: OutboundConfig,
    clock: Callable[[], dt.datetime],
    limit: int = 100,
) -> dict[str, int]:
    """Send what is due now, once (`maildesk outbox send`); counts by new status."""
    counts = dict.fromkeys(RESULTS, 0)
    for claimed in claim_due(db, clock(), limit):
        result = attempt(db, claimed, transport, composer)
        counts[record(db, claimed.id, result, clock(), config)] += 1
    return counts


def next_due(db: peewee.Database) -> dt.datetime | None:
    """When the earliest pending row is due (None: nothing pending)."""
    with using(db):
        row = (
            Outbox.select(Outbox.next_attempt_at)
            .where(Outbox.status == "pending")
            .order_by(Outbox.next_attempt_at)
            .first()
        )
    return None if row is None else row.next_attempt_at


def retry(
    db: peewee.Database, ids: Sequence[int] | None, now: dt.datetime, config: OutboundConfig
) -> int:
    """Failed (or waiting, or held) rows back to pending, due now; `ids` None: every
    failed row (held mail goes only when named: an admin's decision, one by one)."""
    with write_transaction(db):
        where = Outbox.status != "sent"
        where &= Outbox.status == "failed" if ids is None else Outbox.id.in_(list(ids))
        return int(
            Outbox.update(
                status="pending",
                next_attempt_at=now,
                lease_until=None,
                give_up_at=now + dt.timedelta(hours=config.give_up_hours),
            )
            .where(where)
            .execute()
        )


def list_rows(status: str | None = None, limit: int = 1000) -> list[Outbox]:
    """Newest first; each row also has `ticket_seq` and `ticket_desk` (None without a
    ticket)."""
    query = Outbox.select(
        Ticket.seq.alias("ticket_seq"),
        Ticket.desk.alias("ticket_desk"),
        Outbox.id,
        Outbox.message_id,
        Outbox.purpose,
        Outbox.audience,
        Outbox.ticket,
        Outbox.recipients,
        Outbox.subject,
        Outbox.status,
        Outbox.attempts,
        Outbox.next_attempt_at,
        Outbox.last_error,
        Outbox.created_at,
        Outbox.sent_at,
    )
    query = query.join(Ticket, peewee.JOIN.LEFT_OUTER, on=Outbox.ticket == Ticket.id)
    if status is not None:
        query = query.where(Outbox.status == status)
    return list(query.order_by(Outbox.id.desc()).limit(limit).objects())
