"""PostgreSQL's LISTEN/NOTIFY: how instances on one database tell each other that the
event log grew, and who is on which ticket (`events.live`).

The event log's trigger (migration 0020) notifies with an empty payload after every
statement that adds events, so whatever writes them (any instance's pipeline, the
web, the CLI, a job) wakes every instance's follower, and only once its transaction
committed: NOTIFY is transactional. Presence goes the same way with a JSON payload
(`send`). The channel is named after the schema, as the trigger names it, so
installations sharing a server in different schemas do not wake each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import peewee

log = logging.getLogger(__name__)

# The channel, as the trigger of migrations/0020_live_updates.py spells it.
CHANNEL = "left('maildesk_live_' || current_schema(), 63)"
RETRY_SECONDS = 2.0  # after a lost connection: the follower polls meanwhile


def send(db: peewee.Database, payload: str) -> None:
    """NOTIFY every listening instance (this one too) with `payload` (in a database
    thread; outside a transaction it is delivered at once)."""
    db.execute_sql(f"SELECT pg_notify({CHANNEL}, %s)", (payload,))


class Listener:
    """One connection of its own, on the event loop, that LISTENs and hands on what it
    hears: an empty payload to `on_wake`, any other to `on_message`. It reconnects
    after a failure and wakes the follower then (what was committed meanwhile)."""

    def __init__(
        self,
        db: peewee.PostgresqlDatabase,
        on_wake: Callable[[], None],
        on_message: Callable[[str], None],
    ) -> None:
        self._db = db
        self._on_wake = on_wake
        self._on_message = on_message
        self.listening = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled."""
        import psycopg  # only installed with PostgreSQL support

        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                log.warning("live updates: listening failed (%s); retrying", _one_line(exc))
            self.listening.clear()
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        params = dict(self._db.connect_params)
        params.pop("prefer_psycopg3", None)
        connection = await psycopg.AsyncConnection.connect(
            dbname=self._db.database, autocommit=True, **params
        )
        async with connection:
            cursor = await connection.execute(f"SELECT {CHANNEL}")
            row = await cursor.fetchone()
            assert row is not None
            await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(row[0])))
            self.listening.set()
            self._on_wake()
            async for note in connection.notifies():
                if note.payload:
                    self._on_message(note.payload)
                else:
                    self._on_wake()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
