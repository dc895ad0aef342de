"""Scheduled work, driven by database state: the SLA pass, auto-close, the daily digest.

Where it sits in the flow: the daemon runs `Jobs.run` every `[sla]
scan_interval` seconds (`JobRunner`), and the CLI runs each part on demand
(`maildesk sla scan`, `maildesk digest send`). Nothing is remembered in
memory: each step finds its work with an indexed query on the stored due and
warn times, and claims it with a conditional UPDATE in the transaction that
also queues its mail. So a restart neither skips nor repeats anything, and two
instances on one PostgreSQL never both send the same warning or digest.

- warning: when `[sla] warn_percent` of a target has elapsed, to the assignee,
  else the category's agents, else everyone on duty; once per ticket and target.
- breach: recorded at the due time itself (not when the pass notices it);
  escalation level + 1, mail to `[sla] escalation_addresses` and the managers,
  the priority raised one step if `escalation_bump_priority`; once per target,
  whether this pass or a late answer (`escalation`, from the pipeline) sees it first.
- auto-close: resolved tickets after `[sla] auto_close_days`, with a notice.
- digest: each manager once per local day, from `[sla] digest_time` on (a
  `JobMark` row per manager and day decides).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import zoneinfo
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import peewee

from maildesk.core.vocabulary import AUTO_CLOSE_FROM, CLOSED, DIGEST_ROLES, DONE_STATUSES
from maildesk.pipeline.flow import Pipeline
from maildesk.queries import sla_report
from maildesk.store import repo, rows
from maildesk.store.db import write_transaction
from maildesk.store.models import Agent, JobMark, Ticket
from maildesk.tickets.escalation import event_collector

log = logging.getLogger(__name__)

BATCH = 200  # tickets per query and transaction
FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"


class Jobs:
    def __init__(self, db: peewee.Database, pipeline: Pipeline) -> None:
        self.db = db
        self.pipeline = pipeline
        self.config = pipeline.config
        self.mailer = pipeline.mailer
        self.sla = pipeline.sla
        self.policies = pipeline.policies
        self.escalation = pipeline.escalation

    def run(self, now: dt.datetime) -> dict[str, int]:
        """Everything that is due at `now`; counts of what was done."""
        done = self.sla_pass(now)
        done["closed"] = self.auto_close(now)
        done["digests"] = len(self.send_digests(now))
        return done

    # -- the SLA pass -------------------------------------------------------------------

    def sla_pass(self, now: dt.datetime) -> dict[str, int]:
        counts = {"breaches": 0, "warnings": 0}
        if not self.policies.enabled:
            return counts
        # Breaches first: a ticket whose warning time and due time have both passed (the
        # daemon was down) gets its breach, and no late warning.
        for target in (FIRST_RESPONSE, RESOLUTION):
            counts["breaches"] += self._drain(functools.partial(self._breaches, target, now))
        for target in (FIRST_RESPONSE, RESOLUTION):
            counts["warnings"] += self._drain(functools.partial(self._warnings, target, now))
        return counts

    def _drain(self, step: Callable[[], tuple[int, int]]) -> int:
        """Run `step` (one batch: (found, done)) until a batch finds less than BATCH."""
        total = 0
        while True:
            found, done = step()
            total += done
            if found < BATCH:
                return total

    def _breaches(self, target: str, now: dt.datetime) -> tuple[int, int]:
        due_field = getattr(Ticket, f"{target}_due")
        breached_field = getattr(Ticket, f"{target}_breached_at")
        where = (due_field <= now) & breached_field.is_null() & _live()
        if target == FIRST_RESPONSE:
            where &= Ticket.first_response_at.is_null()
        else:
            where &= Ticket.resolved_at.is_null() & Ticket.sla_paused_at.is_null()
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(where).order_by(due_field).limit(BATCH))
            for ticket in tickets:
                done += self.escalation.breach(ticket, target, now)
        return len(tickets), done

    def _warnings(self, target: str, now: dt.datetime) -> tuple[int, int]:
        warn_field = getattr(Ticket, f"{target}_warn_at")
        warned_field = getattr(Ticket, f"{target}_warned_at")
        breached_field = getattr(Ticket, f"{target}_breached_at")
        where = (warn_field <= now) & warned_field.is_null() & breached_field.is_null() & _live()
        if target == FIRST_RESPONSE:
            where &= Ticket.first_response_at.is_null()
        else:
            where &= Ticket.resolved_at.is_null() & Ticket.sla_paused_at.is_null()
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(where).order_by(warn_field).limit(BATCH))
            agents = repo.active_agents() if tickets else []
            for ticket in tickets:
                claimed = (
                    Ticket.update({warned_field: now})
                    .where((Ticket.id == ticket.id) & warned_field.is_null())
                    .execute()
                )
                if not claimed:
                    continue
                events: list[dict[str, Any]] = []
                log_ = event_collector(events, now)
                due_at = getattr(ticket, f"{target}_due")
                log_(ticket, "system", "sla_warning", {"target": target, "due": due_at.isoformat()})
                self.mailer.sla_warning(
                    ticket, target, due_at, self._workers(ticket, agents), now, log_
                )
                repo.record_events(events)
                done += 1
        return len(tickets), done

    def _workers(self, ticket: Ticket, agents: Sequence[Agent]) -> list[Agent]:
        """Who is told a target is at risk: the assignee, else the category's agents,
        else everyone on duty."""
        assignee = [a for a in agents if a.id == ticket.assignee_id]
        if assignee:
            return assignee
        category = self.policies.category(ticket.category)
        on_duty = self.mailer.on_duty(agents)
        if category is not None and category.agents:
            chosen = [a for a in on_duty if a.email in category.agents]
            if chosen:
                return chosen
        return on_duty

    # -- auto-close ---------------------------------------------------------------------

    def auto_close(self, now: dt.datetime) -> int:
        days = self.config.sla.auto_close_days
        if days <= 0:
            return 0
        before = now - dt.timedelta(days=days)
        return self._drain(functools.partial(self._close_batch, before, days, now))

    def _close_batch(self, before: dt.datetime, days: int, now: dt.datetime) -> tuple[int, int]:
        where = (
            (Ticket.status == AUTO_CLOSE_FROM) & (Ticket.resolved_at <= before) & Ticket.unmerged()
        )
        done = 0
        with write_transaction(self.db):
            tickets = list(Ticket.select().where(where).order_by(Ticket.resolved_at).limit(BATCH))
            for ticket in tickets:
                events: list[dict[str, Any]] = []
                log_ = event_collector(events, now)
                claimed = (
                    Ticket.update(status=CLOSED, closed_at=now, updated_at=now)
                    .where((Ticket.id == ticket.id) & (Ticket.status == AUTO_CLOSE_FROM))
                    .execute()
                )
                if not claimed:
                    continue
                ticket.status, ticket.closed_at = CLOSED, now  # `stamps`: resolved_at is kept
                log_(
                    ticket, "system", "status_changed", {"before": AUTO_CLOSE_FROM, "after": CLOSED}
                )
                log_(ticket, "system", "auto_closed", {"days": days})
                self.mailer.auto_close(ticket, days, now, log_)
                repo.record_events(events)
                done += 1
        return len(tickets), done

    # -- the daily digest ---------------------------------------------------------------

    def local_day(self, now: dt.datetime) -> tuple[str, bool]:
        """The local date (ISO) at `now`, and whether the digest time has come."""
        zone = zoneinfo.ZoneInfo(self.config.sla.timezone)
        local = now.astimezone(zone)
        at = self.policies.digest_time
        return local.date().isoformat(), at is not None and local.time() >= at

    def figures(self, now: dt.datetime) -> dict[str, Any]:
        return sla_report.digest(
            now,
            self.mailer.prefix,
            self.sla.clock_seconds,
            priorities=self.config.tickets.priorities,
        )

    def send_digests(self, now: dt.datetime) -> list[str]:
        """Queue today's digest for every manager who has not had it; their addresses."""
        day, time_has_come = self.local_day(now)
        if not time_has_come:
            return []
        sent: list[str] = []
        figures: dict[str, Any] | None = None
        with write_transaction(self.db):
            managers = list(
                Agent.select().where(Agent.active & Agent.role.in_(DIGEST_ROLES)).order_by(Agent.id)
            )
            for manager in managers:
                mark = {"name": "digest", "key": f"{manager.email}:{day}", "created_at": now}
                if rows.insert(self.db, JobMark, mark, ignore=True) is None:
                    continue  # sent already, by this instance or another
                if figures is None:
                    figures = self.figures(now)
                self.mailer.digest(manager, figures, day, now)
                sent.append(manager.email)
        return sent


def _live() -> Any:
    return Ticket.unmerged() & Ticket.status.not_in(DONE_STATUSES)


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
