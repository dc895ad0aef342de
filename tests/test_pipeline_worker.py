"""The daemon's background processing: two instances (threads with their own
connections, as two daemons on one database) never process a message twice, the
worker gives way to incoming transfers without starving, and keeps up in batches
while transfers never stop (a bad message quarantined alone, the backlog logged)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import peewee
import pytest

from maildesk.config import load_config
from maildesk.inbound.intake import Envelope, accept
from maildesk.pipeline import worker as worker_module
from maildesk.pipeline.flow import Outcome, Pipeline
from maildesk.pipeline.worker import PipelineWorker, Share, Traffic
from maildesk.store.db import using
from maildesk.store.executor import DbExecutor
from maildesk.store.models import Intake, Quarantine, Ticket
from maildesk.tickets.desk import Desk, utcnow
from tests.conftest import opened
from tests.test_daemon import mail

MESSAGES = 30


def test_worker_waits_while_a_transfer_is_in_flight_but_not_forever() -> None:
    traffic = Traffic(quiet=0.05, patience=0.5)
    stopping = threading.Event()
    began = time.monotonic()
    traffic.wait_for_quiet(stopping)
    assert time.monotonic() - began < 0.4  # nothing in flight: no wait

    traffic.begin()
    began = time.monotonic()
    traffic.wait_for_quiet(stopping)  # a transfer that never ends: patience runs out
    assert 0.45 <= time.monotonic() - began < 5

    watched = WatchedStop()
    returned: list[float] = []

    def worker() -> None:
        traffic.wait_for_quiet(watched)
        returned.append(time.monotonic())

    began = time.monotonic()
    thread = threading.Thread(target=worker)
    thread.start()
    assert watched.looked.wait(5)
    ended = time.monotonic()
    traffic.end()  # taken only once the worker waits (see WatchedStop)
    thread.join(5)
    # it went on once the transfer had ended and it had been quiet a while, well before
    # its patience ran out
    assert ended + traffic.quiet <= returned[0] < began + traffic.patience


class WatchedStop(threading.Event):
    """A stop flag that tells when a waiter first looks at it. `Traffic.wait_for_quiet`
    looks holding the traffic's lock, right before it waits (which lets the lock go):
    a `Traffic.end()` called after `looked` is set therefore runs while it waits."""

    def __init__(self) -> None:
        super().__init__()
        self.looked = threading.Event()

    def is_set(self) -> bool:
        self.looked.set()
        return super().is_set()


def test_stopping_ends_the_wait_at_once() -> None:
    traffic = Traffic(quiet=0.05, patience=30)
    traffic.begin()
    stopping = threading.Event()
    thread = threading.Thread(target=traffic.wait_for_quiet, args=(stopping,))
    thread.start()
    stopping.set()
    traffic.wake_waiters()
    thread.join(5)
    assert not thread.is_alive()


def _in_two_instances(
    db: peewee.Database, work: Callable[[Pipeline], Iterable[Outcome | None]]
) -> list[Outcome]:
    """`work` run by two pipelines at once, each in a thread with its own connection:
    the outcomes of the messages they processed."""
    config = load_config(None, {})
    done: list[Outcome] = []
    lock = threading.Lock()

    def instance() -> None:
        try:
            for outcome in work(Pipeline(Desk(db, config))):
                if outcome is not None:
                    with lock:
                        done.append(outcome)
        finally:
            db.close()

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return done


def _accept_many(db: peewee.Database, count: int, poison: int | None = None) -> None:
    for n in range(count):
        subject = "Poison" if n == poison else f"Storm {n}"
        raw = mail(subject, sender=f"s{n}@customer.example", message_id=f"<s{n}@c>")
        accept(db, raw, source="test", envelope=Envelope("c@customer.example"), now=utcnow())


def test_two_instances_share_the_backlog_in_batches(database_url: str) -> None:
    """`process_pending` claims the oldest pending messages; on PostgreSQL another
    instance's claimed rows are skipped, on SQLite the transactions take turns."""
    with opened(database_url, migrate=True) as db:
        _accept_many(db, MESSAGES)

        def in_batches(pipeline: Pipeline) -> Iterator[Outcome | None]:
            while outcomes := pipeline.process_pending(7, 30.0):
                yield from outcomes

        done = _in_two_instances(db, in_batches)
        assert sorted(Counter(o.intake_id for o in done).values()) == [1] * MESSAGES
        assert Ticket.select().count() == MESSAGES


def test_the_worker_keeps_up_while_transfers_never_end(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A transfer is always in flight (a steady stream of mail): the worker does not
    wait for a quiet moment that never comes, it processes in batches, stepping aside
    for at most `Share.gap` between them; the poisoned message alone is quarantined,
    and while it is behind the backlog is logged."""
    import maildesk.pipeline.flow as flow

    parse = flow.parse_message

    def poisoned(raw: bytes) -> object:
        if b"Subject: Poison" in raw:
            raise RuntimeError("parser bug")
        return parse(raw)

    monkeypatch.setattr(flow, "parse_message", poisoned)
    monkeypatch.setattr(worker_module, "BACKLOG_LOG_EVERY", 0.0)
    caplog.set_level(logging.INFO, logger="maildesk.pipeline.worker")
    traffic = Traffic(quiet=0.05, patience=600)  # waiting for quiet would take hours
    traffic.begin()
    with opened(database_url, migrate=True) as db:
        _accept_many(db, MESSAGES, poison=3)
        executor = DbExecutor(db, 1, "pipeline")
        pipeline = Pipeline(Desk(db, load_config(None, {})))
        worker = PipelineWorker(
            pipeline, executor, traffic, share=Share(batch=4, seconds=1.0, gap=0.2)
        )

        def pending() -> int:
            with using(db):
                return Intake.select().where(Intake.state == "pending").count()

        async def scenario() -> None:
            task = asyncio.create_task(worker.run())
            worker.wake()
            try:
                while await asyncio.get_running_loop().run_in_executor(executor, pending):
                    assert not task.done()
                    await asyncio.sleep(0.05)
            finally:
                worker.stop()
                await task

        asyncio.run(asyncio.wait_for(scenario(), 120))
        executor.shutdown(wait=True)
        assert Ticket.select().count() == MESSAGES - 1
        [entry] = Quarantine.select()
        assert entry.intake.message_id == "<s3@c>" and "parser bug" in entry.error
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("backlog:")]
    assert lines and "pending, the oldest for" in lines[0]
    assert lines[-1] == "backlog: caught up, no message pending"
