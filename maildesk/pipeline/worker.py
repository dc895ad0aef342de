"""The daemon's pipeline worker: committed messages -> tickets, in the background.

Where it sits: listeners and pollers only commit raw mail (`inbound.intake`)
and wake this worker; it runs `Pipeline.process_pending` in a database thread:
the oldest pending messages in one transaction, a savepoint each, oldest first,
until none is left. It also runs at start-up and every `interval` seconds, so
messages committed before a crash or by another instance are processed too. A
message that fails goes to quarantine alone (the pipeline's job); a database
that fails (locked too long, disk full, connection lost) rolls the batch back,
leaves its messages pending, and is retried with a pause that doubles up to
`MAX_BACKOFF`, each failure logged with its cause.

Sharing the write path with incoming mail (`Share`): on SQLite there is one
writer at a time, and the listeners' group commits (`inbound.group_commit`)
wait for the worker's transaction. So a batch is bounded by count and time
(`Share.batch`, `Share.seconds`), and between batches, while transfers are in
flight (`Traffic`: a transfer waiting for its commit is one), the worker steps
aside until none is, for up to `Share.gap` seconds, so a waiting commit gets the
lock: under a steady load tickets follow the mail closely, and a `250` waits for
at most about one batch. On PostgreSQL the
worker's connection writes alongside the listeners' (row locks, not a database
lock), so it does not step aside at all.

While messages are pending it logs the backlog (count, age of the oldest) every
`BACKLOG_LOG_EVERY` seconds; an idle daemon logs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import peewee

from maildesk.pipeline.flow import Outcome, Pipeline, describe
from maildesk.queries import backlog
from maildesk.store.db import is_postgres, using

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0  # seconds between retries while the database fails
BACKLOG_LOG_EVERY = 10.0  # seconds between backlog lines while messages are pending


@dataclass(frozen=True)
class Share:
    """How the worker shares the write path with incoming mail (see the docstring).

    Measured with bench/smtp at a steady 100 msg/s on SQLite (2 shared cores):
    batches of up to 0.1 s keep a `250` waiting at most about that long, and after
    each batch the commits that waited meanwhile get the lock (within 0.05 s), so
    the p99 lag from `250` to ticket stays near 1-4 s instead of growing with the
    backlog, as it did when the worker waited for a quiet moment before each
    message.
    """

    batch: int = 50  # messages per transaction at most
    seconds: float = 0.1  # no further message is started in a batch after this
    gap: float = 0.05  # longest step aside between batches while mail is arriving

    @classmethod
    def for_database(cls, db: peewee.Database) -> Share:
        return cls(gap=0.0) if is_postgres(db) else cls()


class Traffic:
    """How many transfers the listeners have in flight (thread-safe).

    Listeners call `begin`/`end` around each transfer (DATA to its reply); the
    pipeline worker's thread calls `wait_for_quiet` between batches.
    """

    def __init__(self, quiet: float = 0.02, patience: float = 1.0) -> None:
        self.quiet = quiet  # seconds without a transfer that count as quiet
        self.patience = patience  # longest wait before processing anyway
        self._in_flight = 0
        self._last_end = 0.0
        self._changed = threading.Condition()

    def begin(self) -> None:
        with self._changed:
            self._in_flight += 1

    def end(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._last_end = time.monotonic()
            if not self._in_flight:  # only then can a waiting worker go on
                self._changed.notify_all()

    def wake_waiters(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_for_quiet(
        self, stopping: threading.Event, patience: float | None = None, quiet: float | None = None
    ) -> None:
        """Until no transfer has been in flight for `quiet` seconds, or `patience` has
        run out (both default to the traffic's), or `stopping` is set."""
        deadline = time.monotonic() + (self.patience if patience is None else patience)
        quiet = self.quiet if quiet is None else quiet
        with self._changed:
            while not stopping.is_set():
                now = time.monotonic()
                busy_for = self._last_end + quiet - now
                if (not self._in_flight and busy_for <= 0) or now >= deadline:
                    return
                wait = deadline - now if self._in_flight else min(busy_for, deadline - now)
                self._changed.wait(wait)


class PipelineWorker:
    """Processes pending intakes when woken, and every `interval` seconds."""

    def __init__(
        self,
        pipeline: Pipeline,
        executor: Executor,
        traffic: Traffic,
        interval: float = 5.0,
        on_processed: Callable[[], None] | None = None,
        share: Share | None = None,
    ) -> None:
        self.pipeline = pipeline  # replaced on reload; read once per batch
        self._on_processed = on_processed  # called on the loop after each batch
        self._share = share or Share.for_database(pipeline.db)
        self._clock: Callable[[], dt.datetime] = pipeline.desk.clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = executor
        self._traffic = traffic
        self._interval = interval
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = threading.Event()  # read by the database thread between messages

    def wake(self) -> None:
        """Something was committed: process it soon."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the message in hand, then return from `run`."""
        self._stopping.set()
        self._traffic.wake_waiters()
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        pause = self._interval
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await loop.run_in_executor(self._executor, self._drain_or_reconnect)
            except Exception as exc:  # noqa: BLE001 - the database failed: retry later
                pause = min(MAX_BACKOFF, pause * 2)
                log.error(
                    "cannot process pending messages (retrying in %.1f s): %s",
                    pause,
                    describe(exc),
                )
                await _wait(self._stop, pause)  # wake-ups do not shorten a back-off
                continue
            pause = self._interval
            await _wait(self._wake, self._interval)

    def _drain_or_reconnect(self) -> None:
        """`_drain`; when the database fails, this thread's connection is closed first,
        so the next attempt opens a new one (a lost connection is never reused)."""
        try:
            with using(self.pipeline.db):
                self._drain()
        except Exception:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                self.pipeline.db.close()
            raise

    def _drain(self) -> None:
        """In a database thread: process pending intakes, a batch at a time, until none
        is left or stop()."""
        share = self._share
        behind = _BacklogLines(self._clock)
        while not self._stopping.is_set():
            outcomes = self.pipeline.process_pending(share.batch, share.seconds)
            if not outcomes:
                behind.cleared()
                return  # none left, or all held by other instances: look again later
            for outcome in outcomes:
                _log_outcome(outcome)
            if self._on_processed is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(self._on_processed)
            behind.tick()
            if share.gap > 0:  # until the transfers that wait for a commit have their 250
                self._traffic.wait_for_quiet(self._stopping, share.gap, quiet=0.0)


class _BacklogLines:
    """The backlog in the log while one drain goes on: a line after every
    BACKLOG_LOG_EVERY seconds of it, and one when it has caught up. A worker that
    keeps up ends its drains sooner and logs nothing."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self._last = time.monotonic()
        self._logged = False

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last < BACKLOG_LOG_EVERY:
            return
        self._last = now
        waiting = backlog.pending(self._clock())
        if waiting.pending:
            self._logged = True
            log.info("backlog: %s", waiting.summary())

    def cleared(self) -> None:
        if self._logged:
            log.info("backlog: caught up, no message pending")


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _log_outcome(outcome: Outcome) -> None:
    level = logging.WARNING if outcome.action == "quarantined" else logging.INFO
    log.log(
        level,
        "intake %d %s %s (%s)",
        outcome.intake_id,
        outcome.action,
        outcome.ticket or "-",
        outcome.reason,
    )
