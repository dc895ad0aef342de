"""A failing database is not a failing message: a lock held too long or a full disk
while a stored message is processed leaves it pending (never in quarantine), the
error reported is the real one, and the message is processed once the fault is gone.

The faults are real ones: on SQLite a database that cannot grow (`PRAGMA
max_page_count`, as a full disk), on PostgreSQL a table locked by another session
while maildesk's statements give up after a short `lock_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import peewee
import psycopg
import pytest

from maildesk.config import load_config
from maildesk.inbound.intake import Envelope, accept
from maildesk.pipeline.flow import Pipeline
from maildesk.pipeline.worker import PipelineWorker, Traffic
from maildesk.store import db as store_db
from maildesk.store.db import open_database, upgrade, using
from maildesk.store.models import Intake, Quarantine, Ticket
from maildesk.tickets import agents
from maildesk.tickets.desk import Desk, utcnow
from tests.conftest import PG_URL, Install, opened, write_config
from tests.test_daemon import mail
from tests.web_support import site

# Big enough that storing it fits in the room left, and processing it (the text
# again in the ticket, the acknowledgement quoting it) does not.
FILLER = "filler"
BODY = "".join(f"line {n}: the printer is on fire, please help\n" for n in range(3000))


class Fault:
    """A database fault switched on and off from the test; `url` is what to configure."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.postgres = url.startswith("postgresql")
        self._monkeypatch = monkeypatch
        self._admin: psycopg.Connection[Any] | None = None
        self.url = _with_lock_timeout(url) if self.postgres else url
        self.schema = _schema(url) if self.postgres else ""
        self.path = "" if self.postgres else url.removeprefix("sqlite:///")
        self._filled = False

    def fill_disk(self) -> None:
        """From now on the database cannot grow, and it is full: all it has room for is
        taken by a filler, which `off` deletes (the disk freed)."""
        if self.postgres:
            self.on()
            return
        with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as db:
            size = 4 * len(BODY)
            db.execute(
                "INSERT INTO blob (sha256, size, data, created_at) VALUES (?, ?, zeroblob(?), ?)",
                (FILLER, size, size, "2026-01-01 00:00:00"),
            )
            pages = db.execute("PRAGMA page_count").fetchone()[0]
        self._limit(pages + 1)
        self._filled = True

    def _limit(self, pages: int) -> None:
        """SQLite connections opened from now on cannot grow the file past `pages`."""
        pragmas = (*store_db.SQLITE_PRAGMAS, ("max_page_count", pages))
        self._monkeypatch.setattr(store_db, "SQLITE_PRAGMAS", pragmas)

    def on(self, room_for_raw_mail: bool = True) -> None:
        """Stored messages cannot be processed; raw mail can still be stored, unless
        not `room_for_raw_mail` (SQLite: then nothing can be written)."""
        if self.postgres:
            # Messages cannot be stored while another session holds this lock; reading
            # them and storing raw mail (the intake) still can.
            self._admin = psycopg.connect(PG_URL)  # a transaction open until off()
            self._admin.execute(f'LOCK TABLE "{self.schema}"."message" IN EXCLUSIVE MODE')
            return
        # Every new connection may grow the file by a little more than the raw mail.
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
        self._limit(pages + (len(mail(body=BODY)) // 4096 + 8 if room_for_raw_mail else 0))

    def off(self) -> None:
        if self._admin is not None:
            self._admin.rollback()
            self._admin.close()
            self._admin = None
        if self._filled:
            with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as db:
                db.execute("DELETE FROM blob WHERE sha256 = ?", (FILLER,))
            self._filled = False
        self._monkeypatch.undo()


def _schema(url: str) -> str:
    options = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["options"]
    return options.split("search_path=", 1)[1].split()[0]


def _with_lock_timeout(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["options"] = query.get("options", "") + " -clock_timeout=1000"
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@pytest.fixture
def fault(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fault]:
    db = open_database(database_url)
    upgrade(db)
    db.close()
    found = Fault(database_url, monkeypatch)
    yield found
    found.off()


def test_ingest_keeps_the_message_pending_while_the_database_fails(
    fault: Fault, tmp_path: Path, database_url: str
) -> None:
    raw = mail(body=BODY)
    fault.on()
    failing = Install(write_config(tmp_path, fault.url), fault.url, tmp_path)
    result = failing.run("ingest", "--json", "-", input=raw)
    fault.off()
    # Without the short lock timeout from here on (other sessions may take locks too).
    desk = Install(write_config(tmp_path, database_url), database_url, tmp_path)

    assert result.exit_code == 1, result.output
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["action"] == "error"
    assert line["message_id"] == "<m1@customer.example>", line["reason"]
    assert line["reason"].startswith("stored, not processed yet: ")
    cause = "lock timeout" if fault.postgres else "database or disk is full"
    assert cause in line["reason"]
    assert "cannot rollback" not in line["reason"]  # the rollback's failure is not the cause
    assert desk.json("quarantine", "list") == []
    assert desk.json("tickets", "list") == []

    [again] = desk.ingest(raw)  # the stored copy, processed now
    assert again["action"] == "created"
    [ticket] = desk.json("tickets", "list")
    assert ticket["number"] == again["ticket"]
    assert desk.json("quarantine", "list") == []


def test_quarantine_retry_while_the_database_fails_leaves_the_entry_as_it_was(
    fault: Fault, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import maildesk.pipeline.flow as pipeline

    desk = Install(write_config(tmp_path, database_url), database_url, tmp_path)

    def broken(raw: bytes) -> None:
        raise RuntimeError("parser bug")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "parse_message", broken)
        desk.ingest(mail(body=BODY))
    [entry] = desk.json("quarantine", "list")
    fault.on(room_for_raw_mail=False)  # the fix is deployed, but the database fails
    failing = Install(write_config(tmp_path, fault.url), fault.url, tmp_path)
    result = failing.run("quarantine", "retry", str(entry["id"]))
    fault.off()

    assert result.exit_code == 1
    cause = "lock timeout" if fault.postgres else "database or disk is full"
    assert cause in result.stderr and "cannot rollback" not in result.stderr
    desk = Install(write_config(tmp_path, database_url), database_url, tmp_path)
    [kept] = desk.json("quarantine", "list")
    assert (kept["error"], kept["attempts"]) == (entry["error"], 1)  # not the database's
    done = desk.run("quarantine", "retry", str(entry["id"]))
    assert done.exit_code == 0 and "created" in done.stdout
    assert desk.json("quarantine", "list") == []


def test_api_answers_202_pending_while_the_database_fails(fault: Fault, tmp_path: Path) -> None:
    """The web and API entry: the request is stored, not lost, and not quarantined."""
    fault.on()
    with site(tmp_path, fault.url) as web:
        agents.add_agent(web.runtime.db, "ann@example.com", "Ann", "agent", None, utcnow())
        token = agents.create_token(web.runtime.db, "ann@example.com", "test", utcnow())
        body = {"requester": {"email": "carl@customer.example"}, "subject": "Fire", "body": BODY}
        answer = web.client.post(
            "/api/tickets", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 202, answer.text
        document = answer.json()
        assert (document["action"], document["ticket"]) == ("pending", None)
        cause = "lock timeout" if fault.postgres else "database or disk is full"
        assert cause in document["reason"] and "cannot rollback" not in document["reason"]
        fault.off()
        [intake] = Intake.select()
        assert intake.state == "pending"
        assert Quarantine.select().count() == Ticket.select().count() == 0


class _Failures(logging.Handler):
    """Sets `seen` when the worker logs that the database failed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("cannot process pending messages"):
            self.messages.append(record.getMessage())
            self.seen.set()


def test_worker_retries_a_message_the_database_failed_on(fault: Fault) -> None:
    """The daemon's path (SMTP and IMAP only store, then wake the worker)."""
    db = open_database(fault.url)
    raw = mail(body=BODY)
    accepted = accept(db, raw, source="smtp", envelope=Envelope("a@customer.example"), now=utcnow())
    db.close()
    failures = _Failures()
    logger = logging.getLogger("maildesk.pipeline.worker")
    logger.addHandler(failures)
    fault.fill_disk()
    db = open_database(fault.url)  # its connections take the pragmas in force now
    with ThreadPoolExecutor(1) as executor:
        pipeline = Pipeline(Desk(db, load_config(None, {})))
        worker = PipelineWorker(pipeline, executor, Traffic(quiet=0, patience=0), interval=0.05)

        async def scenario() -> None:
            task = asyncio.create_task(worker.run())
            try:
                assert await asyncio.to_thread(failures.seen.wait, 60)
                state = await _read(executor, db, accepted.intake_id)
                assert state == ("pending", 0)  # not quarantined
                fault.off()
                for _ in range(600):  # the back-off doubles from 0.1 s: seconds at most
                    if (await _read(executor, db, accepted.intake_id))[0] == "processed":
                        break
                    await asyncio.sleep(0.1)
            finally:
                worker.stop()
                await task

        try:
            asyncio.run(scenario())
        finally:
            logger.removeHandler(failures)
            executor.submit(db.close).result()
    cause = "lock timeout" if fault.postgres else "database or disk is full"
    assert cause in failures.messages[0]
    assert "cannot rollback" not in failures.messages[0]
    with opened(fault.url):
        intake = Intake.get_by_id(accepted.intake_id)
        assert intake.state == "processed"
        assert intake.action == "created"
        assert Ticket.select().count() == 1
        assert Quarantine.select().count() == 0


async def _read(
    executor: ThreadPoolExecutor, db: peewee.Database, intake_id: int
) -> tuple[str, int]:
    """The intake's state and the number of quarantine entries, read in the worker's
    thread, with its connection."""

    def read() -> tuple[str, int]:
        with using(db):
            return Intake.get_by_id(intake_id).state, Quarantine.select().count()

    return await asyncio.get_running_loop().run_in_executor(executor, read)
