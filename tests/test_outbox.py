"""outbound.outbox: claiming due mail with a lease, recording results, retries, giving up.

On SQLite and PostgreSQL; real transports (maildir, an SMTP sink) where a send happens.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.config import load_config
from maildesk.outbound import outbox
from maildesk.outbound.transport import MaildirTransport, Outcome, Result, SmtpTransport
from maildesk.pipeline.ingest import Runtime, open_runtime
from maildesk.store.models import Event, Outbox
from tests.conftest import write_config
from tests.conversation import customer_mail
from tests.sink import Sink

T0 = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    config = load_config(
        write_config(
            tmp_path, database_url, outbound="retry_base = 60\nretry_max = 600\ngive_up_hours = 2"
        )
    )
    with open_runtime(config, clock=lambda: T0).session() as running:
        yield running


def queue(runtime: Runtime, n: int = 1) -> list[int]:
    """`n` customers write; each gets an acknowledgement (no agents: nothing else)."""
    for i in range(n):
        runtime.ingest(customer_mail(f"C{i} <c{i}@customer.test>", subject=f"Q{i}"), source="test")
    return [row.id for row in Outbox.select(Outbox.id).order_by(Outbox.id)]


@pytest.mark.parametrize("attempts", range(1, 12))
def test_backoff_doubles_up_to_the_cap_with_jitter(attempts: int) -> None:
    low = outbox.backoff(attempts, 60, 3600, lambda: 0.0)
    high = outbox.backoff(attempts, 60, 3600, lambda: 0.999999)
    full = min(3600, 60 * 2 ** (attempts - 1))
    assert low == pytest.approx(full / 2)
    assert high == pytest.approx(full, rel=1e-5)


def test_claim_leases_rows(runtime: Runtime) -> None:
    ids = queue(runtime, 3)
    db = runtime.db
    claimed = outbox.claim_due(db, T0, 2)
    assert [c.id for c in claimed] == ids[:2]
    assert claimed[0].recipients == ("c0@customer.test",)
    assert claimed[0].raw is None and claimed[0].draft is not None  # composed when sent
    assert [c.id for c in outbox.claim_due(db, T0, 10)] == ids[2:]  # the others are held
    assert outbox.claim_due(db, T0, 10) == []
    later = T0 + outbox.LEASE + dt.timedelta(seconds=1)  # a worker died holding them
    assert [c.id for c in outbox.claim_due(db, later, 10)] == ids


def test_temporary_failure_retries_later_then_gives_up(runtime: Runtime) -> None:
    [row_id] = queue(runtime)
    db, config = runtime.db, runtime.config.outbound
    failure = Result(Outcome.TEMPORARY, "451 4.3.0 try again later")
    assert outbox.record(db, row_id, failure, T0, config, lambda: 0.0) == "pending"
    row = Outbox.get_by_id(row_id)
    assert (row.attempts, row.last_error, row.lease_until) == (1, "451 4.3.0 try again later", None)
    assert row.next_attempt_at == T0 + dt.timedelta(seconds=30)
    assert outbox.claim_due(db, T0 + dt.timedelta(seconds=29), 10) == []
    assert len(outbox.claim_due(db, T0 + dt.timedelta(seconds=30), 10)) == 1
    outbox.record(db, row_id, failure, T0, config, lambda: 0.0)
    assert Outbox.get_by_id(row_id).next_attempt_at == T0 + dt.timedelta(seconds=60)
    after = T0 + dt.timedelta(hours=2)  # give_up_hours
    assert outbox.record(db, row_id, failure, after, config) == "failed"
    row = Outbox.get_by_id(row_id)
    assert row.last_error == "gave up after 3 attempts: 451 4.3.0 try again later"
    [event] = Event.select().where(Event.type == "mail_failed")
    assert event.data["purpose"] == "ack" and "gave up" in event.data["error"]


def test_permanent_failure_and_retry(runtime: Runtime) -> None:
    [row_id] = queue(runtime)
    db, config = runtime.db, runtime.config.outbound
    outbox.record(db, row_id, Result(Outcome.PERMANENT, "550 5.1.1 no such user"), T0, config)
    assert Outbox.get_by_id(row_id).status == "failed"
    assert outbox.retry(db, None, T0, config) == 1
    row = Outbox.get_by_id(row_id)
    assert (row.status, row.next_attempt_at) == ("pending", T0)
    assert row.give_up_at == T0 + dt.timedelta(hours=2)
    outbox.record(db, row_id, Result(Outcome.SENT, "250 ok"), T0, config)
    assert outbox.retry(db, [row_id], T0, config) == 0  # sent mail is never sent again


def test_partial_refusal_is_sent_with_the_refusal_kept(runtime: Runtime) -> None:
    [row_id] = queue(runtime)
    result = Result(Outcome.SENT, "250 ok; refused RCPT TO:<x@y>: 550 no", refused=("x@y",))
    assert outbox.record(runtime.db, row_id, result, T0, runtime.config.outbound) == "sent"
    assert "refused" in Outbox.get_by_id(row_id).last_error


def test_deliver_due_to_a_maildir_and_an_smtp_sink(runtime: Runtime, tmp_path: Path) -> None:
    ids = queue(runtime, 2)
    folder = tmp_path / "out"
    compose = runtime.desk.mailer.compose
    counts = outbox.deliver_due(
        runtime.db, MaildirTransport(folder), compose, runtime.config.outbound, runtime.clock
    )
    assert counts == {"sent": 2, "pending": 0, "failed": 0}
    assert sorted(p.name for p in (folder / "new").iterdir()) == [f"{i}.eml" for i in ids]
    assert (
        outbox.deliver_due(
            runtime.db, MaildirTransport(folder), compose, runtime.config.outbound, runtime.clock
        )["sent"]
        == 0
    )
    assert outbox.retry(runtime.db, ids, T0, runtime.config.outbound) == 0  # sent stays sent
    ids = queue(runtime, 4)[2:]
    with Sink() as sink:
        transport = SmtpTransport(sink.host, sink.port, "none", "", None)
        try:
            outbox.deliver_due(
                runtime.db, transport, compose, runtime.config.outbound, runtime.clock
            )
        finally:
            transport.close()
        received = sink.wait_for(2)
    assert {r.raw.replace(b"\r\n", b"\n") for r in received} == {
        bytes(Outbox.get_by_id(i).raw).replace(b"\r\n", b"\n") for i in ids
    }


def test_two_workers_never_claim_the_same_row(runtime: Runtime) -> None:
    ids = queue(runtime, 12)
    db = runtime.db
    got: list[list[int]] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        mine: list[int] = []
        try:
            for _ in range(6):
                mine += [c.id for c in outbox.claim_due(db, T0, 2)]
        finally:
            db.close()  # this thread's connection
        got.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    claimed = [i for mine in got for i in mine]
    assert sorted(claimed) == ids  # each row once, every row


def test_list_rows_shows_the_ticket(runtime: Runtime) -> None:
    queue(runtime)
    [row] = outbox.list_rows()
    assert (row.ticket_seq, row.ticket_desk, row.purpose) == (1, "default", "ack")
    assert outbox.list_rows("sent") == []


def test_retry_waits_follow_the_configured_settings(runtime: Runtime) -> None:
    changed = dataclasses.replace(runtime.config.outbound, retry_base=1, retry_max=1)
    [row_id] = queue(runtime)
    outbox.record(
        runtime.db, row_id, Result(Outcome.TEMPORARY, "421 busy"), T0, changed, lambda: 0.999
    )
    assert Outbox.get_by_id(row_id).next_attempt_at <= T0 + dt.timedelta(seconds=1)


def test_composed_once_then_the_same_bytes_every_time(runtime: Runtime) -> None:
    [row_id] = queue(runtime)
    db, compose = runtime.db, runtime.desk.mailer.compose
    [claimed] = outbox.claim_due(db, T0, 1)
    ready = outbox.compose_once(db, claimed, compose)
    assert isinstance(ready, outbox.Claimed) and ready.raw is not None
    assert b"[SUP-00001]" in ready.raw and b"Auto-Submitted: auto-replied" in ready.raw
    row = Outbox.get_by_id(row_id)
    assert bytes(row.raw) == ready.raw and row.draft is None
    # a later attempt sends the stored bytes; the composer is not asked again
    again = outbox.compose_once(db, claimed, lambda draft: b"other bytes")
    assert isinstance(again, outbox.Claimed) and again.raw == ready.raw


def test_a_draft_that_cannot_be_composed_fails_with_the_reason(runtime: Runtime) -> None:
    [row_id] = queue(runtime)
    db, config = runtime.db, runtime.config.outbound

    def broken(draft: dict[str, object]) -> bytes:
        raise ValueError("mail/ack.txt, line 2: 'ticket' has no attribute 'nmae'")

    counts = outbox.deliver_due(db, MaildirTransport(Path("out")), broken, config, runtime.clock)
    assert counts["failed"] == 1
    row = Outbox.get_by_id(row_id)
    assert row.status == "failed" and row.last_error.startswith("cannot compose: mail/ack.txt")
    assert row.draft is not None  # kept: `outbox retry` composes it again after the fix


def test_a_stopping_worker_gives_back_the_rows_it_did_not_send(
    runtime: Runtime, tmp_path: Path
) -> None:
    """Stopped mid-batch, the worker finishes the mail in hand and releases the rest, so
    the next start sends them at once rather than when their lease runs out."""
    import asyncio

    from maildesk.outbound.worker import OutboxWorker
    from maildesk.store.executor import DbExecutor

    ids = queue(runtime, 3)
    sending = threading.Event()
    go_on = threading.Event()

    class Slow(MaildirTransport):
        def send(self, key: str, raw: bytes, envelope_from: str, recipients: tuple) -> Result:
            sending.set()
            go_on.wait(10)
            return super().send(key, raw, envelope_from, recipients)

    async def run() -> None:
        with DbExecutor(runtime.db, 1, "outbox") as pool:
            worker = OutboxWorker(
                runtime.db,
                pool,
                Slow(tmp_path / "out"),
                runtime.desk.mailer.compose,
                runtime.config.outbound,
                runtime.clock,
            )
            task = asyncio.create_task(worker.run())
            await asyncio.to_thread(sending.wait, 10)
            worker.stop()
            go_on.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(run())
    rows = {row.id: row for row in Outbox.select().order_by(Outbox.id)}
    assert rows[ids[0]].status == "sent"
    assert [(rows[i].status, rows[i].lease_until) for i in ids[1:]] == [("pending", None)] * 2
    assert [c.id for c in outbox.claim_due(runtime.db, T0, 10)] == ids[1:]
