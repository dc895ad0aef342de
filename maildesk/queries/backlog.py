"""The backlog: what has come in and is not yet done, for `/healthz`, the log and
`maildesk status`.

Messages committed but not yet through the pipeline (how many, and how long the
oldest has waited: the lag a mail storm causes), mail in the outbox by status, and
the open quarantine. Read on the caller's database (`store.scope`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee

from maildesk.store import rows
from maildesk.store.models import Intake, Outbox, Quarantine


@dataclass(frozen=True)
class Backlog:
    pending: int  # messages committed, not yet processed
    oldest_pending_at: dt.datetime | None  # when the oldest of them was received
    oldest_pending_seconds: float  # its age at `now` (0 when none is pending)

    def summary(self) -> str:
        return (
            f"{self.pending} message(s) pending, the oldest for {self.oldest_pending_seconds:.1f} s"
        )


def pending(now: dt.datetime) -> Backlog:
    """Two cheap aggregates on the intake's state index."""
    query = Intake.select(peewee.fn.COUNT(Intake.id), peewee.fn.MIN(Intake.received_at)).where(
        Intake.state == "pending"
    )
    count, oldest = next(rows.tuples(query))
    oldest_at = Intake.received_at.python_value(oldest) if oldest is not None else None
    age = max(0.0, (now - oldest_at).total_seconds()) if oldest_at is not None else 0.0
    return Backlog(int(count), oldest_at, round(age, 3))


def outbox_counts() -> dict[str, int]:
    """Outgoing mail by status (pending, sent, failed, held), zero included."""
    counts = dict.fromkeys(("pending", "sent", "failed", "held"), 0)
    query = Outbox.select(Outbox.status, peewee.fn.COUNT(Outbox.id)).group_by(Outbox.status)
    for status, count in rows.tuples(query):
        counts[status] = int(count)
    return counts


def open_quarantine() -> int:
    return (
        Quarantine.select()
        .where(Quarantine.resolved_at.is_null() & Quarantine.discarded_at.is_null())
        .count()
    )


def document(now: dt.datetime) -> dict[str, Any]:
    """The backlog as JSON (`maildesk status --json`, `/healthz`)."""
    backlog = pending(now)
    return {
        "pending": backlog.pending,
        "oldest_pending_at": None
        if backlog.oldest_pending_at is None
        else backlog.oldest_pending_at.isoformat(),
        "oldest_pending_seconds": backlog.oldest_pending_seconds,
        "outbox": outbox_counts(),
        "quarantine": open_quarantine(),
    }
