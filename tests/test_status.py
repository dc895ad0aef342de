"""The backlog as operators see it: `/healthz` (JSON) and `maildesk status`, through
the web test client and the CLI on one database: messages committed but not
processed (count, age of the oldest), the outbox by status, the open quarantine."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.inbound.intake import Envelope, accept
from maildesk.tickets.desk import utcnow
from tests.conftest import opened
from tests.test_daemon import mail
from tests.web_support import Site, site


@pytest.fixture
def running(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as s:
        yield s


def test_an_idle_desk_has_no_backlog(running: Site) -> None:
    response = running.client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected = {
        "pending": 0,
        "oldest_pending_at": None,
        "oldest_pending_seconds": 0.0,
        "outbox": {"pending": 0, "sent": 0, "failed": 0, "held": 0},
        "quarantine": 0,
    }
    assert response.json() == {"status": "ok", "backlog": expected}
    assert running.desk.json("status", "--json") == expected
    shown = running.desk.run("status")
    assert shown.exit_code == 0
    assert shown.stdout.splitlines() == [
        "pending     0",
        "outbox      pending 0, sent 0, failed 0, held 0",
        "quarantine  0 open",
    ]


def test_pending_messages_outbox_and_quarantine_are_counted(
    running: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    import maildesk.pipeline.flow as flow

    received = utcnow() - dt.timedelta(seconds=90)
    for n in range(2):  # committed by a listener; no worker has processed them
        raw = mail(f"Waiting {n}", sender=f"w{n}@customer.example", message_id=f"<w{n}@c>")
        accept(running.runtime.db, raw, source="smtp", envelope=Envelope("w@c"), now=received)
    running.ingest(mail("Processed", message_id="<done@c>"))  # a ticket: its ack queued
    monkeypatch.setattr(flow, "parse_message", _broken)
    running.ingest(mail("Broken", message_id="<broken@c>"))
    monkeypatch.undo()

    health = running.client.get("/healthz").json()
    assert health["status"] == "ok"
    backlog = health["backlog"]
    assert backlog["pending"] == 2
    assert dt.datetime.fromisoformat(backlog["oldest_pending_at"]) == received
    assert 90 <= backlog["oldest_pending_seconds"] < 3600
    assert backlog["outbox"]["pending"] >= 1 and backlog["outbox"]["failed"] == 0
    assert backlog["quarantine"] == 1

    figures = running.desk.json("status", "--json")
    assert figures["pending"] == 2 and figures["quarantine"] == 1
    assert figures["oldest_pending_at"] == backlog["oldest_pending_at"]
    assert figures["outbox"] == backlog["outbox"]
    text = running.desk.run("status").stdout
    assert text.startswith("pending     2 (the oldest for ")
    assert f"since {backlog['oldest_pending_at']})" in text
    assert "quarantine  1 open" in text


def test_status_json_is_one_document(running: Site) -> None:
    result = running.desk.run("status", "--json")
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)) == {
        "pending",
        "oldest_pending_at",
        "oldest_pending_seconds",
        "outbox",
        "quarantine",
    }


def test_status_without_a_database_fails_with_one_line(tmp_path: Path, running: Site) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[database]\nurl = "sqlite:///' + str(tmp_path) + '/no/such/dir/x.db"\n')
    (tmp_path / "no").write_text("a file where a directory should be")
    result = running.desk.run("--config", str(config), "status")
    assert result.exit_code == 1
    assert "database error" in result.output


def _broken(raw: bytes) -> None:
    raise RuntimeError("parser bug")


def test_healthz_answers_503_when_the_database_fails(running: Site) -> None:
    """A monitoring check must see a broken database, not a cheerful 200."""
    assert running.client.get("/healthz").status_code == 200
    with opened(running.desk.database_url) as db:
        db.execute_sql("ALTER TABLE intake RENAME TO intake_gone")  # the schema broken
    try:
        response = running.client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "error" and "backlog" not in body
        assert body["error"].startswith("database error: ") and "intake" in body["error"]
    finally:
        with opened(running.desk.database_url) as db:
            db.execute_sql("ALTER TABLE intake_gone RENAME TO intake")
