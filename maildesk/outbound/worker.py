"""The daemon's outbox worker: pending mail -> the relay (or the maildir), with retries.

Where it sits: the pipeline queues mail (`outbound.compose`) and wakes this
worker; it also looks every `interval` seconds and when the earliest retry is
due. Database work runs in the daemon's database threads; each send runs in a
thread of its own (`asyncio.to_thread`), so a slow relay never holds the loop
or a database connection. See `outbound.outbox` for claiming and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import Executor

import peewee

from maildesk.config import OutboundConfig
from maildesk.outbound import outbox
from maildesk.outbound.transport import Result, Transport

log = logging.getLogger(__name__)

BATCH = 20
MAX_BACKOFF = 60.0  # seconds between tries while the database fails


class OutboxWorker:
    def __init__(
        self,
        db: peewee.Database,
        executor: Executor,
        transport: Transport,
        composer: outbox.Composer,
        config: OutboundConfig,
        clock: Callable[[], dt.datetime],
        interval: float = 5.0,
    ) -> None:
        self.db = db
        self._executor = executor
        self._transport = transport
        self._composer = composer
        self._config = config
        self._clock = clock
        self._interval = interval
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Mail was queued: look soon."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the mail in hand, then return from `run`."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        pause = self._interval
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    sent_any = await self._round(loop)
                    due = await loop.run_in_executor(self._executor, outbox.next_due, self.db)
                except peewee.PeeweeException as exc:
                    pause = min(MAX_BACKOFF, pause * 2)
                    log.error("outbox: database error (retrying in %.0f s): %s", pause, exc)
                    await self._wait(None, pause)
                    continue
                pause = self._interval
                if sent_any:
                    continue  # there may be more due right away
                await self._wait(due, self._interval)
        finally:
            await asyncio.to_thread(self._transport.close)

    async def _round(self, loop: asyncio.AbstractEventLoop) -> bool:
        claimed = await loop.run_in_executor(
            self._executor, outbox.claim_due, self.db, self._clock(), BATCH
        )
        for done, row in enumerate(claimed):
            if self._stopping:  # the rest go back, for the next start
                unsent = [r.id for r in claimed[done:]]
                await loop.run_in_executor(self._executor, outbox.release, self.db, unsent)
                break
            ready = await loop.run_in_executor(
                self._executor, outbox.compose_once, self.db, row, self._composer
            )
            if isinstance(ready, Result):
                result = ready
            else:
                assert ready.raw is not None
                result = await asyncio.to_thread(
                    self._transport.send,
                    str(ready.id),
                    ready.raw,
                    ready.envelope_from,
                    ready.recipients,
                )
            status = await loop.run_in_executor(
                self._executor, outbox.record, self.db, row.id, result, self._clock(), self._config
            )
            level = logging.WARNING if status == "failed" else logging.INFO
            shown = "will retry" if status == "pending" else status
            log.log(level, "outbox %d %s: %s", row.id, shown, result.detail)
        return bool(claimed)

    async def _wait(self, due: dt.datetime | None, timeout: float) -> None:
        """Until woken, `due` (the earliest retry) or `timeout` seconds, whichever first."""
        if due is not None:
            timeout = min(timeout, max(0.0, (due - self._clock()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
