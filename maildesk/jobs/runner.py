"""Scheduled work, driven by database state: the SLA pass, auto-close, the daily digest.

Where it sits in the flow: the daemon runs `Jobs.run` every `[sla]
scan_interval` seconds (`JobRunner`), and the CLI runs each part on demand
(`maildesk sla scan`, `maildesk digest send`). Nothing is remembered in
memory: each step finds its work with an indexed query on the stored due and
warn times, and claims it with a conditional UPDATE in the transaction that
also queues its mail. So a restart neither skips nor repeats anything, and two
instances on one PostgreSQL never both send the same warning or digest. After
each pass `store.db.optimize` keeps SQLite's planner statistics fresh, so those
indexed queries stay indexed as the tickets grow.

    jobs.sla_pass     warnings and breaches that have come due
    jobs.auto_close   resolved tickets closed after `[sla] auto_close_days`
    jobs.snooze       snoozed tickets woken, reminders sent, when their time comes
    jobs.waiting_close  tickets waiting on the customer warned, then closed
    jobs.rating       the satisfaction question, `[tickets] rating_delay_hours` after resolution
    jobs.digest       each manager's daily digest
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from maildesk.jobs.auto_close import AutoClose
from maildesk.jobs.digest import Digest
from maildesk.jobs.rating import RatingQuestions
from maildesk.jobs.sla_pass import SlaPass
from maildesk.jobs.snooze import Snoozes
from maildesk.jobs.waiting_close import WaitingClose
from maildesk.store.db import optimize, using
from maildesk.tickets.desk import Desk

log = logging.getLogger(__name__)


class Jobs:
    """The jobs of one desk, each run on the desk's database (`store.db.using`),
    from whichever thread calls it."""

    def __init__(self, desk: Desk) -> None:
        self._db = desk.db
        self._sla_pass = SlaPass(desk)
        self._auto_close = AutoClose(desk)
        self._digest = Digest(desk)
        self._snoozes = Snoozes(desk)
        self._waiting_close = WaitingClose(desk)
        self._ratings = RatingQuestions(desk)

    def run(self, now: dt.datetime) -> dict[str, int]:
        """Everything that is due at `now`; counts of what was done."""
        done = self.sla_pass(now)
        done["closed"] = self.auto_close(now)
        done |= self.snoozes(now)
        done |= self.waiting_close(now)
        done["rating questions"] = self.rating_questions(now)
        done["digests"] = len(self.send_digests(now))
        # The planner statistics of the tables this pass read, should they have grown
        # much (SQLite; nothing to do is the usual case and costs microseconds).
        optimize(self._db)
        return done

    def sla_pass(self, now: dt.datetime) -> dict[str, int]:
        with using(self._db):
            return self._sla_pass.run(now)

    def auto_close(self, now: dt.datetime) -> int:
        with using(self._db):
            return self._auto_close.run(now)

    def snoozes(self, now: dt.datetime) -> dict[str, int]:
        with using(self._db):
            return self._snoozes.run(now)

    def waiting_close(self, now: dt.datetime) -> dict[str, int]:
        with using(self._db):
            return self._waiting_close.run(now)

    def rating_questions(self, now: dt.datetime) -> int:
        with using(self._db):
            return self._ratings.run(now)

    def send_digests(self, now: dt.datetime) -> list[str]:
        with using(self._db):
            return self._digest.send(now)

    def figures(self, now: dt.datetime, desk: str | None = None) -> dict[str, Any]:
        with using(self._db):
            return self._digest.figures(now, desk)

    def local_day(self, now: dt.datetime) -> tuple[str, bool]:
        return self._digest.local_day(now)


class JobRunner:
    """The daemon's scheduler: `Jobs.run` every `interval` seconds in a database thread,
    and the outbox woken when anything was queued. A failing pass is logged and tried
    again next time (its work is still in the database). Each completed pass is logged
    at debug level as `jobs: pass done` (tests wait for it rather than for a while)."""

    def __init__(
        self,
        jobs: Jobs,
        executor: Executor,
        interval: float,
        clock: Callable[[], dt.datetime],
        on_mail: Callable[[], None],
    ) -> None:
        self.jobs = jobs
        self._executor = executor
        self._interval = interval
        self._clock = clock
        self._on_mail = on_mail
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                done = await loop.run_in_executor(self._executor, self.jobs.run, self._clock())
            except Exception:  # noqa: BLE001 - logged; the next pass finds the same work
                log.exception("scheduled jobs failed; trying again in %.0f s", self._interval)
            else:
                if any(done.values()):
                    log.info("jobs: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
                    self._on_mail()
                log.debug("jobs: pass done")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
