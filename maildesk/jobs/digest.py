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
from maildesk.store import rows
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

    def send(self, now: dt.datetime) -> list[str]:
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
