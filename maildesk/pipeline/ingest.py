"""Ingest for the commands: mail committed, then run through the pipeline at once.

Where it sits: `maildesk ingest` (and the web view's own mail, `web.actions`)
store raw mail with `inbound.intake` and process it here in the same process,
where the daemon leaves that to its pipeline worker. `open_runtime` is the
commands' composition root: the database (migrated), the `Desk` built once from
the config, and the pipeline over it, passed down; nothing global.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from maildesk.config import Config, read_environ
from maildesk.inbound.intake import Delivery, Envelope, accept, accept_all, pending_among
from maildesk.pipeline.flow import Outcome, Pipeline, describe
from maildesk.store import repo
from maildesk.store.blobs import attach, open_blobs
from maildesk.store.db import is_transient, open_database, upgrade, using
from maildesk.tickets.desk import Desk, OnDesk, utcnow


class NotProcessed(Exception):
    """The messages are stored, but the database failed while processing them: they
    stay pending, for the daemon's pipeline worker or the next `ingest` of them."""

    def __init__(self, cause: Exception, message_ids: Sequence[str | None]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.message_ids = list(message_ids)


@dataclass
class Runtime(OnDesk):
    """A command's desk (its services, on its database) and the pipeline over it."""

    desk: Desk
    pipeline: Pipeline

    def ingest(self, raw: bytes, *, source: str, envelope: Envelope | None = None) -> Outcome:
        """Commit `raw`, then run it through the pipeline (a redelivery is reported, not
        redone). The action is "pending" when the database failed after the commit: the
        message is stored, and the daemon's pipeline worker processes it later."""
        accepted = accept(self.db, raw, source=source, envelope=envelope, now=self.clock())
        if accepted.duplicate:
            return self.pipeline.duplicate(accepted.intake_id, accepted.message_id)
        try:
            return self.pipeline.process(accepted.intake_id, raw)
        except Exception as exc:
            if not is_transient(exc):
                raise
            reason = f"stored, not processed yet: {describe(exc)}"
            return Outcome(accepted.intake_id, "pending", None, accepted.message_id, reason)

    def ingest_batch(self, items: Sequence[tuple[bytes, str]]) -> list[Outcome]:
        """Commit several messages (raw, source) at once, then process them in one
        transaction: group commit for `maildesk ingest`. A redelivery is reported as a
        duplicate, unless its earlier copy was never processed (a crash in between):
        then it is processed now. NotProcessed when the database fails after the
        messages were stored."""
        accepted = accept_all(
            self.db, [Delivery(raw, source) for raw, source in items], now=self.clock()
        )
        unprocessed = pending_among([a.intake_id for a in accepted if a.duplicate])
        todo: dict[int, bytes] = {}
        for a, (raw, _) in zip(accepted, items, strict=True):
            if (not a.duplicate or a.intake_id in unprocessed) and a.intake_id not in todo:
                todo[a.intake_id] = raw
        try:
            outcomes = self.pipeline.process_batch(list(todo.items()))
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise NotProcessed(exc, [a.message_id for a in accepted]) from exc
        done = dict(zip(todo, outcomes, strict=True))
        return [
            done.pop(a.intake_id, None) or self.pipeline.duplicate(a.intake_id, a.message_id)
            for a in accepted
        ]

    @contextlib.contextmanager
    def session(self) -> Iterator[Runtime]:
        """The command's unit of work: the block runs on this runtime's database
        (`store.db.using`); the database is closed after."""
        try:
            with using(self.db):
                yield self
        finally:
            self.close()

    def close(self) -> None:
        self.db.close()


def open_runtime(config: Config, clock: Callable[[], dt.datetime] = utcnow) -> Runtime:
    """The composition root of a command: open the configured database and its byte
    store, build the desk's services, bring the schema up to date, and the pipeline over them."""
    db = open_database(config.database.url)
    try:
        attach(db, open_blobs(config.storage, read_environ()))  # no boto3: ConfigError
        desk = Desk(db, config, clock)  # a bad template or rule: ConfigError
        upgrade(db)
        repo.adopt_tickets(db, desk.desks.default.slug, desk.desks.slugs)
    except BaseException:
        db.close()
        raise
    return Runtime(desk, Pipeline(desk))
