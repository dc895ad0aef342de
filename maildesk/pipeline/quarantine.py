"""The quarantine: messages the pipeline failed on, kept raw with their error until a
retry takes them in (design invariant 1). Used by `maildesk quarantine` and the web
view's quarantine page.

An entry is open (waiting for a fix), discarded (an admin set it aside as junk: its
raw message is kept, `list --all` shows it, and it can still be retried by its ID),
or resolved (a retry took it in).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maildesk.pipeline.flow import Outcome, Pipeline
from maildesk.store import repo
from maildesk.store.models import Intake, Quarantine


class NotQuarantined(LookupError):
    """No waiting quarantine entry with that ID."""


def _open() -> Any:
    return Quarantine.resolved_at.is_null() & Quarantine.discarded_at.is_null()


def waiting(limit: int | None = None) -> list[Quarantine]:
    """The open entries, oldest first (with their intake rows)."""
    return entries(limit, everything=False)


def entries(limit: int | None = None, *, everything: bool = True) -> list[Quarantine]:
    """Entries oldest first (with their intake rows): all of them, or only the open."""
    query = Quarantine.select(Quarantine, Intake).join(Intake).order_by(Quarantine.id)
    if not everything:
        query = query.where(_open())
    return list(query if limit is None else query.limit(limit))


def count_waiting() -> int:
    return Quarantine.select().where(_open()).count()


def retry(pipeline: Pipeline, entry_id: int | None) -> list[tuple[Quarantine, Outcome]]:
    """Run one entry, open or discarded (None: every open one), through the pipeline
    again. A retried entry that fails again is open again."""
    if entry_id is None:
        query = Quarantine.select().where(_open())
    else:
        query = Quarantine.select().where(
            (Quarantine.id == entry_id) & Quarantine.resolved_at.is_null()
        )
    chosen = list(query.order_by(Quarantine.id))
    if entry_id is not None and not chosen:
        raise NotQuarantined(f"no message in quarantine with ID {entry_id}")
    return [(q, pipeline.process(q.intake_id)) for q in chosen]


def discard(entry_id: int | None, now: dt.datetime) -> list[Quarantine]:
    """Set one open entry (None: every open one) aside as junk; the entries discarded.
    Run in the caller's transaction."""
    query = Quarantine.select().where(_open())
    if entry_id is not None:
        query = query.where(Quarantine.id == entry_id)
    chosen = list(query.order_by(Quarantine.id))
    if entry_id is not None and not chosen:
        raise NotQuarantined(f"no open message in quarantine with ID {entry_id}")
    for entry in chosen:
        # Conditional, so a retry that took the entry in meanwhile is not undone.
        taken = (
            Quarantine.update(discarded_at=now, updated_at=now)
            .where((Quarantine.id == entry.id) & _open())
            .execute()
        )
        if taken:
            entry.discarded_at = entry.updated_at = now
    return [entry for entry in chosen if entry.discarded_at is not None]


def raw_message(entry_id: int) -> bytes | None:
    """The message as it came in, or None for an unknown entry."""
    entry = Quarantine.get_or_none(Quarantine.id == entry_id)
    return None if entry is None else repo.blob_bytes(entry.intake.raw_id)
