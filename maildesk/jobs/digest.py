"""The daily digest: each manager once per local day, from `[sla] digest_time` on.

Where it sits: run by the jobs (`jobs.runner`) after each SLA pass, and by
`maildesk digest send`; the figures come from `queries.sla_report.digest`. A
`JobMark` row per manager and day, inserted in the transaction that queues the
mail, decides who has had today's digest, across restarts and instances.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from maildesk.core.vocabulary import DIGEST_ROLES
from maildesk.queries import sla_report
from maildesk.store import repo, rows
from maildesk.store.db import write_transaction
from maildesk.store.models import Agent, JobMark
from maildesk.tickets.desk import Desk


class Digest:
    def __init__(self, desk: Desk) -> None:
        self.db = desk.db
        self.config = desk.config
        self.mailer = desk.mailer
        self.sla = desk.sla
        self.policies = desk.policies
        self.desks = desk.desks

    def local_day(self, now: dt.datetime) -> tuple[str, bool]:
        """The local date (ISO) at `now`, and whether the digest time has come."""
        zone = zoneinfo.ZoneInfo(self.config.sla.timezone)
        local = now.astimezone(zone)
        at = self.policies.digest_time
        return local.date().isoformat(), at is not None and local.time() >= at

    def figures(
        self,
        now: dt.datetime,
        desk: str | None = None,
        categories: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """The digest's figures: of one desk (slug), or of every desk (None); of these
        categories only (a manager limited to some), or of all (None)."""
        return sla_report.digest(
            now,
            self.mailer.desks,
            self.sla.clock_seconds,
            priorities=self.config.tickets.priorities,
            scope=self.desks.scope(None if desk is None else [desk], categories),
            next_response=self.policies.next_response,
        )

    def send(self, now: dt.datetime) -> list[str]:
        """Queue today's digest for every manager who has not had it; their addresses.
        With several desks, each manager gets one digest per desk they work, of that
        desk's tickets, from that desk; a manager limited to categories, of those."""
        day, time_has_come = self.local_day(now)
        if not time_has_come:
            return []
        sent: list[str] = []
        figures: dict[tuple[str | None, frozenset[str] | None], dict[str, Any]] = {}
        with write_transaction(self.db):
            managers = list(
                Agent.select().where(Agent.active & Agent.role.in_(DIGEST_ROLES)).order_by(Agent.id)
            )
            works = repo.agent_desks(managers, self.desks.default.slug)
            limits = repo.agent_categories(managers)  # of their categories only, if limited
            for manager in managers:
                for desk in self._desks_of(works[manager.id]):
                    key = (
                        f"{manager.email}:{day}"
                        if desk is None
                        else f"{manager.email}:{desk}:{day}"
                    )
                    mark = {"name": "digest", "key": key, "created_at": now}
                    if rows.insert(self.db, JobMark, mark, ignore=True) is None:
                        continue  # sent already, by this instance or another
                    seen = (desk, limits[manager.id])
                    if seen not in figures:
                        figures[seen] = self.figures(now, *seen)
                    profile = None if desk is None else self.desks.get(desk)
                    self.mailer.digest(manager, figures[seen], day, now, profile)
                    sent.append(manager.email if desk is None else f"{manager.email} ({desk})")
        return sent

    def _desks_of(self, works: frozenset[str] | None) -> list[str | None]:
        """The digests a manager gets: one of everything with a single desk (None), else
        one per desk they work."""
        if not self.desks.several:
            return [None]
        return [d.slug for d in self.desks.all if works is None or d.slug in works]
