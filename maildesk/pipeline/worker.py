"""The daemon's pipeline worker: committed messages -> tickets, in the background.

Where it sits: listeners and pollers only commit raw mail (`inbound.intake`)
and wake this worker; it runs `Pipeline.process_if_pending` for every pending
intake in a database thread, one message per transaction, oldest first. It
also runs at start-up and every `interval` seconds, so messages committed
before a crash or by another instance are processed too. A message that fails
goes to quarantine (the pipeline's job); a database that fails (locked too long,
disk full, connection lost) leaves the message pending and is retried with a
pause that doubles up to `MAX_BACKOFF`, each failure logged with its cause.

The worker gives way to incoming mail (`Traffic`): before each message it
waits until no transfer is in flight, for at most `Traffic.patience` seconds.
Acknowledging mail is what senders wait for; turning it into tickets can take
the quiet moments, and under a burst it still makes progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor

from maildesk.inbound.intake import pending_ids
from maildesk.pipeline.flow import Outcome, Pipeline, describe
from maildesk.store.db import using

log = logging.getLogger(__name__)

BATCH = 100  # pending ids read per query
MAX_BACKOFF = 60.0  # seconds between retries while the database fails


class Traffic:
    """How many transfers the listeners have in flight (thread-safe).

    Listeners call `begin`/`end` around each transfer (DATA to its reply); the
    pipeline worker's thread calls `wait_for_quiet` before each message.
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

    def wait_for_quiet(self, stopping: threading.Event) -> None:
        deadline = time.monotonic() + self.patience
        with self._changed:
            while not stopping.is_set():
                now = time.monotonic()
                busy_for = self._last_end + self.quiet - now
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
    ) -> None:
        self.pipeline = pipeline  # replaced on reload; read once per message
        self._on_processed = on_processed  # called on the loop after each message
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
        """In a database thread: process pending intakes until none is left or stop()."""
        while not self._stopping.is_set():
            ids = pending_ids(limit=BATCH)
            processed = 0
            for intake_id in ids:
                self._traffic.wait_for_quiet(self._stopping)
                if self._stopping.is_set():
                    return
                outcome = self.pipeline.process_if_pending(intake_id)
                if outcome is not None:
                    processed += 1
                    _log_outcome(outcome)
                    if self._on_processed is not None and self._loop is not None:
                        self._loop.call_soon_threadsafe(self._on_processed)
            if not processed:
                return  # none left, or all held by other instances: look again later


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
