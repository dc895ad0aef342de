"""The quarantine: messages the pipeline failed on, kept raw with their error until a
retry takes them in (design invariant 1). Used by `maildesk quarantine` and the web
view's quarantine page."""

from __future__ import annotations

from maildesk.pipeline import Outcome, Pipeline
from maildesk.store import repo
from maildesk.store.models import Intake, Quarantine


class NotQuarantined(LookupError):
    """No waiting quarantine entry with that ID."""


def waiting(limit: int | None = None) -> list[Quarantine]:
    """The entries still waiting, oldest first (with their intake rows)."""
    query = (
        Quarantine.select(Quarantine, Intake)
        .join(Intake)
        .where(Quarantine.resolved_at.is_null())
        .order_by(Quarantine.id)
    )
    return list(query if limit is None else query.limit(limit))


def count_waiting() -> int:
    return Quarantine.select().where(Quarantine.resolved_at.is_null()).count()


def retry(pipeline: Pipeline, entry_id: int | None) -> list[tuple[Quarantine, Outcome]]:
    """Run one waiting entry (None: every one) through the pipeline again."""
    query = Quarantine.select().where(Quarantine.resolved_at.is_null())
    if entry_id is not None:
        query = query.where(Quarantine.id == entry_id)
    entries = list(query.order_by(Quarantine.id))
    if entry_id is not None and not entries:
        raise NotQuarantined(f"no message in quarantine with ID {entry_id}")
    return [(q, pipeline.process(q.intake_id)) for q in entries]


def raw_message(entry_id: int) -> bytes | None:
    """The message as it came in, or None for an unknown entry."""
    entry = Quarantine.get_or_none(Quarantine.id == entry_id)
    return None if entry is None else repo.blob_bytes(entry.intake.raw_id)
