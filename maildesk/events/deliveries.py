"""The webhook deliveries' life: claim the due ones, record what the receiver said,
retry, give up, list, send again by hand.

Where it sits: `events.fanout` writes pending rows; the daemon's webhook worker
(`events.worker`) claims them here, POSTs them, and records each result; `maildesk
webhooks list/retry` and /admin/webhooks read and reset them.

At least once, in order per ticket: a row is claimed with a lease (`lease_until`) in
a short transaction and sent outside any; a worker killed mid-send leaves a lease
that runs out, and the row is sent again with the same webhook-id and body (receivers
dedupe on the id). Only the oldest undelivered row of each (endpoint, ticket) can be
claimed, so a receiver sees a ticket's events in the order they happened, even
while one of them is being retried. On PostgreSQL the claim skips rows another
instance holds (`FOR UPDATE SKIP LOCKED`), so several instances send each row once.

Retries: a timeout, a connection error, 408, 425, 429 and 5xx wait `retry_base` seconds,
doubling up to `retry_max` (jitter: between half and all of it; a Retry-After
header, within `retry_max`, wins); after `give_up_hours` the row is failed. Any
other answer but 2xx fails the row at once (a receiver that refuses the body will
not take it later), as does an address the targets check refuses.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import peewee

from maildesk.config import WebhooksConfig
from maildesk.outbound.outbox import backoff
from maildesk.settings.desks import Desks
from maildesk.store.db import is_postgres, read_snapshot, write_transaction
from maildesk.store.models import Ticket, Webhook, WebhookDelivery, WebhookPayload
from maildesk.store.rows import tuples as rows_of

STATES = ("pending", "delivered", "failed")
MARGIN = dt.timedelta(seconds=5)


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    id: int
    outcome: Outcome
    status: int | None  # the receiver's HTTP status, if it answered
    detail: str  # one line: what happened
    retry_after: float | None = None  # seconds the receiver asked for


@dataclass(frozen=True)
class Claimed:
    id: int
    webhook_id: int
    msg_id: str
    type: str
    body: str
    attempts: int


def lease(config: WebhooksConfig) -> dt.timedelta:
    """Longer than one attempt can take: the timeout, connecting and reading included."""
    return dt.timedelta(seconds=2 * config.timeout) + MARGIN


_DUE = (
    'SELECT d."id" FROM "webhook_delivery" AS d '
    'WHERE d."state" = \'pending\' AND d."next_at" <= {p} '
    'AND (d."lease_until" IS NULL OR d."lease_until" < {p}) '
    'AND NOT EXISTS (SELECT 1 FROM "webhook_delivery" AS e '
    'WHERE e."webhook_id" = d."webhook_id" AND e."ticket_id" = d."ticket_id" '
    'AND e."state" = \'pending\' AND e."id" < d."id") '
    'ORDER BY d."id" LIMIT {p}{lock}'
)
# The due rows leased and read in one statement.
_CLAIM = (
    'UPDATE "webhook_delivery" SET "lease_until" = {p} WHERE "id" IN (' + _DUE + ") "
    'RETURNING "id", "webhook_id", "msg_id", "type", "payload_id", "attempts"'
)


def claim_due(
    db: peewee.Database, now: dt.datetime, limit: int, config: WebhooksConfig
) -> list[Claimed]:
    """Lease up to `limit` due rows, each the oldest undelivered of its (endpoint,
    ticket), oldest first."""
    return exchange(db, (), now, limit, config)


def record(
    db: peewee.Database,
    results: Sequence[Result],
    now: dt.datetime,
    config: WebhooksConfig,
    rand: Callable[[], float] = random.random,
) -> None:
    """What each attempt left its row in (one transaction for all of them)."""
    exchange(db, results, now, 0, config, rand)


def exchange(
    db: peewee.Database,
    results: Sequence[Result],
    now: dt.datetime,
    limit: int,
    config: WebhooksConfig,
    rand: Callable[[], float] = random.random,
) -> list[Claimed]:
    """Record `results`, then claim up to `limit` due rows: the sender's one
    transaction per round."""
    if not results and limit <= 0:
        return []
    with write_transaction(db):
        _record(results, now, config, rand)
        return _claim(db, now, limit, config) if limit > 0 else []


def _claim(
    db: peewee.Database, now: dt.datetime, limit: int, config: WebhooksConfig
) -> list[Claimed]:
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres(db) else ""
    sql = _CLAIM.format(p=db.param, lock=lock)
    stamp = WebhookDelivery.next_at.db_value(now)
    until = WebhookDelivery.lease_until.db_value(now + lease(config))
    rows = sorted(db.execute_sql(sql, (until, stamp, stamp, limit)).fetchall())  # oldest first
    if not rows:
        return []
    bodies: dict[int, str] = dict(
        rows_of(
            WebhookPayload.select(WebhookPayload.id, WebhookPayload.body).where(
                WebhookPayload.id.in_({row[4] for row in rows})
            )
        )
    )
    return [
        Claimed(id_, webhook, msg_id, type_, bodies.get(payload, ""), attempts)
        for id_, webhook, msg_id, type_, payload, attempts in rows
    ]


def _record(
    results: Sequence[Result],
    now: dt.datetime,
    config: WebhooksConfig,
    rand: Callable[[], float],
) -> None:
    pending = WebhookDelivery.state == "pending"
    delivered: dict[int | None, list[int]] = {}
    others = []
    for result in results:
        if result.outcome is Outcome.DELIVERED:
            delivered.setdefault(result.status, []).append(result.id)
        else:
            others.append(result)
    for status, ids in delivered.items():  # most rounds: one statement
        WebhookDelivery.update(
            state="delivered",
            delivered_at=now,
            attempts=WebhookDelivery.attempts + 1,
            lease_until=None,
            last_status=status,
            last_error="",
        ).where(WebhookDelivery.id.in_(ids) & pending).execute()
    if not others:
        return
    give_up = dt.timedelta(hours=config.give_up_hours)
    rows = {
        r.id: r
        for r in WebhookDelivery.select(
            WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.created_at
        ).where(WebhookDelivery.id.in_([result.id for result in others]))
    }
    for result in others:
        row = rows.get(result.id)
        if row is None:
            continue
        attempts = row.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "lease_until": None,
            "last_status": result.status,
            "last_error": result.detail[:500],
        }
        if result.outcome is Outcome.FAILED or now - row.created_at >= give_up:
            values.update(state="failed")
        else:
            wait = backoff(attempts, config.retry_base, config.retry_max, rand)
            if result.retry_after is not None:
                wait = min(float(config.retry_max), max(wait, result.retry_after))
            values.update(next_at=now + dt.timedelta(seconds=wait))
        WebhookDelivery.update(**values).where(
            (WebhookDelivery.id == result.id) & pending
        ).execute()


def next_due(db: peewee.Database) -> dt.datetime | None:
    """When the earliest pending row is due (for the worker's sleep)."""
    with read_snapshot(db):
        row = (
            WebhookDelivery.select(WebhookDelivery.next_at)
            .where(WebhookDelivery.state == "pending")
            .order_by(WebhookDelivery.next_at)
            .first()
        )
        return None if row is None else row.next_at


def retry(
    db: peewee.Database, ids: Sequence[int], now: dt.datetime, *, all_failed: bool = False
) -> int:
    """Send failed rows again (those given, or every failed one of an active endpoint):
    due now, with another `give_up_hours` before they fail again."""
    with write_transaction(db):
        live = Webhook.select(Webhook.id).where(Webhook.active)
        where = (WebhookDelivery.state == "failed") & WebhookDelivery.webhook.in_(live)
        if not all_failed:
            where &= WebhookDelivery.id.in_(list(ids))
        return int(
            WebhookDelivery.update(state="pending", next_at=now, created_at=now, lease_until=None)
            .where(where)
            .execute()
        )


def listing(
    db: peewee.Database,
    desks: Desks,
    state: str | None = None,
    webhook: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest deliveries first (JSON-ready)."""
    with read_snapshot(db):
        query = (
            WebhookDelivery.select(WebhookDelivery, Ticket.desk, Ticket.seq)
            .join(Ticket, peewee.JOIN.LEFT_OUTER, on=WebhookDelivery.ticket == Ticket.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
        if state:
            query = query.where(WebhookDelivery.state == state)
        if webhook is not None:
            query = query.where(WebhookDelivery.webhook == webhook)
        result = []
        for row in query:
            ticket = row.ticket
            result.append(
                {
                    "id": row.id,
                    "webhook": row.webhook_id,
                    "webhook_id": row.msg_id,
                    "type": row.type,
                    "ticket": desks.label(ticket.desk, ticket.seq) if ticket else None,
                    "state": row.state,
                    "attempts": row.attempts,
                    "next_at": row.next_at.isoformat() if row.state == "pending" else None,
                    "last_status": row.last_status,
                    "last_error": row.last_error or None,
                    "created_at": row.created_at.isoformat(),
                    "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
                }
            )
        return result
