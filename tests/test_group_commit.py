"""Group commit (maildesk.inbound.group_commit): messages that arrive together share a
transaction, each caller learns its own outcome, and a failed transaction fails
every message in it and stores none."""

from __future__ import annotations

import asyncio
from pathlib import Path

import peewee
import pytest

from maildesk.inbound.group_commit import GroupCommit
from maildesk.inbound.intake import Accepted, Delivery, Envelope
from maildesk.store.db import open_database, upgrade, using
from maildesk.store.executor import DbExecutor
from maildesk.store.models import Intake
from maildesk.tickets.desk import utcnow
from tests.test_daemon import mail


async def commit_all(db: peewee.Database, deliveries: list[Delivery]) -> list[Accepted]:
    executor = DbExecutor(db, 1, "test-intake")
    try:
        group = GroupCommit(db, executor, 1, utcnow)
        return await asyncio.gather(*(group.commit(d) for d in deliveries))
    finally:
        executor.shutdown()


def test_messages_arriving_together_share_transactions(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/maildesk.db")
    upgrade(db)
    envelope = Envelope("a@customer.example", ("support@example.com",))
    deliveries = [
        Delivery(mail(f"m{n}", message_id=f"<m{n}@c>"), "smtp:127.0.0.1", envelope)
        for n in range(20)
    ]
    deliveries.append(deliveries[3])  # the same message twice in one burst
    results = asyncio.run(commit_all(db, deliveries))
    try:
        with using(db):
            assert [r.duplicate for r in results] == [False] * 20 + [True]
            assert results[20].intake_id == results[3].intake_id
            assert len({r.intake_id for r in results}) == 20
            assert Intake.select().count() == 20
            # One commit per transaction: fewer transactions (distinct times) than messages.
            stamps = {row.received_at for row in Intake.select(Intake.received_at)}
            assert len(stamps) < 20
    finally:
        db.close()


def test_a_failed_transaction_fails_every_message_in_it(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/maildesk.db")  # no schema: every write fails
    deliveries = [Delivery(mail(f"m{n}", message_id=f"<m{n}@c>"), "smtp") for n in range(5)]

    async def attempt() -> list[Accepted | BaseException]:
        executor = DbExecutor(db, 1, "test-intake")
        try:
            group = GroupCommit(db, executor, 1, utcnow)
            return await asyncio.gather(
                *(group.commit(d) for d in deliveries), return_exceptions=True
            )
        finally:
            executor.shutdown()

    results = asyncio.run(attempt())
    assert all(isinstance(r, peewee.OperationalError) for r in results), results
    with pytest.raises(peewee.OperationalError), using(db):
        Intake.select().count()
    db.close()
