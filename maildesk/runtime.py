"""What a command needs at hand: the config, the database (migrated) and the pipeline.

Built once per process from the config and passed down; nothing global.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from maildesk.config import Config
from maildesk.inbound.intake import Envelope, accept
from maildesk.pipeline import Outcome, Pipeline, utcnow
from maildesk.store.db import open_database, upgrade


@dataclass
class Runtime:
    config: Config
    db: peewee.Database
    pipeline: Pipeline
    clock: Callable[[], dt.datetime]

    def ingest(self, raw: bytes, *, source: str, envelope: Envelope | None = None) -> Outcome:
        """Commit `raw`, then run it through the pipeline (a redelivery is reported, not redone)."""
        accepted = accept(self.db, raw, source=source, envelope=envelope, now=self.clock())
        if accepted.duplicate:
            return self.pipeline.duplicate(accepted.intake_id, accepted.message_id)
        return self.pipeline.process(accepted.intake_id)

    def close(self) -> None:
        self.db.close()


def open_runtime(config: Config, clock: Callable[[], dt.datetime] = utcnow) -> Runtime:
    """Open the configured database, bring its schema up to date, build the pipeline."""
    db = open_database(config.database.url)
    upgrade(db)
    return Runtime(config=config, db=db, pipeline=Pipeline(db, config, clock), clock=clock)
